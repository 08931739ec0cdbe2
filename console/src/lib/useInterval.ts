import { useEffect, useRef } from 'react';

/** Calls `callback` every `ms` milliseconds while `ms` is a number; `null` stops it. */
export function useInterval(callback: () => void, ms: number | null): void {
  const latest = useRef(callback);
  latest.current = callback;
  useEffect(() => {
    if (ms === null) return undefined;
    const timer = window.setInterval(() => latest.current(), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
}
