import { Alert, AlertTitle } from '@mui/material';
import { useConnectionProblem } from '../api/connection';

/** Says so when the gateway does not answer; the page keeps what it last showed. */
export function NetworkBanner() {
  const problem = useConnectionProblem();
  if (!problem) return null;
  return (
    <Alert severity="warning" role="alert" sx={{ mb: 2 }}>
      <AlertTitle>The gateway is not answering</AlertTitle>
      {problem}. What you see may be out of date; try again once it answers.
    </Alert>
  );
}
