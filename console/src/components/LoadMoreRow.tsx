import { Button, CircularProgress } from '@mui/material';
import type { CombinedError } from 'urql';
import { describeError } from '../api/problem';
import { WideRow } from './DataTable';

export interface PageEndProps {
  columns: number;
  fetching: boolean;
  error: CombinedError | undefined;
  nextCursor: string | null | undefined;
  /** No rows on this page and it is the first: the list is empty. */
  empty: boolean;
  emptyText: string;
  onLoadMore: (cursor: string) => void;
  onRetry: () => void;
}

/** The last row of a paged table: loading, an error, "Load more", or that nothing matched. */
export function PageEndRow({ columns, fetching, error, nextCursor, empty, emptyText, onLoadMore, onRetry }: PageEndProps) {
  let content;
  if (fetching) {
    content = <CircularProgress size={20} aria-label="Loading" />;
  } else if (error) {
    content = (
      <>
        {describeError(error)}{' '}
        <Button size="small" onClick={onRetry}>
          Try again
        </Button>
      </>
    );
  } else if (nextCursor) {
    content = (
      <Button variant="outlined" size="small" onClick={() => onLoadMore(nextCursor)}>
        Load more
      </Button>
    );
  } else if (empty) {
    content = emptyText;
  } else {
    return null;
  }
  return (
    <WideRow columns={columns} align="center">
      {content}
    </WideRow>
  );
}
