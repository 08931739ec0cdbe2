import { TableCell } from '@mui/material';
import type { Column } from '../../components/DataTable';
import { DateTimeText } from '../../components/DateTimeText';
import { IdLinkCell } from '../../components/IdLink';
import { StatusChip } from '../../components/StatusChip';
import { formatCents } from '../../lib/money';

export interface ListedOrder {
  id: string;
  status: string;
  totalCents: number;
  currency: string;
  placedAt: string;
  userId?: string;
}

/** The columns of a list of orders, with the user's when the list is of several users. */
export function orderColumns(showUser: boolean): Column[] {
  return ['Order', ...(showUser ? ['User'] : []), 'Status', { label: 'Total', align: 'right' }, 'Placed'];
}

/** An order's cells in a list: its id (short, or whole), its user's, status, total and date. */
export function OrderCells({ order, showUser = false, shortId = false }: { order: ListedOrder; showUser?: boolean; shortId?: boolean }) {
  return (
    <>
      <IdLinkCell id={order.id} to={`/orders/${order.id}`} short={shortId} />
      {showUser && order.userId !== undefined && <IdLinkCell id={order.userId} to={`/users/${order.userId}`} short />}
      <TableCell>
        <StatusChip status={order.status} />
      </TableCell>
      <TableCell align="right">{formatCents(order.totalCents, order.currency)}</TableCell>
      <TableCell>
        <DateTimeText value={order.placedAt} />
      </TableCell>
    </>
  );
}
