import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { readToken, takeTokenFromUrl } from './features/auth/token';

// A token handed over as /?token=… signs in and leaves the address bar before anything renders.
const initialToken = takeTokenFromUrl() ?? readToken();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App initialToken={initialToken} />
  </StrictMode>,
);
