import { useId, type ReactNode } from 'react';
import { Alert, Box, Card, CardContent, CircularProgress, Grid2 as Grid, Stack, TableCell, TableRow, Typography } from '@mui/material';
import { useSubscription } from 'urql';
import { describeError } from '../../api/problem';
import { DataTable } from '../../components/DataTable';
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

const PIPELINE_COLUMNS = [
  'Context',
  'State',
  { label: 'Outbox backlog', align: 'right' },
  { label: 'Oldest in outbox', align: 'right' },
  { label: 'Set aside', align: 'right' },
  'Topic',
  { label: 'End offset', align: 'right' },
  'Consumers (lag, parked)',
] as const;

function PipelineTable({ report }: { report: HealthReport }) {
  return (
    <DataTable label="Pipelines" columns={PIPELINE_COLUMNS}>
          {report.pipelines.map((pipeline) => (
            <TableRow key={pipeline.context}>
              <TableCell component="th" scope="row">
                {pipeline.context}
              </TableCell>
              <TableCell>
                <LightChip light={pipeline.light} />
              </TableCell>
              <TableCell align="right">{count(pipeline.outboxBacklog)}</TableCell>
              <TableCell align="right">
                {pipeline.outboxOldestAgeSeconds === null || pipeline.outboxOldestAgeSeconds === undefined
                  ? 'unknown'
                  : formatDuration(pipeline.outboxOldestAgeSeconds)}
              </TableCell>
              <TableCell align="right">{count(pipeline.outboxSetAside)}</TableCell>
              <TableCell sx={{ fontFamily: 'monospace' }}>{pipeline.topic}</TableCell>
              <TableCell align="right">{count(pipeline.endOffset)}</TableCell>
              <TableCell>
                <Stack component="ul" spacing={0.5} sx={{ listStyle: 'none', p: 0, m: 0 }}>
                  {pipeline.consumers.map((consumer) => (
                    <Stack component="li" key={consumer.group} direction="row" spacing={1} sx={{ alignItems: 'center' }}>
                      <LightChip light={consumer.light} />
                      <Typography variant="body2">
                        {consumer.group}: lag {count(consumer.lag)}, parked {count(consumer.parkedEvents)}
                      </Typography>
                    </Stack>
                  ))}
                </Stack>
              </TableCell>
            </TableRow>
          ))}
    </DataTable>
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
              <Typography variant="caption" color="text.secondary">
                Charts: the last 5 minutes, one point per check.
              </Typography>
            </CardContent>
          </Card>
          <Part title="Components">
            <ComponentCards report={report} />
          </Part>
          <Part title="Pipelines">
            <PipelineTable report={report} />
          </Part>
        </Stack>
      )}
    </>
  );
}
