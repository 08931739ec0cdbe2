import type { ReactNode } from 'react';
import { Alert, Link } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import { PageHeading } from './PageHeading';

/** A page that stands in for one the caller may not see or that is not there. */
function Refusal({ title, severity, children }: { title: string; severity: 'warning' | 'info'; children: ReactNode }) {
  return (
    <>
      <PageHeading>{title}</PageHeading>
      <Alert severity={severity}>
        {children}{' '}
        <Link component={RouterLink} to="/">
          Go to your start page
        </Link>
        .
      </Alert>
    </>
  );
}

export function NotAllowed() {
  return (
    <Refusal title="Not allowed" severity="warning">
      You are not allowed to see this page: it is for administrators.
    </Refusal>
  );
}

/** Nothing at this address (or nothing this caller may see, which it does not tell apart). */
export function NotFound({ children = 'There is no page at this address.' }: { children?: ReactNode }) {
  return (
    <Refusal title="Not found" severity="info">
      {children}
    </Refusal>
  );
}
