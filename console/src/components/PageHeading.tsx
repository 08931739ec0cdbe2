import type { ReactNode } from 'react';
import { Box, Typography } from '@mui/material';

/** The page's one h1, with optional actions beside it. */
export function PageHeading({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', flexWrap: 'wrap', gap: 2, mb: 2 }}>
      <Typography variant="h4" component="h1" sx={{ flexGrow: 1 }}>
        {children}
      </Typography>
      {actions}
    </Box>
  );
}
