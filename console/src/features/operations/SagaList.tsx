import { useState } from 'react';
import {
  Link,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
} from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import { useQuery } from 'urql';
import { DateTimeText } from '../../components/DateTimeText';
import { PageEndRow } from '../../components/LoadMoreRow';
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

const PAGE_SIZE = 20;
const COLUMNS = 7;

function SagaRows({ state, after, isLast, onLoadMore }: { state: string; after: string | null; isLast: boolean; onLoadMore: (cursor: string) => void }) {
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: SagasQuery,
    variables: { state: state || null, first: PAGE_SIZE, after },
  });
  const items = data?.sagas.items ?? [];
  return (
    <>
      {items.map((saga) => (
        <TableRow key={saga.id} hover>
          <TableCell>{saga.kind}</TableCell>
          <TableCell sx={{ fontFamily: 'monospace' }}>
            <Link component={RouterLink} to={`/orders/${saga.orderId}`}>
              {saga.orderId.slice(0, 8)}
            </Link>
          </TableCell>
          <TableCell>
            <StatusChip status={saga.state} />
          </TableCell>
          <TableCell align="right">{saga.attempts}</TableCell>
          <TableCell>{saga.lastError ?? saga.reason ?? '—'}</TableCell>
          <TableCell>{saga.terminal ? '—' : <DateTimeText value={saga.deadlineAt} />}</TableCell>
          <TableCell>
            <DateTimeText value={saga.updatedAt} />
          </TableCell>
        </TableRow>
      ))}
      {isLast && (
        <PageEndRow
          columns={COLUMNS}
          fetching={fetching && items.length === 0}
          error={error}
          nextCursor={data?.sagas.nextCursor}
          empty={after === null && items.length === 0}
          emptyText="No saga in this state."
          onLoadMore={onLoadMore}
          onRetry={() => reexecute({ requestPolicy: 'network-only' })}
        />
      )}
    </>
  );
}

function SagaTable({ state }: { state: string }) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  return (
    <TableContainer>
      <Table size="small" aria-label="Sagas">
        <TableHead>
          <TableRow>
            <TableCell>Kind</TableCell>
            <TableCell>Order</TableCell>
            <TableCell>State</TableCell>
            <TableCell align="right">Failed calls</TableCell>
            <TableCell>Last error or reason</TableCell>
            <TableCell>Deadline</TableCell>
            <TableCell>Updated</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {cursors.map((after, index) => (
            <SagaRows
              key={after ?? 'first'}
              state={state}
              after={after}
              isLast={index === cursors.length - 1}
              onLoadMore={(cursor) => setCursors((current) => [...current, cursor])}
            />
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

/** Sagas, newest first, in one state or all. */
export function SagaList() {
  const [state, setState] = useState<string>('FAILED');
  return (
    <Stack spacing={2}>
      <TextField
        select
        label="Saga state"
        size="small"
        value={state}
        onChange={(event) => setState(event.target.value)}
        slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
        sx={{ maxWidth: 260 }}
      >
        <option value="">Any state</option>
        {SAGA_STATES.map((value) => (
          <option key={value} value={value}>
            {value}
          </option>
        ))}
      </TextField>
      <SagaTable key={state} state={state} />
    </Stack>
  );
}
