import { useState } from 'react';
import { Alert, Button, CircularProgress, Stack, TableCell, TableRow, Typography } from '@mui/material';
import { useMutation, useQuery } from 'urql';
import type { ParkedEventsQuery as ParkedData, ReadService } from '../../gql/graphql';
import { describeError } from '../../api/problem';
import { CommandDialog, reasonField } from '../../components/CommandDialog';
import { DataTable } from '../../components/DataTable';
import { DateTimeText } from '../../components/DateTimeText';
import { ErrorAlert } from '../../components/ErrorAlert';
import { JsonBlock } from '../../components/JsonBlock';
import { StatusChip } from '../../components/StatusChip';
import { ParkedEventsQuery, RetryParkedMutation, SkipParkedMutation } from './queries';
import { serviceName } from './services';

type Parked = ParkedData['parkedEvents'][number];

const PARKED_COLUMNS = ['Id', 'Aggregate', 'Why', { label: 'Attempts', align: 'right' }, 'Status', 'From', 'Parked', 'Actions'] as const;

interface Outcome {
  action: string;
  id: number;
  answer: unknown;
}

function ParkedRow({ event, onRetry, onSkip, busy }: { event: Parked; onRetry: () => void; onSkip: () => void; busy: boolean }) {
  const parked = event.status === 'parked';
  return (
    <TableRow>
      <TableCell>{event.id}</TableCell>
      <TableCell sx={{ fontFamily: 'monospace', wordBreak: 'break-all' }}>
        {event.aggregateId}
        {event.sequence !== null && event.sequence !== undefined && ` #${event.sequence}`}
      </TableCell>
      <TableCell>{event.reason}</TableCell>
      <TableCell align="right">{event.attempts}</TableCell>
      <TableCell>
        <StatusChip status={event.status.toUpperCase()} />
        {event.resolvedBy && (
          <Typography variant="caption" component="div">
            by {event.resolvedBy}
            {event.resolution ? `: ${event.resolution}` : ''}
          </Typography>
        )}
      </TableCell>
      <TableCell sx={{ fontFamily: 'monospace' }}>
        {event.topic ?? '—'}
        {event.kafkaPartition !== null && event.kafkaPartition !== undefined && ` [${event.kafkaPartition}]`}
        {event.kafkaOffset !== null && event.kafkaOffset !== undefined && ` @${event.kafkaOffset}`}
      </TableCell>
      <TableCell>
        <DateTimeText value={event.parkedAt} />
      </TableCell>
      <TableCell>
        {parked && (
          <Stack direction="row" spacing={1}>
            <Button size="small" variant="outlined" onClick={onRetry} disabled={busy}>
              Retry
            </Button>
            <Button size="small" color="warning" onClick={onSkip} disabled={busy}>
              Skip
            </Button>
          </Stack>
        )}
      </TableCell>
    </TableRow>
  );
}

/** One service's parked events, with Retry and Skip (which asks why). */
export function ParkedEvents({ service }: { service: ReadService }) {
  const name = serviceName(service);
  const [{ data, fetching, error }, reexecute] = useQuery({ query: ParkedEventsQuery, variables: { service } });
  const [retryState, retry] = useMutation(RetryParkedMutation);
  const [, skip] = useMutation(SkipParkedMutation);
  const [skipping, setSkipping] = useState<Parked | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const refresh = () => reexecute({ requestPolicy: 'network-only' });

  const doRetry = async (event: Parked) => {
    setFailure(null);
    const result = await retry({ service, id: event.id });
    if (result.error) setFailure(describeError(result.error));
    else setOutcome({ action: 'Retried', id: event.id, answer: result.data?.retryParked });
    refresh();
  };

  const events = data?.parkedEvents ?? [];
  return (
    <Stack spacing={1}>
      <Typography variant="subtitle1" component="h3" sx={{ fontFamily: 'monospace', fontWeight: 600 }}>
        {name}
      </Typography>
      {error && <ErrorAlert error={error} onRetry={refresh} />}
      {failure && <Alert severity="error">{failure}</Alert>}
      {outcome && (
        <Alert severity="success" onClose={() => setOutcome(null)}>
          {outcome.action} parked event {outcome.id}. The service answered:
          <JsonBlock value={outcome.answer} label={`Answer to ${outcome.action.toLowerCase()} ${outcome.id}`} maxHeight={160} />
        </Alert>
      )}
      {!data && fetching && <CircularProgress size={24} aria-label={`Loading parked events of ${name}`} />}
      {data && events.length === 0 && <Typography variant="body2">Nothing parked.</Typography>}
      {events.length > 0 && (
        <DataTable label={`Parked events of ${name}`} columns={PARKED_COLUMNS}>
          {events.map((event) => (
            <ParkedRow
              key={event.id}
              event={event}
              busy={retryState.fetching}
              onRetry={() => void doRetry(event)}
              onSkip={() => setSkipping(event)}
            />
          ))}
        </DataTable>
      )}
      <CommandDialog
        {...reasonField}
        open={skipping !== null}
        onClose={() => setSkipping(null)}
        title={`Skip parked event ${skipping?.id ?? ''}`}
        submitLabel="Skip"
        closeLabel="Keep parked"
        description="A skipped event is never applied to the read model. You are recorded as the one who skipped it, with your reason."
        run={async (reason) => {
          if (!skipping) return { version: null, error: undefined };
          const result = await skip({ service, id: skipping.id, reason });
          if (!result.error) setOutcome({ action: 'Skipped', id: skipping.id, answer: result.data?.skipParked });
          refresh();
          return { version: null, error: result.error };
        }}
      />
    </Stack>
  );
}
