import { useState } from 'react';
import {
  Alert,
  Box,
  Button,
  CircularProgress,
  Grid2 as Grid,
  Link,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  Typography,
} from '@mui/material';
import { Link as RouterLink, useParams } from 'react-router-dom';
import { useMutation, useQuery } from 'urql';
import type { OrderDetailQuery as OrderDetailData } from '../../gql/graphql';
import { CommandDialog, nonBlank } from '../../components/CommandDialog';
import { DateTimeText } from '../../components/DateTimeText';
import { ErrorAlert } from '../../components/ErrorAlert';
import { EventStream } from '../../components/EventStream';
import { PageHeading } from '../../components/PageHeading';
import { Facts, Section } from '../../components/Section';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { useMinVersion } from '../../lib/useMinVersion';
import { useSession } from '../auth/session';
import { OrderTimeTravel } from './OrderTimeTravel';
import { SagaTimeline } from './SagaTimeline';
import { CancelOrderMutation, OrderDetailQuery } from './queries';
import { useLiveOrder, type LiveMode } from './useLiveOrder';

type OrderDetail = NonNullable<OrderDetailData['order']>;

const LIVE_TEXT: Record<LiveMode, string> = {
  idle: '',
  tail: 'Waiting for the saga: following the orders topic for this order.',
  polling: 'Waiting for the saga: checking every second.',
};

function ItemsTable({ order }: { order: OrderDetail }) {
  return (
    <TableContainer>
      <Table size="small" aria-label="Items">
        <TableHead>
          <TableRow>
            <TableCell>SKU</TableCell>
            <TableCell align="right">Quantity</TableCell>
            <TableCell align="right">Unit price</TableCell>
            <TableCell align="right">Line total</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
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
        </TableBody>
      </Table>
    </TableContainer>
  );
}

function CancelOrder({ order, onDone }: { order: OrderDetail; onDone: (version: number) => void }) {
  const [open, setOpen] = useState(false);
  const [, cancel] = useMutation(CancelOrderMutation);
  return (
    <>
      <Button variant="outlined" color="error" onClick={() => setOpen(true)}>
        Cancel order
      </Button>
      <CommandDialog
        open={open}
        onClose={() => setOpen(false)}
        title="Cancel order"
        submitLabel="Cancel order"
        closeLabel="Keep order"
        label="Reason"
        field="reason"
        multiline
        destructive
        description="Cancelling releases the credit the order holds. It cannot be undone."
        parse={nonBlank('a reason')}
        run={async (reason) => {
          const result = await cancel({ id: order.id, reason });
          return { version: result.data?.cancelOrder.version ?? null, error: result.error };
        }}
        onDone={onDone}
      />
    </>
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
  const cancellable = order && (order.status === 'PENDING' || order.status === 'APPROVED');

  return (
    <>
      <PageHeading
        actions={
          order && (
            <Stack direction="row" spacing={2} sx={{ alignItems: 'center' }}>
              <Box role="status" aria-label="Order status">
                <StatusChip status={order.status} size="medium" />
              </Box>
              {cancellable && <CancelOrder order={order} onDone={setMinVersion} />}
            </Stack>
          )
        }
      >
        Order
      </PageHeading>
      <Typography variant="body2" color="text.secondary" aria-live="polite" sx={{ mb: mode === 'idle' ? 0 : 2 }}>
        {LIVE_TEXT[mode]}
      </Typography>
      {error && <ErrorAlert error={error} onRetry={() => reexecute({ requestPolicy: 'network-only' })} />}
      {!order && fetching && <CircularProgress aria-label="Loading the order" />}
      {!order && !fetching && !error && <Alert severity="info">There is no order {id} that you may see.</Alert>}
      {order && (
        <Grid container spacing={3} sx={{ mt: error ? 2 : 0 }}>
          <Grid size={{ xs: 12, md: 6 }}>
            <Section title="Order">
              <Facts
                rows={[
                  ['Status', <StatusChip key="status" status={order.status} />],
                  ['Total', formatCents(order.totalCents, order.currency)],
                  [
                    'Customer',
                    <Link key="user" component={RouterLink} to={`/users/${order.userId}`}>
                      {order.user ? `${order.user.name} (${order.user.email})` : order.userId}
                    </Link>,
                  ],
                  ['Placed', <DateTimeText key="placed" value={order.placedAt} />],
                  order.approvedAt ? ['Approved', <DateTimeText key="approved" value={order.approvedAt} />] : null,
                  order.rejectedAt ? ['Rejected', <DateTimeText key="rejected" value={order.rejectedAt} />] : null,
                  order.cancelledAt ? ['Cancelled', <DateTimeText key="cancelled" value={order.cancelledAt} />] : null,
                  order.rejectionReason ? ['Rejection reason', order.rejectionReason] : null,
                  order.cancellationReason ? ['Cancellation reason', order.cancellationReason] : null,
                  ['Version', order.version],
                  ['Id', <Box key="id" component="span" sx={{ fontFamily: 'monospace' }}>{order.id}</Box>],
                ]}
              />
            </Section>
          </Grid>
          <Grid size={{ xs: 12, md: 6 }}>
            <Section title="Items">
              <ItemsTable order={order} />
            </Section>
          </Grid>
          {session.isStaff && (
            <Grid size={12}>
              <Section title="Sagas">
                <SagaTimeline sagas={order.sagas} />
              </Section>
            </Grid>
          )}
          <Grid size={12}>
            <Section title="Event stream">
              <EventStream events={order.events} />
            </Section>
          </Grid>
          <Grid size={12}>
            <Section title="Time travel">
              <OrderTimeTravel id={order.id} version={order.version} />
            </Section>
          </Grid>
        </Grid>
      )}
    </>
  );
}
