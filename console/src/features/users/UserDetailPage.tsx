import {
  Alert,
  Box,
  Card,
  CardContent,
  Chip,
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
import { useQuery } from 'urql';
import type { UserDetailQuery as UserDetailData } from '../../gql/graphql';
import { DateTimeText } from '../../components/DateTimeText';
import { ErrorAlert } from '../../components/ErrorAlert';
import { EventStream } from '../../components/EventStream';
import { Facts, Section } from '../../components/Section';
import { PageHeading } from '../../components/PageHeading';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { useMinVersion } from '../../lib/useMinVersion';
import { PlaceOrderForm } from '../orders/PlaceOrderForm';
import { UserActions } from './UserActions';
import { UserTimeTravel } from './UserTimeTravel';
import { UserDetailQuery } from './queries';

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
      <TableContainer>
        <Table size="small" aria-label="Orders of this user">
          <TableHead>
            <TableRow>
              <TableCell>Order</TableCell>
              <TableCell>Status</TableCell>
              <TableCell align="right">Total</TableCell>
              <TableCell>Placed</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {orders.items.length === 0 ? (
              <TableRow>
                <TableCell colSpan={4}>No orders yet.</TableCell>
              </TableRow>
            ) : (
              orders.items.map((order) => (
                <TableRow key={order.id} hover>
                  <TableCell sx={{ fontFamily: 'monospace' }}>
                    <Link component={RouterLink} to={`/orders/${order.id}`}>
                      {order.id.slice(0, 8)}
                    </Link>
                  </TableCell>
                  <TableCell>
                    <StatusChip status={order.status} />
                  </TableCell>
                  <TableCell align="right">{formatCents(order.totalCents, order.currency)}</TableCell>
                  <TableCell>
                    <DateTimeText value={order.placedAt} />
                  </TableCell>
                </TableRow>
              ))
            )}
          </TableBody>
        </Table>
      </TableContainer>
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
  const user = data?.user;

  return (
    <>
      <PageHeading
        actions={
          user && (
            <Box role="status" aria-label="User status">
              <StatusChip status={user.status} size="medium" />
            </Box>
          )
        }
      >
        User
      </PageHeading>
      {error && <ErrorAlert error={error} onRetry={() => reexecute({ requestPolicy: 'network-only' })} />}
      {!user && fetching && <CircularProgress aria-label="Loading the user" />}
      {!user && !fetching && !error && <Alert severity="info">There is no user {id} that you may see.</Alert>}
      {user && (
        <Grid container spacing={3} sx={{ mt: error ? 2 : 0 }}>
          <Grid size={{ xs: 12, md: 6 }}>
            <Section title="Account">
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
            </Section>
          </Grid>
          <Grid size={{ xs: 12, md: 6 }}>
            <Section title="Orders">
              <UserOrders user={user} />
            </Section>
          </Grid>
          <Grid size={12}>
            <Card variant="outlined">
              <CardContent>
                <PlaceOrderForm userId={user.id} />
              </CardContent>
            </Card>
          </Grid>
          <Grid size={12}>
            <Section title="Event stream">
              <EventStream events={user.events} />
            </Section>
          </Grid>
          <Grid size={12}>
            <Section title="Time travel">
              <UserTimeTravel id={user.id} version={user.version} />
            </Section>
          </Grid>
        </Grid>
      )}
    </>
  );
}
