// Whether the gateway answers: set by the client on every result, read by the banner that
// tells a person the data on screen may be stale.
import { useSyncExternalStore } from 'react';

type Listener = () => void;

let problem: string | null = null;
const listeners = new Set<Listener>();

export const connection = {
  /** `null` once the gateway answers again; otherwise what went wrong. */
  report(next: string | null): void {
    if (next === problem) return;
    problem = next;
    listeners.forEach((listener) => listener());
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  current(): string | null {
    return problem;
  },
};

export function useConnectionProblem(): string | null {
  return useSyncExternalStore(connection.subscribe, connection.current, connection.current);
}
