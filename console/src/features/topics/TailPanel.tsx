import { useState, type FormEvent } from 'react';
import { Alert, Button, Stack, TextField, Typography } from '@mui/material';
import { useSubscription } from 'urql';
import { describeError } from '../../api/problem';
import { ChoiceField } from '../../components/ChoiceField';
import { FormField } from '../../components/FormField';
import { TailList, recordKey, type TailRecord } from './TailList';
import { TailSubscription } from './queries';

export const KEEP = 200;

export interface TailFilter {
  topic: string;
  key: string;
  eventType: string;
  fromEnd: number;
}

interface Buffer {
  records: TailRecord[];
  /** Records received since the tail started, kept or not. */
  received: number;
}

/** `buffer` with `record` on top, at most `keep` records, no record twice. */
export function pushRecord(buffer: Buffer | undefined, record: TailRecord, keep = KEEP): Buffer {
  const key = recordKey(record);
  const rest = (buffer?.records ?? []).filter((existing) => recordKey(existing) !== key);
  return { records: [record, ...rest].slice(0, keep), received: (buffer?.received ?? 0) + 1 };
}

function TailStream({ filter, onStop }: { filter: TailFilter; onStop: () => void }) {
  const [{ data, error, fetching }] = useSubscription(
    {
      query: TailSubscription,
      variables: {
        topic: filter.topic,
        key: filter.key || null,
        eventType: filter.eventType || null,
        fromEnd: filter.fromEnd,
      },
    },
    (previous: Buffer | undefined, next): Buffer => pushRecord(previous, next.tail),
  );
  const [frozen, setFrozen] = useState<Buffer | null>(null);
  const live = data ?? { records: [], received: 0 };
  const shown = frozen ?? live;
  const waiting = frozen ? live.received - frozen.received : 0;

  return (
    <Stack spacing={2}>
      <Stack direction="row" spacing={2} sx={{ alignItems: 'center', flexWrap: 'wrap' }} useFlexGap>
        {frozen ? (
          <Button variant="contained" onClick={() => setFrozen(null)}>
            Resume
          </Button>
        ) : (
          <Button variant="outlined" onClick={() => setFrozen(live)}>
            Pause
          </Button>
        )}
        <Button onClick={onStop}>Stop</Button>
        <Typography variant="body2" aria-live="polite">
          {frozen
            ? `Paused: ${waiting} new ${waiting === 1 ? 'record' : 'records'} waiting.`
            : fetching
              ? `Tailing ${filter.topic}: ${live.received} received, the last ${KEEP} kept.`
              : `Tail of ${filter.topic} ended.`}
        </Typography>
      </Stack>
      {error && <Alert severity="error">The tail stopped: {describeError(error)}</Alert>}
      <TailList records={shown.records} />
    </Stack>
  );
}

/** Follow a topic live: pick it, optionally a key and an event type, and start. */
export function TailPanel({ topics, preferred }: { topics: readonly string[]; preferred?: string }) {
  const [topic, setTopic] = useState(preferred && topics.includes(preferred) ? preferred : (topics[0] ?? ''));
  const [key, setKey] = useState('');
  const [eventType, setEventType] = useState('');
  const [fromEnd, setFromEnd] = useState('0');
  const [running, setRunning] = useState<{ id: number; filter: TailFilter } | null>(null);
  const [topicError, setTopicError] = useState<string | null>(null);

  const start = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (topic.trim() === '') {
      setTopicError('Choose a topic.');
      return;
    }
    const back = Math.max(0, Math.min(1000, Number.parseInt(fromEnd, 10) || 0));
    setRunning((current) => ({
      id: (current?.id ?? 0) + 1,
      filter: { topic: topic.trim(), key: key.trim(), eventType: eventType.trim(), fromEnd: back },
    }));
  };

  return (
    <Stack spacing={2}>
      <Stack component="form" aria-label="Tail a topic" onSubmit={start} direction={{ xs: 'column', md: 'row' }} spacing={2}>
        {topics.length > 0 ? (
          <ChoiceField label="Topic" value={topic} choices={topics} anyLabel={null} onChange={setTopic} minWidth={200} />
        ) : (
          <FormField
            label="Topic"
            size="small"
            required
            value={topic}
            onChange={(event) => {
              setTopic(event.target.value);
              setTopicError(null);
            }}
            problem={topicError}
            hint=""
          />
        )}
        <TextField label="Key" size="small" value={key} onChange={(event) => setKey(event.target.value)} helperText="An aggregate id" />
        <TextField
          label="Event type"
          size="small"
          value={eventType}
          onChange={(event) => setEventType(event.target.value)}
          helperText="e.g. OrderPlaced"
        />
        <TextField
          label="Replay per partition"
          size="small"
          type="number"
          value={fromEnd}
          onChange={(event) => setFromEnd(event.target.value)}
          helperText="Records back from the end"
          slotProps={{ htmlInput: { min: 0, max: 1000 } }}
          sx={{ width: { md: 170 } }}
        />
        <Button type="submit" variant="contained" sx={{ alignSelf: { md: 'flex-start' }, flexShrink: 0, whiteSpace: 'nowrap' }}>
          Start tail
        </Button>
      </Stack>
      {running && <TailStream key={running.id} filter={running.filter} onStop={() => setRunning(null)} />}
    </Stack>
  );
}
