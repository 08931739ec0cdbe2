// The bearer token lives in sessionStorage: it survives a reload, not the tab.

const KEY = 'console.bearerToken';

export function readToken(storage: Storage = window.sessionStorage): string | null {
  const token = storage.getItem(KEY);
  return token && token.trim() !== '' ? token : null;
}

export function storeToken(token: string, storage: Storage = window.sessionStorage): void {
  storage.setItem(KEY, token.trim());
}

export function clearToken(storage: Storage = window.sessionStorage): void {
  storage.removeItem(KEY);
}

/**
 * Takes a token handed over as `/?token=<jwt>`: stores it and removes it from the address bar
 * and the history, so it is neither bookmarked nor shared by copying the URL.
 */
export function takeTokenFromUrl(win: Window = window): string | null {
  const url = new URL(win.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return null;
  url.searchParams.delete('token');
  win.history.replaceState(win.history.state, '', `${url.pathname}${url.search}${url.hash}`);
  if (token.trim() === '') return null;
  storeToken(token, win.sessionStorage);
  return token.trim();
}
