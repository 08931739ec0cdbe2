import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { clearToken, storeToken } from './token';

export interface Auth {
  token: string | null;
  /** Why the last session ended, when it was not the person's own choice. */
  notice: string | null;
  signIn: (token: string) => void;
  signOut: (notice?: string) => void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ initialToken, children }: { initialToken: string | null; children: ReactNode }) {
  const [token, setToken] = useState(initialToken);
  const [notice, setNotice] = useState<string | null>(null);
  const signIn = useCallback((next: string) => {
    storeToken(next);
    setNotice(null);
    setToken(next.trim());
  }, []);
  const signOut = useCallback((why?: string) => {
    clearToken();
    setNotice(why ?? null);
    setToken(null);
  }, []);
  const auth = useMemo(() => ({ token, notice, signIn, signOut }), [token, notice, signIn, signOut]);
  return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthProvider');
  return auth;
}
