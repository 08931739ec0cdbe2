import { Alert, Link } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';
import { PageHeading } from './PageHeading';

export function NotAllowed() {
  return (
    <>
      <PageHeading>Not allowed</PageHeading>
      <Alert severity="warning">
        You are not allowed to see this page: it is for administrators.{' '}
        <Link component={RouterLink} to="/">
          Go to your start page
        </Link>
        .
      </Alert>
    </>
  );
}

export function NotFound() {
  return (
    <>
      <PageHeading>Not found</PageHeading>
      <Alert severity="info">
        There is no page at this address.{' '}
        <Link component={RouterLink} to="/">
          Go to your start page
        </Link>
        .
      </Alert>
    </>
  );
}
