import { useState, type FormEvent } from 'react';
import {
  Button,
  Card,
  CardContent,
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
import { Link as RouterLink, useSearchParams } from 'react-router-dom';
import { useQuery } from 'urql';
import type { OrderStatus } from '../../gql/graphql';
import { DateTimeText } from '../../components/DateTimeText';
import { PageEndRow } from '../../components/LoadMoreRow';
import { PageHeading } from '../../components/PageHeading';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { useSession } from '../auth/session';
import { OrdersQuery } from './queries';

const PAGE_SIZE = 20;
const STATUSES: readonly OrderStatus[] = ['PENDING', 'APPROVED', 'REJECTED', 'CANCELLED'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Filter {
  userId: string;
  status: OrderStatus | '';
}

function isOrderStatus(value: string | null): value is OrderStatus {
  return value !== null && (STATUSES as readonly string[]).includes(value);
}

function OrderRows({
  filter,
  after,
  isLast,
  showUser,
  onLoadMore,
}: {
  filter: Filter;
  after: string | null;
  isLast: boolean;
  showUser: boolean;
  onLoadMore: (cursor: string) => void;
}) {
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: OrdersQuery,
    variables: { first: PAGE_SIZE, after, userId: filter.userId || null, status: filter.status || null },
  });
  const items = data?.orders.items ?? [];
  return (
    <>
      {items.map((order) => (
        <TableRow key={order.id} hover>
          <TableCell sx={{ fontFamily: 'monospace' }}>
            <Link component={RouterLink} to={`/orders/${order.id}`}>
              {order.id}
            </Link>
          </TableCell>
          {showUser && (
            <TableCell sx={{ fontFamily: 'monospace' }}>
              <Link component={RouterLink} to={`/users/${order.userId}`}>
                {order.userId.slice(0, 8)}
              </Link>
            </TableCell>
          )}
          <TableCell>
            <StatusChip status={order.status} />
          </TableCell>
          <TableCell align="right">{formatCents(order.totalCents, order.currency)}</TableCell>
          <TableCell>
            <DateTimeText value={order.placedAt} />
          </TableCell>
        </TableRow>
      ))}
      {isLast && (
        <PageEndRow
          columns={showUser ? 5 : 4}
          fetching={fetching && items.length === 0}
          error={error}
          nextCursor={data?.orders.nextCursor}
          empty={after === null && items.length === 0}
          emptyText="No order matches."
          onLoadMore={onLoadMore}
          onRetry={() => reexecute({ requestPolicy: 'network-only' })}
        />
      )}
    </>
  );
}

function OrderList({ filter, showUser }: { filter: Filter; showUser: boolean }) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  return (
    <TableContainer>
      <Table size="small" aria-label="Orders">
        <TableHead>
          <TableRow>
            <TableCell>Order</TableCell>
            {showUser && <TableCell>User</TableCell>}
            <TableCell>Status</TableCell>
            <TableCell align="right">Total</TableCell>
            <TableCell>Placed</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {cursors.map((after, index) => (
            <OrderRows
              key={after ?? 'first'}
              filter={filter}
              after={after}
              isLast={index === cursors.length - 1}
              showUser={showUser}
              onLoadMore={(cursor) => setCursors((current) => [...current, cursor])}
            />
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

/** Orders, newest first: all of them for operators, a customer's own for a customer. */
export function OrdersPage() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const requestedStatus = params.get('status');
  const filter: Filter = {
    userId: session.isStaff ? (params.get('userId') ?? '') : session.subject,
    status: isOrderStatus(requestedStatus) ? requestedStatus : '',
  };
  const [userIdText, setUserIdText] = useState(filter.userId);
  const [status, setStatus] = useState<OrderStatus | ''>(filter.status);
  const [userIdError, setUserIdError] = useState<string | null>(null);

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const userId = userIdText.trim();
    if (session.isStaff && userId !== '' && !UUID.test(userId)) {
      setUserIdError('Enter a user id (a UUID), or leave it empty for every user.');
      return;
    }
    const next = new URLSearchParams();
    if (session.isStaff && userId) next.set('userId', userId);
    if (status) next.set('status', status);
    setParams(next);
  };

  return (
    <>
      <PageHeading>Orders</PageHeading>
      <Card variant="outlined">
        <CardContent>
          <Stack component="form" role="search" aria-label="Filter orders" onSubmit={apply} direction={{ xs: 'column', sm: 'row' }} spacing={2} sx={{ mb: 2 }}>
            <TextField
              select
              label="Status"
              size="small"
              value={status}
              onChange={(event) => setStatus(isOrderStatus(event.target.value) ? event.target.value : '')}
              slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
              sx={{ minWidth: 160 }}
            >
              <option value="">Any</option>
              {STATUSES.map((value) => (
                <option key={value} value={value}>
                  {value}
                </option>
              ))}
            </TextField>
            {session.isStaff && (
              <TextField
                label="User id"
                size="small"
                value={userIdText}
                onChange={(event) => {
                  setUserIdText(event.target.value);
                  setUserIdError(null);
                }}
                error={userIdError !== null}
                helperText={userIdError ?? undefined}
                sx={{ minWidth: { sm: 340 } }}
              />
            )}
            <Button type="submit" variant="contained" sx={{ alignSelf: { sm: 'flex-start' } }}>
              Filter
            </Button>
          </Stack>
          <OrderList key={`${filter.userId}|${filter.status}`} filter={filter} showUser={session.isStaff} />
        </CardContent>
      </Card>
    </>
  );
}
