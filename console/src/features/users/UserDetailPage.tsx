import { Box, Card, CardContent, Chip, Grid2 as Grid, Link, Stack, TableRow, Typography } from '@mui/material';
import { Link as RouterLink, useParams } from 'react-router-dom';
import { useQuery } from 'urql';
import type { UserDetailQuery as UserDetailData } from '../../gql/graphql';
import { AggregatePage, PageSection } from '../../components/AggregatePage';
import { DataTable, WideRow } from '../../components/DataTable';
import { DateTimeText } from '../../components/DateTimeText';
import { Facts } from '../../components/Section';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { useMinVersion } from '../../lib/useMinVersion';
import { OrderCells, orderColumns } from '../orders/OrderCells';
import { PlaceOrderForm } from '../orders/PlaceOrderForm';
import { UserActions } from './UserActions';
import { UserDetailQuery, UserStateAtQuery } from './queries';

type UserDetail = NonNullable<UserDetailData['user']>;

function UserOrders({ user }: { user: UserDetail }) {
  const { orderSummary: summary, orders } = user;
  return (
    <Stack spacing={2}>
      <Stack direction="row" spacing={1} sx={{ flexWrap: 'wrap', alignItems: 'center' }} useFlexGap>
        <Typography variant="body2">
          {summary.count} {summary.count === 1 ? 'order' : 'orders'}, {formatCents(summary.totalCents)} in all
        </Typography>
        {summary.byStatus.map((bucket) => (
          <Chip
            key={bucket.status}
            size="small"
            variant="outlined"
            label={`${bucket.status}: ${bucket.count} (${formatCents(bucket.totalCents)})`}
          />
        ))}
      </Stack>
      <DataTable label="Orders of this user" columns={orderColumns(false)}>
        {orders.items.length === 0 ? (
          <WideRow columns={4}>No orders yet.</WideRow>
        ) : (
          orders.items.map((order) => (
            <TableRow key={order.id} hover>
              <OrderCells order={order} shortId />
            </TableRow>
          ))
        )}
      </DataTable>
      {orders.nextCursor && (
        <Link component={RouterLink} to={`/orders?userId=${user.id}`}>
          All orders of this user
        </Link>
      )}
    </Stack>
  );
}

/** One user: their state, the commands they accept, their orders, events and history. */
export function UserDetailPage() {
  const { id = '' } = useParams();
  const [minVersion, setMinVersion] = useMinVersion();
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: UserDetailQuery,
    variables: { id, minVersion },
  });

  return (
    <AggregatePage
      title="User"
      noun="user"
      id={id}
      record={data?.user}
      fetching={fetching}
      error={error}
      onRetry={() => reexecute({ requestPolicy: 'network-only' })}
      stateQuery={UserStateAtQuery}
      stateAt={(state) => state.user?.stateAt}
    >
      {(user) => (
        <>
          <PageSection title="Account" half>
            <Stack spacing={2}>
              <Facts
                rows={[
                  ['Name', user.name],
                  ['Email', user.email],
                  ['Status', <StatusChip key="status" status={user.status} />],
                  ['Credit limit', formatCents(user.creditLimitCents)],
                  ['Reserved', formatCents(user.reservedCents)],
                  ['Available', formatCents(user.availableCents)],
                  ['Version', user.version],
                  ['Registered', <DateTimeText key="created" value={user.createdAt} />],
                  ['Updated', <DateTimeText key="updated" value={user.updatedAt} />],
                  ['Id', <Box key="id" component="span" sx={{ fontFamily: 'monospace' }}>{user.id}</Box>],
                ]}
              />
              <UserActions user={user} onDone={setMinVersion} />
            </Stack>
          </PageSection>
          <PageSection title="Orders" half>
            <UserOrders user={user} />
          </PageSection>
          <Grid size={12}>
            <Card variant="outlined">
              <CardContent>
                <PlaceOrderForm userId={user.id} />
              </CardContent>
            </Card>
          </Grid>
        </>
      )}
    </AggregatePage>
  );
}
