import { Divider, Stack } from '@mui/material';
import { PageHeading } from '../../components/PageHeading';
import { Section } from '../../components/Section';
import { ParkedEvents } from './ParkedEvents';
import { ProjectionCards } from './ProjectionCards';
import { SagaList } from './SagaList';
import { READ_SERVICES } from './services';

/** What an operator acts on: read models, parked events, sagas. */
export function OperationsPage() {
  return (
    <>
      <PageHeading>Operations</PageHeading>
      <Stack spacing={3}>
        <Section title="Projections">
          <ProjectionCards />
        </Section>
        <Section title="Parked events">
          <Stack spacing={2} divider={<Divider flexItem />}>
            {READ_SERVICES.map((service) => (
              <ParkedEvents key={service} service={service} />
            ))}
          </Stack>
        </Section>
        <Section title="Sagas">
          <SagaList />
        </Section>
      </Stack>
    </>
  );
}
