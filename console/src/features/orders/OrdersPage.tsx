import { useState, type FormEvent } from 'react';
import { Button, Card, CardContent, Stack, TextField } from '@mui/material';
import { useSearchParams } from 'react-router-dom';
import type { OrderStatus } from '../../gql/graphql';
import { ChoiceField } from '../../components/ChoiceField';
import { PAGE_SIZE, PagedTable } from '../../components/PagedTable';
import { PageHeading } from '../../components/PageHeading';
import { useSession } from '../auth/session';
import { OrderCells, orderColumns } from './OrderCells';
import { OrdersQuery } from './queries';

const STATUSES: readonly OrderStatus[] = ['PENDING', 'APPROVED', 'REJECTED', 'CANCELLED'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Filter {
  userId: string;
  status: OrderStatus | '';
}

function isOrderStatus(value: string | null): value is OrderStatus {
  return value !== null && (STATUSES as readonly string[]).includes(value);
}

function OrderList({ filter, showUser }: { filter: Filter; showUser: boolean }) {
  return (
    <PagedTable
      label="Orders"
      columns={orderColumns(showUser)}
      query={OrdersQuery}
      variables={(after) => ({ first: PAGE_SIZE, after, userId: filter.userId || null, status: filter.status || null })}
      page={(data) => data.orders}
      rowKey={(order) => order.id}
      cells={(order) => <OrderCells order={order} showUser={showUser} />}
      emptyText="No order matches."
    />
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
            <ChoiceField label="Status" value={status} choices={STATUSES} onChange={setStatus} />
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
