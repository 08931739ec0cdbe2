import type { ReactNode } from 'react';
import { Box, Table, TableBody, TableCell, TableContainer, TableHead, TableRow } from '@mui/material';
import { visuallyHidden } from './visuallyHidden';

/** A column's header: its text, or the text with how its cells line up. */
export type Column =
  | string
  | {
      label: string;
      align?: 'right';
      /** A narrow column of controls; its header is for screen readers only. */
      control?: boolean;
    };

function columnOf(column: Column): { label: string; align?: 'right'; control?: boolean } {
  return typeof column === 'string' ? { label: column } : column;
}

/** A small table named `label` (its accessible name), with a header row and the rows given. */
export function DataTable({ label, columns, children }: { label: string; columns: readonly Column[]; children: ReactNode }) {
  return (
    <TableContainer>
      <Table size="small" aria-label={label}>
        <TableHead>
          <TableRow>
            {columns.map((column) => {
              const { label: text, align, control } = columnOf(column);
              return control ? (
                <TableCell key={text} padding="checkbox">
                  <Box component="span" sx={visuallyHidden}>
                    {text}
                  </Box>
                </TableCell>
              ) : (
                <TableCell key={text} align={align}>
                  {text}
                </TableCell>
              );
            })}
          </TableRow>
        </TableHead>
        <TableBody>{children}</TableBody>
      </Table>
    </TableContainer>
  );
}

/** One row across `columns` columns: a table's "nothing here" or its last word. */
export function WideRow({ columns, align, children }: { columns: number; align?: 'center'; children: ReactNode }) {
  return (
    <TableRow>
      <TableCell colSpan={columns} align={align}>
        {children}
      </TableCell>
    </TableRow>
  );
}
