import { useState } from 'react';
import { Stack, TableCell } from '@mui/material';
import type { SagasQuery as SagasData } from '../../gql/graphql';
import { ChoiceField } from '../../components/ChoiceField';
import { DateTimeText } from '../../components/DateTimeText';
import { IdLinkCell } from '../../components/IdLink';
import { PAGE_SIZE, PagedTable } from '../../components/PagedTable';
import { StatusChip } from '../../components/StatusChip';
import { SagasQuery } from './queries';

/** The orchestrator's saga states: the steps still to run first, then where sagas end. */
export const SAGA_STATES = [
  'RESERVING_CREDIT',
  'APPROVING_ORDER',
  'REJECTING_ORDER',
  'RELEASING_CREDIT',
  'APPROVED',
  'REJECTED',
  'TIMED_OUT',
  'CANCELLED',
  'RELEASED',
  'FAILED',
  'RESOLVED',
] as const;

type SagaState = (typeof SAGA_STATES)[number];

const COLUMNS = [
  'Kind',
  'Order',
  'State',
  { label: 'Failed calls', align: 'right' },
  'Last error or reason',
  'Deadline',
  'Updated',
] as const;

type Saga = SagasData['sagas']['items'][number];

function SagaCells({ saga }: { saga: Saga }) {
  return (
    <>
      <TableCell>{saga.kind}</TableCell>
      <IdLinkCell id={saga.orderId} to={`/orders/${saga.orderId}`} short />
      <TableCell>
        <StatusChip status={saga.state} />
      </TableCell>
      <TableCell align="right">{saga.attempts}</TableCell>
      <TableCell>{saga.lastError ?? saga.reason ?? '—'}</TableCell>
      <TableCell>{saga.terminal ? '—' : <DateTimeText value={saga.deadlineAt} />}</TableCell>
      <TableCell>
        <DateTimeText value={saga.updatedAt} />
      </TableCell>
    </>
  );
}

/** Sagas, newest first, in one state or all. */
export function SagaList() {
  const [state, setState] = useState<SagaState | ''>('FAILED');
  return (
    <Stack spacing={2}>
      <ChoiceField label="Saga state" value={state} choices={SAGA_STATES} anyLabel="Any state" onChange={setState} maxWidth={260} />
      <PagedTable
        key={state}
        label="Sagas"
        columns={COLUMNS}
        query={SagasQuery}
        variables={(after) => ({ state: state || null, first: PAGE_SIZE, after })}
        page={(data) => data.sagas}
        rowKey={(saga) => saga.id}
        cells={(saga) => <SagaCells saga={saga} />}
        emptyText="No saga in this state."
      />
    </Stack>
  );
}
