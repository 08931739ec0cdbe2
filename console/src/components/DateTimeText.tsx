import { formatDateTime } from '../lib/time';

/** An instant in local time; the exact RFC 3339 text on hover and for machines. */
export function DateTimeText({ value }: { value: string | null | undefined }) {
  if (!value) return <>—</>;
  return (
    <time dateTime={value} title={value}>
      {formatDateTime(value)}
    </time>
  );
}
