import { Fragment, useState } from 'react';
import {
  Box,
  Collapse,
  IconButton,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';
import KeyboardArrowDown from '@mui/icons-material/KeyboardArrowDown';
import KeyboardArrowRight from '@mui/icons-material/KeyboardArrowRight';
import { graphql } from '../gql';
import type { StoredEventFieldsFragment } from '../gql/graphql';
import { DateTimeText } from './DateTimeText';
import { JsonBlock } from './JsonBlock';
import { visuallyHidden } from './visuallyHidden';

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
        <TableCell sx={mono}>{metadata.correlationId ?? '—'}</TableCell>
        <TableCell sx={mono}>{metadata.causationId ?? '—'}</TableCell>
      </TableRow>
      <TableRow>
        <TableCell colSpan={7} sx={{ py: 0 }}>
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
    <TableContainer>
      <Table size="small" aria-label={title}>
        <TableHead>
          <TableRow>
            <TableCell padding="checkbox">
              <Box component="span" sx={visuallyHidden}>
                Payload
              </Box>
            </TableCell>
            <TableCell>Sequence</TableCell>
            <TableCell>Type</TableCell>
            <TableCell>Recorded at</TableCell>
            <TableCell>Actor</TableCell>
            <TableCell>Correlation id</TableCell>
            <TableCell>Causation id</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {ordered.length === 0 ? (
            <TableRow>
              <TableCell colSpan={7}>No events.</TableCell>
            </TableRow>
          ) : (
            ordered.map((event) => <EventRow key={event.eventId} event={event} />)
          )}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
