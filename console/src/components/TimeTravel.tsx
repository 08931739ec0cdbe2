import { useEffect, useState } from 'react';
import { Alert, Box, LinearProgress, Slider, Stack, TextField, Typography } from '@mui/material';
import { useQuery, type CombinedError, type DocumentInput } from 'urql';
import { describeError } from '../api/problem';
import { stringField } from '../lib/json';
import { JsonBlock } from './JsonBlock';
import { StatusChip } from './StatusChip';

export interface TimeTravelProps {
  /** The aggregate's current version: the last one to travel to. */
  maxVersion: number;
  version: number;
  onVersionChange: (version: number) => void;
  /** The state folded up to `version`, once loaded. */
  state: unknown;
  /** The version the state was folded to, which may lag `version` while loading. */
  stateVersion: number | null;
  fetching: boolean;
  error?: CombinedError | undefined;
}

/** Picks a version between 1 and the current one and shows the aggregate as it was then. */
export function TimeTravel({ maxVersion, version, onVersionChange, state, stateVersion, fetching, error }: TimeTravelProps) {
  const [text, setText] = useState(String(version));
  useEffect(() => setText(String(version)), [version]);

  const parsed = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  const valid = Number.isInteger(parsed) && parsed >= 1 && parsed <= maxVersion;
  const status = stringField(state, 'status');

  if (maxVersion < 1) return <Typography>No events yet.</Typography>;

  return (
    <Stack spacing={2}>
      <Stack direction={{ xs: 'column', sm: 'row' }} spacing={3} sx={{ alignItems: { sm: 'center' } }}>
        <TextField
          label="Version"
          type="number"
          size="small"
          value={text}
          onChange={(event) => {
            setText(event.target.value);
            const next = Number(event.target.value);
            if (Number.isInteger(next) && next >= 1 && next <= maxVersion) onVersionChange(next);
          }}
          error={!valid}
          helperText={valid ? `1 to ${maxVersion}` : `Enter a version from 1 to ${maxVersion}`}
          slotProps={{ htmlInput: { min: 1, max: maxVersion, step: 1 } }}
          sx={{ width: 180 }}
        />
        {maxVersion > 1 && (
          <Box sx={{ flexGrow: 1, px: 1 }}>
            <Slider
              aria-label="Time travel slider"
              min={1}
              max={maxVersion}
              step={1}
              marks={maxVersion <= 30}
              value={Math.min(Math.max(version, 1), maxVersion)}
              valueLabelDisplay="auto"
              onChange={(_, value) => {
                if (typeof value === 'number') onVersionChange(value);
              }}
            />
          </Box>
        )}
      </Stack>
      {fetching && <LinearProgress aria-label="Loading the state at this version" />}
      {error && <Alert severity="error">{describeError(error)}</Alert>}
      {stateVersion !== null && (
        <Stack spacing={1}>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
            <Typography variant="subtitle2">State at version {stateVersion}</Typography>
            {status && <StatusChip status={status.toUpperCase()} />}
          </Stack>
          <JsonBlock value={state} label={`State at version ${stateVersion}`} />
        </Stack>
      )}
    </Stack>
  );
}

/** An aggregate's state as folded up to a version. */
export interface StateAt {
  version: number;
  state?: unknown;
}

export interface AggregateTimeTravelProps<Data> {
  id: string;
  /** The aggregate's current version. */
  version: number;
  /** Asks for the aggregate `id` folded up to `version`. */
  query: DocumentInput<Data, { id: string; version: number }>;
  /** Where the folded state is in the query's answer. */
  stateAt: (data: Data) => StateAt | null | undefined;
}

/** The aggregate as it was after any of its events, asked of the gateway version by version. */
export function AggregateTimeTravel<Data>({ id, version, query, stateAt }: AggregateTimeTravelProps<Data>) {
  const [chosen, setChosen] = useState<number | null>(null);
  const at = Math.min(chosen ?? version, version);
  const [{ data, fetching, error }] = useQuery({ query, variables: { id, version: at }, pause: version < 1 });
  const state = data === undefined ? undefined : stateAt(data);
  return (
    <TimeTravel
      maxVersion={version}
      version={at}
      onVersionChange={setChosen}
      state={state?.state}
      stateVersion={state?.version ?? null}
      fetching={fetching}
      error={error}
    />
  );
}
