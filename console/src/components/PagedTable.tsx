// A list the gateway serves in pages (`first`, `after`, `nextCursor`): a table that asks for the
// first page and adds the next one below on each "Load more". Give it a `key` that changes with
// its filter, so a new filter starts again from the first page.
import { useState, type ReactNode } from 'react';
import { TableRow } from '@mui/material';
import { useQuery, type AnyVariables, type DocumentInput } from 'urql';
import { DataTable, type Column } from './DataTable';
import { PageEndRow } from './LoadMoreRow';

/** How many rows a page asks for. */
export const PAGE_SIZE = 20;

export interface Page<Item> {
  items: readonly Item[];
  nextCursor?: string | null;
}

export interface PagedTableProps<Data, Variables extends AnyVariables, Item> {
  /** The table's accessible name. */
  label: string;
  columns: readonly Column[];
  query: DocumentInput<Data, Variables>;
  /** The variables that ask for the page after `after` (`null`: the first page). */
  variables: (after: string | null) => Variables;
  /** Where the page is in the query's answer. */
  page: (data: Data) => Page<Item>;
  rowKey: (item: Item) => string;
  /** The cells of an item's row. */
  cells: (item: Item) => ReactNode;
  /** Said when the first page is empty. */
  emptyText: string;
}

type PageRowsProps<Data, Variables extends AnyVariables, Item> = PagedTableProps<Data, Variables, Item> & {
  after: string | null;
  isLast: boolean;
  onLoadMore: (cursor: string) => void;
};

function PageRows<Data, Variables extends AnyVariables, Item>({
  query,
  variables,
  page,
  rowKey,
  cells,
  columns,
  emptyText,
  after,
  isLast,
  onLoadMore,
}: PageRowsProps<Data, Variables, Item>) {
  const [{ data, fetching, error }, reexecute] = useQuery<Data, Variables>({ query, variables: variables(after) });
  const answer = data === undefined ? undefined : page(data);
  const items = answer?.items ?? [];
  return (
    <>
      {items.map((item) => (
        <TableRow key={rowKey(item)} hover>
          {cells(item)}
        </TableRow>
      ))}
      {isLast && (
        <PageEndRow
          columns={columns.length}
          fetching={fetching && items.length === 0}
          error={error}
          nextCursor={answer?.nextCursor}
          empty={after === null && items.length === 0}
          emptyText={emptyText}
          onLoadMore={onLoadMore}
          onRetry={() => reexecute({ requestPolicy: 'network-only' })}
        />
      )}
    </>
  );
}

/** Pages of a list in one table: each "Load more" adds the next page below. */
export function PagedTable<Data, Variables extends AnyVariables, Item>(props: PagedTableProps<Data, Variables, Item>) {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  return (
    <DataTable label={props.label} columns={props.columns}>
      {cursors.map((after, index) => (
        <PageRows
          key={after ?? 'first'}
          {...props}
          after={after}
          isLast={index === cursors.length - 1}
          onLoadMore={(cursor) => setCursors((current) => [...current, cursor])}
        />
      ))}
    </DataTable>
  );
}
