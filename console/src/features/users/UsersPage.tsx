import { useState, type FormEvent } from 'react';
import { Box, Button, Card, CardContent, Grid2 as Grid, Link, Stack, TableCell, TextField, Typography } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import type { UserStatus, UsersQuery as UsersData } from '../../gql/graphql';
import { ChoiceField } from '../../components/ChoiceField';
import { DateTimeText } from '../../components/DateTimeText';
import { PAGE_SIZE, PagedTable } from '../../components/PagedTable';
import { PageHeading } from '../../components/PageHeading';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';
import { RegisterUserForm } from './RegisterUserForm';
import { UsersQuery } from './queries';

const STATUSES: readonly UserStatus[] = ['ACTIVE', 'DEACTIVATED', 'ERASED'];

interface Filter {
  email: string;
  namePrefix: string;
  status: UserStatus | '';
}

const noFilter: Filter = { email: '', namePrefix: '', status: '' };

type ListedUser = UsersData['users']['items'][number];

const COLUMNS = [
  'Name',
  'Email',
  'Status',
  { label: 'Credit limit', align: 'right' },
  { label: 'Available', align: 'right' },
  'Registered',
] as const;

function UserCells({ user }: { user: ListedUser }) {
  return (
    <>
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
    </>
  );
}

/** Pages of users for one filter: each "Load more" adds the next page below. */
function UserList({ filter }: { filter: Filter }) {
  return (
    <PagedTable
      label="Users"
      columns={COLUMNS}
      query={UsersQuery}
      variables={(after) => ({
        first: PAGE_SIZE,
        after,
        email: filter.email || null,
        namePrefix: filter.namePrefix || null,
        status: filter.status || null,
      })}
      page={(data) => data.users}
      rowKey={(user) => user.id}
      cells={(user) => <UserCells user={user} />}
      emptyText="No user matches."
    />
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
      <ChoiceField label="Status" value={draft.status} choices={STATUSES} onChange={(status) => setDraft({ ...draft, status })} />
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
