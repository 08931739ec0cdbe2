import { useState } from 'react';
import { Box, Chip, Collapse, IconButton, Link, List, ListItem, Stack, Typography } from '@mui/material';
import KeyboardArrowDown from '@mui/icons-material/KeyboardArrowDown';
import KeyboardArrowRight from '@mui/icons-material/KeyboardArrowRight';
import { Link as RouterLink } from 'react-router-dom';
import type { TailRecordFieldsFragment } from '../../gql/graphql';
import { DateTimeText } from '../../components/DateTimeText';
import { JsonBlock } from '../../components/JsonBlock';

export type TailRecord = TailRecordFieldsFragment;

/** Where an aggregate's page is, for the aggregate types the console has pages for. */
export function aggregatePath(aggregateType: string, aggregateId: string): string | null {
  switch (aggregateType.toLowerCase()) {
    case 'user':
      return `/users/${aggregateId}`;
    case 'order':
      return `/orders/${aggregateId}`;
    default:
      return null;
  }
}

export function recordKey(record: TailRecord): string {
  return `${record.topic}/${record.partition}/${record.offset}`;
}

const mono = { fontFamily: 'monospace', fontSize: '0.8125rem', wordBreak: 'break-all' } as const;

function Undecodable({ record }: { record: TailRecord }) {
  return (
    <Stack spacing={0.5} sx={{ minWidth: 0 }}>
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center', flexWrap: 'wrap' }} useFlexGap>
        <Chip label="undecodable" color="error" size="small" />
        <Typography variant="body2" sx={mono}>
          partition {record.partition}, offset {record.offset}
          {record.key ? `, key ${record.key}` : ''}
        </Typography>
        {record.timestamp && (
          <Typography variant="body2" color="text.secondary">
            <DateTimeText value={record.timestamp} />
          </Typography>
        )}
      </Stack>
      <Typography variant="body2">Error: {record.error ?? 'no envelope'}</Typography>
      <Typography variant="body2">Raw bytes (hex):</Typography>
      <Box component="code" sx={{ ...mono, display: 'block', p: 1, bgcolor: 'action.hover', borderRadius: 1 }}>
        {record.rawHex ?? '(no bytes)'}
      </Box>
    </Stack>
  );
}

function Decoded({ record }: { record: TailRecord }) {
  const [open, setOpen] = useState(false);
  const envelope = record.envelope;
  if (!envelope) return <Undecodable record={record} />;
  const path = aggregatePath(envelope.aggregateType, envelope.aggregateId);
  return (
    <Stack spacing={0.5} sx={{ minWidth: 0, flexGrow: 1 }}>
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center', flexWrap: 'wrap' }} useFlexGap>
        <IconButton
          size="small"
          aria-expanded={open}
          aria-label={`${open ? 'Hide' : 'Show'} payload of ${envelope.eventType} at offset ${record.offset}`}
          onClick={() => setOpen((value) => !value)}
        >
          {open ? <KeyboardArrowDown /> : <KeyboardArrowRight />}
        </IconButton>
        <Typography variant="subtitle2" component="span">
          {envelope.eventType}
        </Typography>
        <Typography variant="body2" component="span" sx={mono}>
          {envelope.aggregateType}{' '}
          {path ? (
            <Link component={RouterLink} to={path}>
              {envelope.aggregateId}
            </Link>
          ) : (
            envelope.aggregateId
          )}{' '}
          #{envelope.sequence}
        </Typography>
      </Stack>
      <Typography variant="body2" color="text.secondary" sx={{ pl: 5 }}>
        partition {record.partition}, offset {record.offset} ·{' '}
        <DateTimeText value={envelope.recordedAt ?? record.timestamp} /> · correlation{' '}
        <Box component="span" sx={mono}>
          {envelope.correlationId}
        </Box>
      </Typography>
      <Collapse in={open} unmountOnExit>
        <Box sx={{ pl: 5 }}>
          <JsonBlock value={envelope.payload} label={`Payload of ${envelope.eventType} at offset ${record.offset}`} />
        </Box>
      </Collapse>
    </Stack>
  );
}

/** Tailed records, newest first; one that did not decode shows its error and raw bytes. */
export function TailList({ records }: { records: readonly TailRecord[] }) {
  if (records.length === 0) {
    return <Typography color="text.secondary">No record yet: new records appear here as they arrive.</Typography>;
  }
  return (
    <List aria-label="Tailed records" dense disablePadding>
      {records.map((record) => (
        <ListItem key={recordKey(record)} divider sx={{ alignItems: 'flex-start', px: 0 }}>
          {record.envelope && !record.error ? <Decoded record={record} /> : <Undecodable record={record} />}
        </ListItem>
      ))}
    </List>
  );
}
