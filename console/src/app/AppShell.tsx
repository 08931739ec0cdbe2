import { useState, type ReactNode } from 'react';
import {
  AppBar,
  Box,
  Button,
  Chip,
  Divider,
  Drawer,
  IconButton,
  List,
  ListItem,
  ListItemButton,
  ListItemIcon,
  ListItemText,
  Toolbar,
  Typography,
  useMediaQuery,
} from '@mui/material';
import { useTheme } from '@mui/material/styles';
import MenuIcon from '@mui/icons-material/Menu';
import MonitorHeart from '@mui/icons-material/MonitorHeart';
import People from '@mui/icons-material/People';
import Person from '@mui/icons-material/Person';
import ReceiptLong from '@mui/icons-material/ReceiptLong';
import Topic from '@mui/icons-material/Topic';
import Build from '@mui/icons-material/Build';
import Timeline from '@mui/icons-material/Timeline';
import { NavLink, Outlet, useLocation } from 'react-router-dom';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { NetworkBanner } from '../components/NetworkBanner';
import { useAuth } from '../features/auth/AuthProvider';
import { useSession, type Session } from '../features/auth/session';
import { ColorModeToggle } from '../theme/ColorModeToggle';

const DRAWER_WIDTH = 220;

interface NavItem {
  label: string;
  to: string;
  icon: ReactNode;
  end?: boolean;
}

export function navItems(session: Session): NavItem[] {
  if (!session.isStaff) {
    return [
      { label: 'My account', to: `/users/${session.subject}`, icon: <Person /> },
      { label: 'My orders', to: '/orders', icon: <ReceiptLong /> },
    ];
  }
  return [
    { label: 'Health', to: '/', icon: <MonitorHeart />, end: true },
    { label: 'Users', to: '/users', icon: <People /> },
    { label: 'Orders', to: '/orders', icon: <ReceiptLong /> },
    { label: 'Topics', to: '/topics', icon: <Topic /> },
    { label: 'Operations', to: '/operations', icon: <Build /> },
    { label: 'Follow', to: '/follow', icon: <Timeline /> },
  ];
}

function Navigation({ items, onNavigate }: { items: NavItem[]; onNavigate?: () => void }) {
  return (
    <Box component="nav" aria-label="Main">
      <List>
        {items.map((item) => (
          <ListItem key={item.to} disablePadding>
            <ListItemButton
              component={NavLink}
              to={item.to}
              end={item.end ?? false}
              onClick={onNavigate}
              sx={{ '&.active': { bgcolor: 'action.selected', fontWeight: 600 } }}
            >
              <ListItemIcon>{item.icon}</ListItemIcon>
              <ListItemText primary={item.label} />
            </ListItemButton>
          </ListItem>
        ))}
      </List>
    </Box>
  );
}

/** The frame around every signed-in page: app bar, navigation drawer, and the page. */
export function AppShell() {
  const session = useSession();
  const { signOut } = useAuth();
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('md'));
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const items = navItems(session);

  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <AppBar position="fixed" sx={{ zIndex: (t) => t.zIndex.drawer + 1 }}>
        <Toolbar sx={{ gap: 1 }}>
          {!wide && (
            <IconButton color="inherit" edge="start" aria-label="Open navigation" aria-expanded={menuOpen} onClick={() => setMenuOpen(true)}>
              <MenuIcon />
            </IconButton>
          )}
          <Typography variant="h6" component="p" noWrap sx={{ flexGrow: 1 }}>
            CQRS console
          </Typography>
          <Box role="group" aria-label="Signed in as" sx={{ display: "flex", alignItems: "center", gap: 1, minWidth: 0 }}>
            <Typography variant="body2" noWrap sx={{ maxWidth: { xs: 96, sm: 240 }, display: { xs: 'none', sm: 'block' } }} title={session.subject}>
              {session.subject}
            </Typography>
            <Chip label={session.role} size="small" sx={{ flexShrink: 0, bgcolor: 'background.paper', color: 'text.primary' }} />
          </Box>
          <ColorModeToggle />
          <Button color="inherit" onClick={() => signOut()} sx={{ flexShrink: 0, whiteSpace: 'nowrap' }}>
            Sign out
          </Button>
        </Toolbar>
      </AppBar>
      <Drawer
        variant={wide ? 'permanent' : 'temporary'}
        open={wide || menuOpen}
        onClose={() => setMenuOpen(false)}
        ModalProps={{ keepMounted: true }}
        sx={{ width: DRAWER_WIDTH, flexShrink: 0, '& .MuiDrawer-paper': { width: DRAWER_WIDTH, boxSizing: 'border-box' } }}
      >
        <Toolbar />
        <Divider />
        <Navigation items={items} onNavigate={wide ? undefined : () => setMenuOpen(false)} />
      </Drawer>
      <Box component="main" sx={{ flexGrow: 1, minWidth: 0, p: { xs: 2, sm: 3 } }}>
        <Toolbar />
        <NetworkBanner />
        <ErrorBoundary key={location.pathname}>
          <Outlet />
        </ErrorBoundary>
      </Box>
    </Box>
  );
}
