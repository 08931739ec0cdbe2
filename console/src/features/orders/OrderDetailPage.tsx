import { Box, Link, TableCell, TableRow, Typography } from '@mui/material';
import { Link as RouterLink, useParams } from 'react-router-dom';
import { useMutation, useQuery } from 'urql';
import type { OrderDetailQuery as OrderDetailData } from '../../gql/graphql';
import { AggregatePage, PageSection } from '../../components/AggregatePage';
import { CommandButton, outcomeOf, reasonField } from '../../components/CommandDialog';
import { DataTable } from '../../components/DataTable';
import { DateTimeText } from '../../components/DateTimeText';
import { Facts } from '../../components/Section';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { useMinVersion } from '../../lib/useMinVersion';
import { useSession } from '../auth/session';
import { SagaTimeline } from './SagaTimeline';
import { CancelOrderMutation, OrderDetailQuery, OrderStateAtQuery } from './queries';
import { useLiveOrder, type LiveMode } from './useLiveOrder';

type OrderDetail = NonNullable<OrderDetailData['order']>;

const LIVE_TEXT: Record<LiveMode, string> = {
  idle: '',
  tail: 'Waiting for the saga: following the orders topic for this order.',
  polling: 'Waiting for the saga: checking every second.',
};

const ITEM_COLUMNS = [
  'SKU',
  { label: 'Quantity', align: 'right' },
  { label: 'Unit price', align: 'right' },
  { label: 'Line total', align: 'right' },
] as const;

function ItemsTable({ order }: { order: OrderDetail }) {
  return (
    <DataTable label="Items" columns={ITEM_COLUMNS}>
      {order.items.map((item, index) => (
        <TableRow key={`${item.sku}-${index}`}>
          <TableCell sx={{ fontFamily: 'monospace' }}>{item.sku}</TableCell>
          <TableCell align="right">{item.quantity}</TableCell>
          <TableCell align="right">{formatCents(item.unitPriceCents, order.currency)}</TableCell>
          <TableCell align="right">{formatCents(item.quantity * item.unitPriceCents, order.currency)}</TableCell>
        </TableRow>
      ))}
      <TableRow>
        <TableCell colSpan={3} sx={{ fontWeight: 600 }}>
          Total
        </TableCell>
        <TableCell align="right" sx={{ fontWeight: 600 }}>
          {formatCents(order.totalCents, order.currency)}
        </TableCell>
      </TableRow>
    </DataTable>
  );
}

function CancelOrder({ order, onDone }: { order: OrderDetail; onDone: (version: number) => void }) {
  const [, cancel] = useMutation(CancelOrderMutation);
  return (
    <CommandButton
      button="Cancel order"
      closeLabel="Keep order"
      {...reasonField}
      description="Cancelling releases the credit the order holds. It cannot be undone."
      run={async (reason) =>
        outcomeOf(await cancel({ id: order.id, reason, expectedVersion: order.version }), (data) => data.cancelOrder)
      }
      onDone={onDone}
      onStale={onDone}
    />
  );
}

/** One order: its state and items, its sagas, events and history; live while PENDING. */
export function OrderDetailPage() {
  const { id = '' } = useParams();
  const session = useSession();
  const [minVersion, setMinVersion] = useMinVersion();
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: OrderDetailQuery,
    variables: { id, minVersion },
  });
  const order = data?.order;
  const live = order ? order.status === 'PENDING' : minVersion !== undefined && !error;
  const mode = useLiveOrder({
    orderId: id,
    live,
    canTail: session.isStaff,
    refresh: (version) => {
      if (version !== undefined && version > (order?.version ?? 0)) setMinVersion(version);
      else reexecute({ requestPolicy: 'network-only' });
    },
  });

  return (
    <AggregatePage
      title="Order"
      noun="order"
      id={id}
      record={order}
      fetching={fetching}
      error={error}
      onRetry={() => reexecute({ requestPolicy: 'network-only' })}
      waiting={live}
      actions={(shown) =>
        (shown.status === 'PENDING' || shown.status === 'APPROVED') && <CancelOrder order={shown} onDone={setMinVersion} />
      }
      notice={
        <Typography variant="body2" color="text.secondary" aria-live="polite" sx={{ mb: mode === 'idle' ? 0 : 2 }}>
          {LIVE_TEXT[mode]}
        </Typography>
      }
      stateQuery={OrderStateAtQuery}
      stateAt={(state) => state.order?.stateAt}
    >
      {(shown) => (
        <>
          <PageSection title="Order" half>
            <Facts
              rows={[
                ['Status', <StatusChip key="status" status={shown.status} />],
                ['Total', formatCents(shown.totalCents, shown.currency)],
                [
                  'Customer',
                  <Link key="user" component={RouterLink} to={`/users/${shown.userId}`}>
                    {shown.user ? `${shown.user.name} (${shown.user.email})` : shown.userId}
                  </Link>,
                ],
                ['Placed', <DateTimeText key="placed" value={shown.placedAt} />],
                shown.approvedAt ? ['Approved', <DateTimeText key="approved" value={shown.approvedAt} />] : null,
                shown.rejectedAt ? ['Rejected', <DateTimeText key="rejected" value={shown.rejectedAt} />] : null,
                shown.cancelledAt ? ['Cancelled', <DateTimeText key="cancelled" value={shown.cancelledAt} />] : null,
                shown.rejectionReason ? ['Rejection reason', shown.rejectionReason] : null,
                shown.cancellationReason ? ['Cancellation reason', shown.cancellationReason] : null,
                ['Version', shown.version],
                ['Id', <Box key="id" component="span" sx={{ fontFamily: 'monospace' }}>{shown.id}</Box>],
              ]}
            />
          </PageSection>
          <PageSection title="Items" half>
            <ItemsTable order={shown} />
          </PageSection>
          {session.isStaff && (
            <PageSection title="Sagas">
              <SagaTimeline sagas={shown.sagas} />
            </PageSection>
          )}
        </>
      )}
    </AggregatePage>
  );
}
