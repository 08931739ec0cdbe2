import { Link, TableCell } from '@mui/material';
import { Link as RouterLink } from 'react-router-dom';

/** A table cell linking to an aggregate's page by its id, in full or its first 8 characters. */
export function IdLinkCell({ id, to, short = false }: { id: string; to: string; short?: boolean }) {
  return (
    <TableCell sx={{ fontFamily: 'monospace' }}>
      <Link component={RouterLink} to={to}>
        {short ? id.slice(0, 8) : id}
      </Link>
    </TableCell>
  );
}
