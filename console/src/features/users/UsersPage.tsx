import { useState, type FormEvent } from 'react';
import {
  Box,
  Button,
  Card,
  CardContent,
  Grid2 as Grid,
  Link,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import { useQuery } from 'urql';
import type { UserStatus } from '../../gql/graphql';
import { DateTimeText } from '../../components/DateTimeText';
import { PageEndRow } from '../../components/LoadMoreRow';
import { PageHeading } from '../../components/PageHeading';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { RegisterUserForm } from './RegisterUserForm';
import { UsersQuery } from './queries';

const PAGE_SIZE = 20;
const COLUMNS = 6;
const STATUSES: readonly UserStatus[] = ['ACTIVE', 'DEACTIVATED', 'ERASED'];

interface Filter {
  email: string;
  namePrefix: string;
  status: UserStatus | '';
}

const noFilter: Filter = { email: '', namePrefix: '', status: '' };

function isUserStatus(value: string): value is UserStatus {
  return (STATUSES as readonly string[]).includes(value);
}

function UserRows({ filter, after, isLast, onLoadMore }: { filter: Filter; after: string | null; isLast: boolean; onLoadMore: (cursor: string) => void }) {
  const [{ data, fetching, error }, reexecute] = useQuery({
    query: UsersQuery,
    variables: {
      first: PAGE_SIZE,
      after,
      email: filter.email || null,
      namePrefix: filter.namePrefix || null,
      status: filter.status || null,
    },
  });
  const items = data?.users.items ?? [];
  return (
    <>
      {items.map((user) => (
        <TableRow key={user.id} hover>
          <TableCell>
            <Link component={RouterLink} to={`/users/${user.id}`}>
              {user.name}
            </Link>
          </TableCell>
          <TableCell>{user.email}</TableCell>
          <TableCell>
            <StatusChip status={user.status} />
          </TableCell>
          <TableCell align="right">{formatCents(user.creditLimitCents)}</TableCell>
          <TableCell align="right">{formatCents(user.availableCents)}</TableCell>
          <TableCell>
            <DateTimeText value={user.createdAt} />
          </TableCell>
        </TableRow>
      ))}
      {isLast && (
        <PageEndRow
          columns={COLUMNS}
          fetching={fetching && items.length === 0}
          error={error}
          nextCursor={data?.users.nextCursor}
          empty={after === null && items.length === 0}
          emptyText="No user matches."
          onLoadMore={onLoadMore}
          onRetry={() => reexecute({ requestPolicy: 'network-only' })}
        />
      )}
    </>
  );
}

/** Pages of users for one filter: each "Load more" adds the next page below. */
function UserList({ filter }: { filter: Filter }) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  return (
    <TableContainer>
      <Table size="small" aria-label="Users">
        <TableHead>
          <TableRow>
            <TableCell>Name</TableCell>
            <TableCell>Email</TableCell>
            <TableCell>Status</TableCell>
            <TableCell align="right">Credit limit</TableCell>
            <TableCell align="right">Available</TableCell>
            <TableCell>Registered</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {cursors.map((after, index) => (
            <UserRows
              key={after ?? 'first'}
              filter={filter}
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

function UserSearch({ onSearch }: { onSearch: (filter: Filter) => void }) {
  const [draft, setDraft] = useState(noFilter);
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    onSearch({ email: draft.email.trim(), namePrefix: draft.namePrefix.trim(), status: draft.status });
  };
  return (
    <Stack component="form" role="search" aria-label="Find users" onSubmit={submit} direction={{ xs: 'column', sm: 'row' }} spacing={2} sx={{ mb: 2 }}>
      <TextField
        label="Exact email"
        size="small"
        type="email"
        value={draft.email}
        onChange={(event) => setDraft({ ...draft, email: event.target.value })}
      />
      <TextField
        label="Name starts with"
        size="small"
        value={draft.namePrefix}
        onChange={(event) => setDraft({ ...draft, namePrefix: event.target.value })}
      />
      <TextField
        select
        label="Status"
        size="small"
        value={draft.status}
        onChange={(event) => setDraft({ ...draft, status: isUserStatus(event.target.value) ? event.target.value : '' })}
        slotProps={{ select: { native: true }, inputLabel: { shrink: true } }}
        sx={{ minWidth: 160 }}
      >
        <option value="">Any</option>
        {STATUSES.map((status) => (
          <option key={status} value={status}>
            {status}
          </option>
        ))}
      </TextField>
      <Stack direction="row" spacing={1}>
        <Button type="submit" variant="contained">
          Search
        </Button>
        <Button
          onClick={() => {
            setDraft(noFilter);
            onSearch(noFilter);
          }}
        >
          Clear
        </Button>
      </Stack>
    </Stack>
  );
}

export function UsersPage() {
  const [filter, setFilter] = useState(noFilter);
  return (
    <>
      <PageHeading>Users</PageHeading>
      <Grid container spacing={3}>
        <Grid size={{ xs: 12, lg: 8 }}>
          <Card variant="outlined">
            <CardContent>
              <Typography variant="h6" component="h2" sx={{ mb: 2 }}>
                Find users
              </Typography>
              <UserSearch onSearch={setFilter} />
              <Box>
                <UserList key={JSON.stringify(filter)} filter={filter} />
              </Box>
            </CardContent>
          </Card>
        </Grid>
        <Grid size={{ xs: 12, lg: 4 }}>
          <RegisterUserForm />
        </Grid>
      </Grid>
    </>
  );
}
