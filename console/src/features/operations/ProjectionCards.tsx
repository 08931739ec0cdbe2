import { Alert, Card, CardContent, CircularProgress, Grid2 as Grid, Stack, Typography } from '@mui/material';
import { useQuery } from 'urql';
import type { ProjectionsQuery as ProjectionsData } from '../../gql/graphql';
import { ErrorAlert } from '../../components/ErrorAlert';
import { JsonBlock } from '../../components/JsonBlock';
import { Facts } from '../../components/Section';
import { projectionFacts } from './projectionFacts';
import { ProjectionsQuery } from './queries';
import { RebuildPanel } from './RebuildPanel';
import { serviceName } from './services';

type Projection = ProjectionsData['projections'][number];

function ProjectionCard({ projection }: { projection: Projection }) {
  const name = serviceName(projection.service);
  const { facts, rest, warning } = projectionFacts(projection.status);
  return (
    <Card variant="outlined" component="article" aria-label={name} sx={{ height: '100%' }}>
      <CardContent>
        <Stack spacing={2}>
          <Typography variant="subtitle1" component="h3" sx={{ fontWeight: 600, fontFamily: 'monospace' }}>
            {name}
          </Typography>
          {!projection.reachable && <Alert severity="error">{name} did not answer.</Alert>}
          {warning && <Alert severity="warning">{warning}</Alert>}
          {facts.length > 0 && <Facts rows={facts} />}
          {Object.keys(rest).length > 0 && <JsonBlock value={rest} label={`More of ${name}'s status`} maxHeight={200} />}
          {projection.reachable && facts.length === 0 && projection.status !== null && projection.status !== undefined && (
            <JsonBlock value={projection.status} label={`Status of ${name}`} maxHeight={200} />
          )}
          <RebuildPanel service={projection.service} latest={projection.rebuild ?? null} />
        </Stack>
      </CardContent>
    </Card>
  );
}

/** Every read model against its event store, with a way to rebuild it. */
export function ProjectionCards() {
  const [{ data, fetching, error }, reexecute] = useQuery({ query: ProjectionsQuery });
  if (!data) {
    if (error) return <ErrorAlert error={error} onRetry={() => reexecute({ requestPolicy: 'network-only' })} />;
    return fetching ? <CircularProgress aria-label="Loading projections" /> : null;
  }
  return (
    <Grid container spacing={2}>
      {data.projections.map((projection) => (
        <Grid key={projection.service} size={{ xs: 12, md: 6, xl: 4 }}>
          <ProjectionCard projection={projection} />
        </Grid>
      ))}
    </Grid>
  );
}
