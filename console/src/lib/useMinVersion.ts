import { useCallback } from 'react';
import { useSearchParams } from 'react-router-dom';

/**
 * The version a page must at least show (`?minVersion=`): after a command the page reads its
 * aggregate with the version the command returned, so it shows the person's own write.
 */
export function useMinVersion(): [number | undefined, (version: number) => void] {
  const [params, setParams] = useSearchParams();
  const raw = Number(params.get('minVersion'));
  const minVersion = Number.isInteger(raw) && raw > 0 ? raw : undefined;
  const setMinVersion = useCallback(
    (version: number) =>
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          const before = Number(next.get('minVersion'));
          next.set('minVersion', String(Number.isInteger(before) ? Math.max(before, version) : version));
          return next;
        },
        { replace: true },
      ),
    [setParams],
  );
  return [minVersion, setMinVersion];
}
