import { Fragment, useState } from 'react';
import { Box, Collapse, IconButton, Link, TableCell, TableRow, Typography } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import KeyboardArrowDown from '@mui/icons-material/KeyboardArrowDown';
import KeyboardArrowRight from '@mui/icons-material/KeyboardArrowRight';
import { graphql } from '../gql';
import type { StoredEventFieldsFragment } from '../gql/graphql';
import { DataTable, WideRow } from './DataTable';
import { DateTimeText } from './DateTimeText';
import { JsonBlock } from './JsonBlock';

export const StoredEventFields = graphql(`
  fragment StoredEventFields on StoredEvent {
    sequence
    eventId
    eventType
    eventVersion
    payload
    recordedAt
    metadata {
      correlationId
      causationId
      actor
    }
  }
`);

const COLUMNS = [
  { label: 'Payload', control: true },
  'Sequence',
  'Type',
  'Recorded at',
  'Actor',
  'Correlation id',
  'Causation id',
] as const;

const mono = { fontFamily: 'monospace', fontSize: '0.8125rem', wordBreak: 'break-all' } as const;

function EventRow({ event }: { event: StoredEventFieldsFragment }) {
  const [open, setOpen] = useState(false);
  const { metadata } = event;
  return (
    <Fragment>
      <TableRow hover sx={{ '& > td': { borderBottom: open ? 'none' : undefined } }}>
        <TableCell padding="checkbox">
          <IconButton
            size="small"
            aria-expanded={open}
            aria-label={`${open ? 'Hide' : 'Show'} payload of event ${event.sequence} ${event.eventType}`}
            onClick={() => setOpen((value) => !value)}
          >
            {open ? <KeyboardArrowDown /> : <KeyboardArrowRight />}
          </IconButton>
        </TableCell>
        <TableCell>{event.sequence}</TableCell>
        <TableCell>
          {event.eventType}
          {event.eventVersion !== '1' && (
            <Typography component="span" variant="caption" color="text.secondary">
              {' '}
              v{event.eventVersion}
            </Typography>
          )}
        </TableCell>
        <TableCell>
          <DateTimeText value={event.recordedAt} />
        </TableCell>
        <TableCell>{metadata.actor ?? '—'}</TableCell>
        <TableCell sx={mono}>
          {metadata.correlationId ? (
            <Link
              component={RouterLink}
              to={`/follow/${encodeURIComponent(metadata.correlationId)}`}
              aria-label={`Follow correlation ${metadata.correlationId}`}
            >
              {metadata.correlationId}
            </Link>
          ) : (
            '—'
          )}
        </TableCell>
        <TableCell sx={mono}>{metadata.causationId ?? '—'}</TableCell>
      </TableRow>
      <TableRow>
        <TableCell colSpan={COLUMNS.length} sx={{ py: 0 }}>
          <Collapse in={open} timeout="auto" unmountOnExit>
            <Box sx={{ py: 1 }}>
              <Typography variant="caption" color="text.secondary" sx={mono}>
                event id {event.eventId}
              </Typography>
              <JsonBlock value={event.payload} label={`Payload of event ${event.sequence}`} />
            </Box>
          </Collapse>
        </TableCell>
      </TableRow>
    </Fragment>
  );
}

/** An aggregate's events in order, each row opening onto its payload. */
export function EventStream({ events, title = 'Event stream' }: { events: readonly StoredEventFieldsFragment[]; title?: string }) {
  const ordered = [...events].sort((a, b) => a.sequence - b.sequence);
  return (
    <DataTable label={title} columns={COLUMNS}>
      {ordered.length === 0 ? (
        <WideRow columns={COLUMNS.length}>No events.</WideRow>
      ) : (
        ordered.map((event) => <EventRow key={event.eventId} event={event} />)
      )}
    </DataTable>
  );
}
