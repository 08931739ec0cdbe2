import { Alert, Box, CircularProgress, Stack, TableCell, TableRow, Typography } from '@mui/material';
import { useQuery } from 'urql';
import type { TopicsQuery as TopicsData } from '../../gql/graphql';
import { DataTable } from '../../components/DataTable';
import { ErrorAlert } from '../../components/ErrorAlert';
import { PageHeading } from '../../components/PageHeading';
import { Section } from '../../components/Section';
import { TailPanel } from './TailPanel';
import { TopicsQuery } from './queries';

type Report = TopicsData['topics'];

function TopicTable({ report }: { report: Report }) {
  return (
    <DataTable label="Topics" columns={['Topic', { label: 'Messages kept', align: 'right' }, 'Partitions (low – high watermark)']}>
          {report.topics.map((topic) => (
            <TableRow key={topic.name}>
              <TableCell component="th" scope="row" sx={{ fontFamily: 'monospace' }}>
                {topic.name}
              </TableCell>
              <TableCell align="right">{topic.messages.toLocaleString()}</TableCell>
              <TableCell>
                {topic.partitions.map((marks) => (
                  <Typography key={marks.partition} variant="body2" component="div">
                    {marks.partition}: {marks.low.toLocaleString()} – {marks.high.toLocaleString()}
                  </Typography>
                ))}
              </TableCell>
            </TableRow>
          ))}
    </DataTable>
  );
}

function GroupTable({ report }: { report: Report }) {
  if (report.groups.length === 0) return <Typography>No consumer group has committed offsets yet.</Typography>;
  return (
    <DataTable label="Consumer groups" columns={['Group', 'Topic', { label: 'Lag', align: 'right' }, 'Per partition (committed / high: lag)']}>
          {report.groups.map((group) => (
            <TableRow key={`${group.group}/${group.topic}`}>
              <TableCell component="th" scope="row">
                {group.group}
              </TableCell>
              <TableCell sx={{ fontFamily: 'monospace' }}>{group.topic}</TableCell>
              <TableCell align="right">{group.lag.toLocaleString()}</TableCell>
              <TableCell>
                {group.partitions.map((partition) => (
                  <Typography key={partition.partition} variant="body2" component="div">
                    {partition.partition}: {partition.committed.toLocaleString()} / {partition.high.toLocaleString()}: lag{' '}
                    {partition.lag.toLocaleString()}
                  </Typography>
                ))}
              </TableCell>
            </TableRow>
          ))}
    </DataTable>
  );
}

/** Kafka as the gateway sees it: topics, consumer groups, and a live tail. */
export function TopicsPage() {
  const [{ data, fetching, error }, reexecute] = useQuery({ query: TopicsQuery });
  const report = data?.topics;
  return (
    <>
      <PageHeading>Topics</PageHeading>
      <Stack spacing={3}>
        {error && <ErrorAlert error={error} onRetry={() => reexecute({ requestPolicy: 'network-only' })} />}
        {!report && fetching && <CircularProgress aria-label="Loading topics" />}
        {report && (
          <>
            <Section title="Topics">
              {report.topics.length === 0 ? <Alert severity="info">No topics.</Alert> : <TopicTable report={report} />}
            </Section>
            <Section title="Consumer groups">
              <GroupTable report={report} />
            </Section>
          </>
        )}
        <Section title="Live tail">
          <Box>
            <TailPanel
              key={report ? 'known' : 'unknown'}
              topics={report?.topics.map((topic) => topic.name) ?? []}
              preferred={data?.contextTopics.orders}
            />
          </Box>
        </Section>
      </Stack>
    </>
  );
}
