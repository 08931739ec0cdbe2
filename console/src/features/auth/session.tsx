// Who the token speaks for (`me`), asked once per sign-in: the navigation, the landing page and
// which live-update path an order page takes all depend on it.
import { createContext, useContext, useMemo, type ReactNode } from 'react';
import { Alert, Box, Button, CircularProgress, Stack } from '@mui/material';
import { useQuery } from 'urql';
import { graphql } from '../../gql';
import type { CallerRole as Role } from '../../gql/graphql';
import { describeError } from '../../api/problem';
import { useAuth } from './AuthProvider';

export const MeQuery = graphql(`
  query Me {
    me {
      subject
      role
    }
  }
`);

export interface Session {
  subject: string;
  role: Role;
  /** Administrators and services see every page; customers their own account and orders. */
  isStaff: boolean;
}

const SessionContext = createContext<Session | null>(null);

export function sessionOf(subject: string, role: Role): Session {
  return { subject, role, isStaff: role !== 'CUSTOMER' };
}

export function SessionProvider({ value, children }: { value: Session; children: ReactNode }) {
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** Asks `me`, then renders its children for that caller. */
export function SessionGate({ children }: { children: ReactNode }) {
  const { signOut } = useAuth();
  const [{ data, fetching, error }, reexecute] = useQuery({ query: MeQuery, requestPolicy: 'network-only' });
  const me = data?.me;
  const session = useMemo(() => (me ? sessionOf(me.subject, me.role) : null), [me]);

  if (session) return <SessionProvider value={session}>{children}</SessionProvider>;
  if (error && !fetching) {
    return (
      <Box component="main" sx={{ p: 3 }}>
        <Alert
          severity="error"
          action={
            <Stack direction="row" spacing={1}>
              <Button color="inherit" onClick={() => reexecute({ requestPolicy: 'network-only' })}>
                Try again
              </Button>
              <Button color="inherit" onClick={() => signOut()}>
                Sign out
              </Button>
            </Stack>
          }
        >
          Could not tell who you are. {describeError(error)}
        </Alert>
      </Box>
    );
  }
  return (
    <Box component="main" sx={{ display: 'grid', placeItems: 'center', minHeight: '50vh' }}>
      <CircularProgress aria-label="Signing in" />
    </Box>
  );
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionGate');
  return session;
}
