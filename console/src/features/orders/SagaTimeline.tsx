import { Alert, Box, Stack, Typography } from '@mui/material';
import {
  Timeline,
  TimelineConnector,
  TimelineContent,
  TimelineDot,
  TimelineItem,
  TimelineOppositeContent,
  TimelineSeparator,
  timelineOppositeContentClasses,
} from '@mui/lab';
import type { SagaFieldsFragment } from '../../gql/graphql';
import { DateTimeText } from '../../components/DateTimeText';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';

type Dot = 'success' | 'error' | 'grey' | 'info' | 'warning';

function dotOf(outcome: string | null | undefined): Dot {
  switch (outcome) {
    case 'succeeded':
      return 'success';
    case 'refused':
      return 'error';
    case 'skipped':
      return 'grey';
    default:
      return 'info';
  }
}

function SagaSteps({ saga }: { saga: SagaFieldsFragment }) {
  if (saga.steps.length === 0) return <Typography variant="body2">No step has run yet.</Typography>;
  return (
    <Timeline
      aria-label={`Steps of the ${saga.kind} saga`}
      sx={{ p: 0, m: 0, [`& .${timelineOppositeContentClasses.root}`]: { flex: 0.3, minWidth: 140 } }}
    >
      {saga.steps.map((step, index) => (
        <TimelineItem key={`${step.step}-${step.startedAt}`}>
          <TimelineOppositeContent color="text.secondary" variant="body2">
            <DateTimeText value={step.startedAt} />
          </TimelineOppositeContent>
          <TimelineSeparator>
            <TimelineDot color={dotOf(step.outcome)} variant={step.finishedAt ? 'filled' : 'outlined'} />
            {index < saga.steps.length - 1 && <TimelineConnector />}
          </TimelineSeparator>
          <TimelineContent>
            <Typography variant="subtitle2" component="p">
              {step.step}: {step.outcome ?? 'running'}
            </Typography>
            <Typography variant="body2" color="text.secondary">
              {step.attempts} {step.attempts === 1 ? 'attempt' : 'attempts'}
              {step.finishedAt ? (
                <>
                  , finished <DateTimeText value={step.finishedAt} />
                </>
              ) : (
                ', still running'
              )}
            </Typography>
            {step.detail && <Typography variant="body2">{step.detail}</Typography>}
          </TimelineContent>
        </TimelineItem>
      ))}
    </Timeline>
  );
}

/** The sagas an order started, each with its steps in order. */
export function SagaTimeline({ sagas }: { sagas: readonly SagaFieldsFragment[] }) {
  if (sagas.length === 0) return <Typography variant="body2">No saga has started for this order (or it is not shown to you).</Typography>;
  return (
    <Stack spacing={3}>
      {sagas.map((saga) => (
        <Box key={saga.id} component="article" aria-label={`${saga.kind} saga`}>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center', flexWrap: 'wrap' }} useFlexGap>
            <Typography variant="subtitle1" component="h3" sx={{ fontWeight: 600 }}>
              {saga.kind}
            </Typography>
            <StatusChip status={saga.state} />
            {!saga.terminal && <Typography variant="body2">in progress</Typography>}
          </Stack>
          <Typography variant="body2" color="text.secondary">
            {formatCents(saga.amountCents)} · started <DateTimeText value={saga.startedAt} />
            {saga.finishedAt ? (
              <>
                {' '}
                · finished <DateTimeText value={saga.finishedAt} />
              </>
            ) : (
              <>
                {' '}
                · deadline <DateTimeText value={saga.deadlineAt} />
              </>
            )}
            {' '}· {saga.attempts} failed {saga.attempts === 1 ? 'call' : 'calls'} of the current step
            {saga.nextAttemptAt && (
              <>
                {' '}
                · next attempt <DateTimeText value={saga.nextAttemptAt} />
              </>
            )}
          </Typography>
          {saga.reason && <Typography variant="body2">Reason: {saga.reason}</Typography>}
          {saga.lastError && (
            <Alert severity="warning" sx={{ mt: 1 }}>
              Last error: {saga.lastError}
            </Alert>
          )}
          <SagaSteps saga={saga} />
        </Box>
      ))}
    </Stack>
  );
}
