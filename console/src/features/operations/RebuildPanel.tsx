import { useEffect, useRef, useState } from 'react';
import { Alert, Box, Button, LinearProgress, Stack, Typography } from '@mui/material';
import { useMutation, useSubscription } from 'urql';
import type { ReadService } from '../../gql/graphql';
import { describeError } from '../../api/problem';
import { FormDialog } from '../../components/FormDialog';
import { formatDuration } from '../../lib/time';
import { rebuildProgress, type RebuildStatus } from './rebuildProgress';
import { RebuildSubscription, StartRebuildMutation } from './queries';
import { serviceName } from './services';

/** A rebuild's progress as a bar with percentage and time left. */
export function RebuildProgressBar({ service, status }: { service: ReadService; status: RebuildStatus }) {
  const progress = rebuildProgress(status, Date.now());
  const name = serviceName(service);
  const label = `Rebuild of ${name}`;
  let text: string;
  if (progress.succeeded) text = `Rebuilt and switched in: ${status.applied.toLocaleString()} events replayed.`;
  else if (progress.failed) text = `Failed${status.error ? `: ${status.error}` : '.'}`;
  else if (progress.running)
    text = [
      status.phase ?? 'running',
      `${status.applied.toLocaleString()} of ${status.total.toLocaleString()} events`,
      progress.percent !== null ? `${Math.floor(progress.percent)}%` : null,
      progress.etaSeconds !== null ? `about ${formatDuration(progress.etaSeconds)} left` : null,
    ]
      .filter(Boolean)
      .join(' · ');
  else text = `No rebuild running (${status.state}).`;

  return (
    <Stack spacing={0.5}>
      {(progress.running || progress.succeeded) && (
        <LinearProgress
          aria-label={label}
          variant={progress.percent === null ? 'indeterminate' : 'determinate'}
          value={progress.percent ?? undefined}
        />
      )}
      <Typography variant="body2" color={progress.failed ? 'error' : 'text.secondary'} aria-live="polite">
        {text}
      </Typography>
    </Stack>
  );
}

/** Follows one rebuild live and says how it stands; `onStatus` hears every answer. */
function FollowRebuild({
  service,
  initial,
  onStatus,
}: {
  service: ReadService;
  initial: RebuildStatus | null;
  onStatus: (status: RebuildStatus) => void;
}) {
  const [{ data, error }] = useSubscription({ query: RebuildSubscription, variables: { service } });
  const status = data?.rebuild ?? initial;
  const latest = useRef(onStatus);
  latest.current = onStatus;
  useEffect(() => {
    if (status) latest.current(status);
  }, [status]);
  return (
    <Stack spacing={1}>
      {status && <RebuildProgressBar service={service} status={status} />}
      {!status && <LinearProgress aria-label={`Rebuild of ${serviceName(service)}`} />}
      {error && <Alert severity="error">Lost the rebuild's progress: {describeError(error)}</Alert>}
    </Stack>
  );
}

/** "Rebuild" with a confirmation, then the rebuild followed live; once it ends, "Rebuild" again. */
export function RebuildPanel({ service, latest }: { service: ReadService; latest: RebuildStatus | null }) {
  const [confirming, setConfirming] = useState(false);
  // Each rebuild started here is followed by a subscription of its own (the last one ended with it).
  const [run, setRun] = useState(latest?.state === 'running' ? 1 : 0);
  const [started, setStarted] = useState<RebuildStatus | null>(latest?.state === 'running' ? latest : null);
  const [current, setCurrent] = useState<RebuildStatus | null>(started);
  const [{ fetching, error }, start] = useMutation(StartRebuildMutation);
  const name = serviceName(service);
  const running = (run > 0 ? current : latest)?.state === 'running';

  const confirm = async () => {
    const result = await start({ service });
    if (result.data) {
      setStarted(result.data.startRebuild);
      setCurrent(result.data.startRebuild);
      setRun((value) => value + 1);
      setConfirming(false);
    }
  };

  return (
    <Stack spacing={1}>
      <Box>
        <Button variant="outlined" onClick={() => setConfirming(true)} disabled={running}>
          Rebuild
        </Button>
      </Box>
      {run > 0 ? (
        <FollowRebuild key={run} service={service} initial={started} onStatus={setCurrent} />
      ) : (
        latest && <RebuildProgressBar service={service} status={latest} />
      )}
      <FormDialog
        open={confirming}
        title={`Rebuild ${name}?`}
        submitLabel="Start rebuild"
        closeLabel="Keep as is"
        submitting={fetching}
        problems={error ? [describeError(error)] : []}
        onClose={() => setConfirming(false)}
        onSubmit={() => void confirm()}
      >
        <Typography>
          {name} replays every event of its event store into a fresh copy of its read model, then swaps it in. Queries keep
          answering from the current model meanwhile.
        </Typography>
      </FormDialog>
    </Stack>
  );
}
