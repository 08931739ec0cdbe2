import { Alert, Button } from '@mui/material';
import type { CombinedError } from 'urql';
import { describeError } from '../api/problem';

/** A failed query or command, said in the service's words, with an optional retry. */
export function ErrorAlert({ error, onRetry }: { error: CombinedError; onRetry?: () => void }) {
  return (
    <Alert
      severity="error"
      action={
        onRetry && (
          <Button color="inherit" onClick={onRetry}>
            Try again
          </Button>
        )
      }
    >
      {describeError(error)}
    </Alert>
  );
}

/** Errors of a form that belong to no single field. */
export function FormProblems({ messages }: { messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <Alert severity="error">
      {messages.length === 1 ? (
        messages[0]
      ) : (
        <ul style={{ margin: 0, paddingLeft: '1.25rem' }}>
          {messages.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      )}
    </Alert>
  );
}
