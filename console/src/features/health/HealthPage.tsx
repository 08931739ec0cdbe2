import { useId, type ReactNode } from 'react';
import { Alert, Box, Card, CardContent, CircularProgress, Grid2 as Grid, Stack, Typography } from '@mui/material';
import { useSubscription } from 'urql';
import type { Light } from '../../gql/graphql';
import { describeError } from '../../api/problem';
import { DateTimeText } from '../../components/DateTimeText';
import { LightChip } from '../../components/LightChip';
import { PageHeading } from '../../components/PageHeading';
import { Sparkline } from '../../components/Sparkline';
import { formatDuration } from '../../lib/time';
import { recentSamples, type HealthReport, type HealthSample } from './history';
import { HealthSubscription } from './queries';

/** The charts over the recent samples: what each shows and how its numbers read. */
const CHARTS: ReadonlyArray<{ label: string; value: (sample: HealthSample) => number; format: (value: number) => string }> = [
  { label: 'Commands per second', value: (sample) => sample.commandsPerSecond, format: (value) => value.toFixed(1) },
  { label: 'Total consumer lag', value: (sample) => sample.consumerLag, format: (value) => value.toLocaleString() },
  { label: 'Outbox backlog', value: (sample) => sample.outboxBacklog, format: (value) => value.toLocaleString() },
];

const count = (value: number | null | undefined) => (value === null || value === undefined ? 'unknown' : value.toLocaleString());

function ComponentCards({ report }: { report: HealthReport }) {
  return (
    <Grid container spacing={2} component="ul" sx={{ listStyle: 'none', p: 0, m: 0 }} aria-label="Components">
      {report.components.map((component) => (
        <Grid key={component.name} size={{ xs: 12, sm: 6, lg: 4 }} component="li">
          <Card variant="outlined" sx={{ height: '100%' }}>
            <CardContent>
              <Stack direction="row" spacing={1} sx={{ alignItems: 'center', justifyContent: 'space-between' }}>
                <Typography variant="subtitle1" component="h3" sx={{ fontWeight: 600 }}>
                  {component.name}
                </Typography>
                <LightChip light={component.light} />
              </Stack>
              <Typography variant="body2" color="text.secondary">
                {component.kind.toLowerCase()}
                {component.latencyMs !== null && component.latencyMs !== undefined && ` · ${component.latencyMs} ms`}
              </Typography>
              {component.detail && <Typography variant="body2">{component.detail}</Typography>}
            </CardContent>
          </Card>
        </Grid>
      ))}
    </Grid>
  );
}

type PipelineReport = HealthReport['pipelines'][number];

/** One stage of a pipeline: what it holds now, with its own light when it has one. */
function Stage({ title, light, children }: { title: string; light?: Light; children: ReactNode }) {
  return (
    <Box
      component="li"
      sx={{
        position: 'relative',
        flex: '1 1 0',
        minWidth: 0,
        border: 1,
        borderColor: 'divider',
        borderRadius: 1,
        p: 1.5,
        // An arrow from the stage before: right on wide screens, down on narrow ones.
        '&:not(:first-of-type)::before': {
          content: { xs: '"↓" / ""', md: '"→" / ""' },
          position: 'absolute',
          color: 'text.secondary',
          top: { xs: -22, md: '50%' },
          left: { xs: '50%', md: -17 },
          transform: { xs: 'translateX(-50%)', md: 'translateY(-50%)' },
        },
      }}
    >
      <Stack direction="row" spacing={1} sx={{ alignItems: 'center', justifyContent: 'space-between', mb: 0.5 }}>
        <Typography variant="overline" component="h4" sx={{ lineHeight: 1.5 }}>
          {title}
        </Typography>
        {light && <LightChip light={light} />}
      </Stack>
      {children}
    </Box>
  );
}

const Line = ({ children }: { children: ReactNode }) => <Typography variant="body2">{children}</Typography>;

/**
 * A bounded context's pipeline left to right, the way an event travels it: stored, waiting in
 * the outbox, on the topic, checkpointed by each consumer. Where two neighbours disagree is
 * where it is stuck.
 */
function PipelineFlow({ pipeline }: { pipeline: PipelineReport }) {
  const headingId = useId();
  const age = pipeline.outboxOldestAgeSeconds;
  return (
    <Card variant="outlined" component="section" aria-labelledby={headingId}>
      <CardContent>
        <Stack direction="row" spacing={1} sx={{ alignItems: 'center', mb: 1.5 }}>
          <Typography id={headingId} variant="subtitle1" component="h3" sx={{ fontWeight: 600 }}>
            {pipeline.context}
          </Typography>
          <LightChip light={pipeline.light} />
        </Stack>
        <Stack
          component="ol"
          aria-label={`${pipeline.context} pipeline`}
          direction={{ xs: 'column', md: 'row' }}
          spacing={{ xs: 3, md: 3 }}
          sx={{ listStyle: 'none', p: 0, m: 0 }}
        >
          <Stage title="Event store">
            <Line>head at position {count(pipeline.eventStoreHead)}</Line>
            <Typography variant="caption" component="div" color="text.secondary">
              last event <DateTimeText value={pipeline.eventStoreHeadAt} />
            </Typography>
          </Stage>
          <Stage title="Outbox">
            <Line>{count(pipeline.outboxBacklog)} waiting</Line>
            <Line>oldest {age === null || age === undefined ? 'unknown' : formatDuration(age)}</Line>
            <Line>{count(pipeline.outboxSetAside)} set aside</Line>
          </Stage>
          <Stage title="Topic">
            <Typography variant="body2" sx={{ fontFamily: 'monospace', overflowWrap: 'anywhere' }}>
              {pipeline.topic}
            </Typography>
            <Line>end offset {count(pipeline.endOffset)}</Line>
          </Stage>
          {pipeline.consumers.map((consumer) => (
            <Stage key={consumer.group} title={consumer.service} light={consumer.light}>
              <Line>
                at {count(consumer.checkpoint)} of {count(pipeline.endOffset)}
              </Line>
              <Line>
                lag {count(consumer.lag)}, parked {count(consumer.parkedEvents)}
              </Line>
              <Typography variant="caption" component="div" color="text.secondary" sx={{ overflowWrap: 'anywhere' }}>
                group {consumer.group}
              </Typography>
            </Stage>
          ))}
        </Stack>
      </CardContent>
    </Card>
  );
}

/** A part of the page, named by its h2. */
function Part({ title, children }: { title: string; children: ReactNode }) {
  const id = useId();
  return (
    <Box component="section" aria-labelledby={id}>
      <Typography id={id} variant="h6" component="h2" sx={{ mb: 1 }}>
        {title}
      </Typography>
      {children}
    </Box>
  );
}

/** Live health of every component and pipeline, pushed by the gateway after every check. */
export function HealthPage() {
  const [{ data, error }] = useSubscription({ query: HealthSubscription });
  const report = data?.health;
  const samples = report ? recentSamples(report) : [];

  return (
    <>
      <PageHeading>Health</PageHeading>
      {error && (
        <Alert severity="error" sx={{ mb: 2 }}>
          The health report stopped: {describeError(error)}
        </Alert>
      )}
      {!report ? (
        !error && (
          <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
            <CircularProgress size={24} aria-label="Waiting for the first health report" />
            <Typography>Waiting for the first health report…</Typography>
          </Stack>
        )
      ) : (
        <Stack spacing={3}>
          <Card variant="outlined">
            <CardContent>
              <Stack direction={{ xs: 'column', md: 'row' }} spacing={3} sx={{ alignItems: { md: 'center' } }}>
                <Box sx={{ flexGrow: 1 }}>
                  <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
                    <Typography variant="h6" component="h2">
                      Overall
                    </Typography>
                    <Box role="status" aria-label="Overall health">
                      <LightChip light={report.light} size="medium" />
                    </Box>
                  </Stack>
                  <Typography variant="body2" color="text.secondary">
                    Checked <DateTimeText value={report.checkedAt} />
                  </Typography>
                </Box>
                {CHARTS.map(({ label, value, format }) => (
                  <Sparkline key={label} label={label} values={samples.map(value)} format={format} />
                ))}
              </Stack>
              <Typography variant="caption" component="div" color="text.secondary">
                Charts: the last 5 minutes, one point per check.
              </Typography>
            </CardContent>
          </Card>
          <Part title="Components">
            <ComponentCards report={report} />
          </Part>
          <Part title="Pipelines">
            <Stack spacing={2}>
              {report.pipelines.map((pipeline) => (
                <PipelineFlow key={pipeline.context} pipeline={pipeline} />
              ))}
            </Stack>
          </Part>
        </Stack>
      )}
    </>
  );
}
