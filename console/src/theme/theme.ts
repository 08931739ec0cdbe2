// The console's one theme, with a light and a dark scheme; which one shows follows the
// operating system until the person picks one (kept in localStorage by MUI).
import { createTheme } from '@mui/material/styles';

export const theme = createTheme({
  cssVariables: { colorSchemeSelector: 'class' },
  colorSchemes: {
    light: {
      palette: {
        primary: { main: '#1b5e9e' },
        success: { main: '#2e7d32' },
        warning: { main: '#a15300' },
        info: { main: '#01579b' },
      },
    },
    dark: {
      palette: {
        primary: { main: '#8ab8f0' },
      },
    },
  },
  shape: { borderRadius: 8 },
  components: {
    MuiTableCell: { styleOverrides: { head: { fontWeight: 600 } } },
    // A table wider than a phone scrolls sideways; the keyboard must be able to scroll it too.
    MuiTableContainer: {
      defaultProps: { tabIndex: 0 },
      styleOverrides: { root: { '&:focus-visible': { outline: '2px solid', outlineOffset: 2 } } },
    },
  },
});
