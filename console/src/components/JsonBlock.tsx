import { Box } from '@mui/material';
import { prettyJson } from '../lib/json';

/** JSON pretty-printed in a scrollable block that the keyboard can scroll too. */
export function JsonBlock({ value, label, maxHeight = 360 }: { value: unknown; label: string; maxHeight?: number }) {
  return (
    <Box
      component="pre"
      tabIndex={0}
      role="region"
      aria-label={label}
      sx={{
        m: 0,
        p: 1.5,
        maxHeight,
        overflow: 'auto',
        fontFamily: 'monospace',
        fontSize: '0.8125rem',
        bgcolor: 'action.hover',
        borderRadius: 1,
        whiteSpace: 'pre-wrap',
        wordBreak: 'break-word',
        '&:focus-visible': { outline: '2px solid', outlineColor: 'primary.main' },
      }}
    >
      {prettyJson(value)}
    </Box>
  );
}
