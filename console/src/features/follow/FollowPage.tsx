// Follow one request: every event its correlation id carries, and each event's way through
// the pipeline (event store, outbox, topic, read models, saga steps) with the time each hop
// took and the hop where it waits now. Live until nothing waits.
import { useState, type FormEvent } from 'react';
import { Alert, Box, Button, Chip, CircularProgress, Stack, TextField, Typography } from '@mui/material';
import { Link as RouterLink, useNavigate, useParams } from 'react-router-dom';
import { useSubscription } from 'urql';
import { describeError } from '../../api/problem';
import { DateTimeText } from '../../components/DateTimeText';
import { PageHeading } from '../../components/PageHeading';
import { Section } from '../../components/Section';
import type { FollowSubscription as FollowData, HopState } from '../../gql/graphql';
import { FollowSubscription } from './queries';

type Followed = FollowData['follow'];
type FollowedEvent = Followed['events'][number];

const HOP_STATES: Record<HopState, { text: string; color: 'success' | 'warning' | 'error' | 'default' }> = {
  DONE: { text: 'done', color: 'success' },
  WAITING: { text: 'waiting', color: 'warning' },
  FAILED: { text: 'failed', color: 'error' },
  UNKNOWN: { text: 'unknown', color: 'default' },
};

/** Where an aggregate's page is. */
function aggregatePath(event: FollowedEvent): string | null {
  if (event.aggregateType === 'user') return `/users/${event.aggregateId}`;
  if (event.aggregateType === 'order') return `/orders/${event.aggregateId}`;
  return null;
}

function EventHops({ event }: { event: FollowedEvent }) {
  const path = aggregatePath(event);
  return (
    <Section title={`${event.eventType} · ${event.context}`}>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        {path ? (
          <RouterLink to={path}>
            {event.aggregateType} {event.aggregateId}
          </RouterLink>
        ) : (
          `${event.aggregateType} ${event.aggregateId}`
        )}{' '}
        version {event.sequence} · committed <DateTimeText value={event.recordedAt} />
        {event.actor && ` · by ${event.actor}`}
      </Typography>
      <Box component="ol" aria-label={`Hops of ${event.eventType}`} sx={{ listStyle: 'none', p: 0, m: 0 }}>
        {event.hops.map((hop, index) => {
          const state = HOP_STATES[hop.state];
          return (
            <Box
              component="li"
              key={`${hop.name}-${index}`}
              sx={{ display: 'grid', gridTemplateColumns: { xs: '1fr', sm: '12rem 6rem 7rem 1fr' }, gap: 1, py: 0.75, borderTop: index ? 1 : 0, borderColor: 'divider', alignItems: 'center' }}
            >
              <Typography variant="body2" sx={{ fontWeight: 600, wordBreak: 'break-word' }}>
                {hop.name}
              </Typography>
              <Chip size="small" label={state.text} color={state.color} sx={{ justifySelf: 'start' }} />
              <Typography variant="body2" color="text.secondary">
                {hop.afterMs === null || hop.afterMs === undefined ? '—' : `+${hop.afterMs.toLocaleString()} ms`}
              </Typography>
              <Typography variant="body2" sx={{ wordBreak: 'break-word' }}>
                {hop.detail}
              </Typography>
            </Box>
          );
        })}
      </Box>
    </Section>
  );
}

function Summary({ followed }: { followed: Followed }) {
  if (followed.events.length === 0) {
    return <Alert severity="info">No event carries this correlation id (yet).</Alert>;
  }
  if (followed.done) {
    return (
      <Alert severity="success" role="status" aria-label="Follow outcome">
        Every hop is done: {followed.events.length} event(s)
        {followed.tookMs !== null && followed.tookMs !== undefined && `, ${followed.tookMs.toLocaleString()} ms from the first commit to the last hop`}.
      </Alert>
    );
  }
  return (
    <Alert severity="warning" role="status" aria-label="Follow outcome">
      Waiting at: {followed.stuckAt}
    </Alert>
  );
}

function Followed({ correlationId }: { correlationId: string }) {
  const [{ data, error, fetching }] = useSubscription({ query: FollowSubscription, variables: { correlationId } });
  const followed = data?.follow;
  return (
    <Stack spacing={2}>
      <Typography variant="body2" color="text.secondary">
        Correlation id <code>{correlationId}</code>
        {fetching && followed && !followed.done && ' · live, again every second until nothing waits'}
      </Typography>
      {error && <Alert severity="error">{describeError(error)}</Alert>}
      {!followed && !error && <CircularProgress aria-label="Following" />}
      {followed && <Summary followed={followed} />}
      {followed?.events.map((event) => <EventHops key={event.eventId} event={event} />)}
    </Stack>
  );
}

/** `/follow` asks for a correlation id; `/follow/:correlationId` follows it. */
export function FollowPage() {
  const { correlationId } = useParams();
  const navigate = useNavigate();
  const [typed, setTyped] = useState(correlationId ?? '');
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = typed.trim();
    if (id) navigate(`/follow/${encodeURIComponent(id)}`);
  };
  return (
    <>
      <PageHeading>Follow</PageHeading>
      <Stack spacing={2}>
        <Stack component="form" aria-label="Follow a request" direction={{ xs: 'column', sm: 'row' }} spacing={2} onSubmit={submit}>
          <TextField
            label="Correlation id"
            size="small"
            value={typed}
            onChange={(event) => setTyped(event.target.value)}
            helperText="Every command answers with one; every event carries one."
            sx={{ minWidth: { sm: 420 } }}
          />
          <Box>
            <Button type="submit" variant="contained">
              Follow
            </Button>
          </Box>
        </Stack>
        {correlationId && <Followed key={correlationId} correlationId={correlationId} />}
      </Stack>
    </>
  );
}
