// The frame of a page about one aggregate (a user, an order): its heading with its status, what
// went wrong or that it is not there, its own sections, then its event stream and time travel.
import type { ReactNode } from 'react';
import { Box, CircularProgress, Grid2 as Grid, Stack } from '@mui/material';
import type { CombinedError, DocumentInput } from 'urql';
import type { StoredEventFieldsFragment } from '../gql/graphql';
import { ErrorAlert } from './ErrorAlert';
import { EventStream } from './EventStream';
import { NotFound } from './NotAllowed';
import { PageHeading } from './PageHeading';
import { Section } from './Section';
import { StatusChip } from './StatusChip';
import { AggregateTimeTravel, type StateAt } from './TimeTravel';

export interface Aggregate {
  id: string;
  version: number;
  status: string;
  events: readonly StoredEventFieldsFragment[];
}

export interface AggregatePageProps<T extends Aggregate, StateData> {
  /** The page's h1, e.g. "User". */
  title: string;
  /** What the aggregate is called in a sentence, e.g. "user". */
  noun: string;
  /** The id asked for. */
  id: string;
  /** The aggregate; null when there is none this caller may see. */
  record: T | null | undefined;
  fetching: boolean;
  error: CombinedError | undefined;
  onRetry: () => void;
  /** Beside the status once the aggregate is shown: its commands. */
  actions?: (record: T) => ReactNode;
  /** Under the heading: what the page is doing meanwhile. */
  notice?: ReactNode;
  /** Still waiting for the aggregate to show up (a command's write on its way): not "not found" yet. */
  waiting?: boolean;
  /** The aggregate's own sections (`PageSection`s). */
  children: (record: T) => ReactNode;
  /** Asks for the aggregate folded up to a version, for the time travel. */
  stateQuery: DocumentInput<StateData, { id: string; version: number }>;
  stateAt: (data: StateData) => StateAt | null | undefined;
}

/** A titled section of a detail page: the whole width, or half of it on wide screens. */
export function PageSection({ title, half = false, children }: { title: string; half?: boolean; children: ReactNode }) {
  return (
    <Grid size={half ? { xs: 12, md: 6 } : 12}>
      <Section title={title}>{children}</Section>
    </Grid>
  );
}

export function AggregatePage<T extends Aggregate, StateData>({
  title,
  noun,
  id,
  record,
  fetching,
  error,
  onRetry,
  actions,
  notice,
  waiting = false,
  children,
  stateQuery,
  stateAt,
}: AggregatePageProps<T, StateData>) {
  if (!record && !fetching && !error && !waiting) {
    return <NotFound>There is no {noun} {id} that you may see.</NotFound>;
  }
  return (
    <>
      <PageHeading
        actions={
          record && (
            <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
              <Box role="status" aria-label={`${title} status`}>
                <StatusChip status={record.status} size="medium" />
              </Box>
              {actions?.(record)}
            </Stack>
          )
        }
      >
        {title}
      </PageHeading>
      {notice}
      {error && <ErrorAlert error={error} onRetry={onRetry} />}
      {!record && (fetching || waiting) && <CircularProgress aria-label={`Loading the ${noun}`} />}
      {record && (
        <Grid container spacing={3} sx={{ mt: error ? 2 : 0 }}>
          {children(record)}
          <PageSection title="Event stream">
            <EventStream events={record.events} />
          </PageSection>
          <PageSection title="Time travel">
            <AggregateTimeTravel id={record.id} version={record.version} query={stateQuery} stateAt={stateAt} />
          </PageSection>
        </Grid>
      )}
    </>
  );
}
