import { useEffect, useState } from 'react';
import { CssBaseline } from '@mui/material';
import { ThemeProvider } from '@mui/material/styles';
import { BrowserRouter } from 'react-router-dom';
import { Provider } from 'urql';
import { createApiClient, type ApiClient } from '../api/client';
import { ErrorBoundary } from '../components/ErrorBoundary';
import { AuthProvider, useAuth } from '../features/auth/AuthProvider';
import { SignInPage } from '../features/auth/SignInPage';
import { SessionGate } from '../features/auth/session';
import { theme } from '../theme/theme';
import { AppRoutes } from './routes';

/** One API client per signed-in token: signing out drops its cache and its WebSocket. */
function SignedIn({ token }: { token: string }) {
  const { signOut } = useAuth();
  const [api, setApi] = useState<ApiClient | null>(null);
  useEffect(() => {
    const next = createApiClient({
      token,
      onUnauthenticated: () => signOut('The gateway refused your token (expired or invalid). Sign in again.'),
    });
    setApi(next);
    return next.dispose;
  }, [token, signOut]);
  if (!api) return null;
  return (
    <Provider value={api.client}>
      <SessionGate>
        <AppRoutes />
      </SessionGate>
    </Provider>
  );
}

function Gate() {
  const { token } = useAuth();
  return token ? <SignedIn token={token} /> : <SignInPage />;
}

export function App({ initialToken }: { initialToken: string | null }) {
  return (
    <ThemeProvider theme={theme} defaultMode="system">
      <CssBaseline enableColorScheme />
      <ErrorBoundary>
        <AuthProvider initialToken={initialToken}>
          <BrowserRouter>
            <Gate />
          </BrowserRouter>
        </AuthProvider>
      </ErrorBoundary>
    </ThemeProvider>
  );
}
