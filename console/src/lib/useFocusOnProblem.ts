import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * Moves the focus to the first field with a problem once a submit has failed, so a person at
 * the keyboard (or a screen reader) lands on what to fix. `inputRef(field)` ties a field's input
 * to its name; call `failed()` after setting the problems of a failed submit.
 */
export function useFocusOnProblem(fields: readonly string[], problems: Readonly<Record<string, string | undefined>>) {
  const inputs = useRef(new Map<string, HTMLInputElement | HTMLTextAreaElement | null>());
  const [failures, setFailures] = useState(0);
  const latest = useRef({ fields, problems });
  latest.current = { fields, problems };

  useEffect(() => {
    if (failures === 0) return;
    const { fields: names, problems: now } = latest.current;
    const first = names.find((name) => now[name]);
    if (first !== undefined) inputs.current.get(first)?.focus();
  }, [failures]);

  const inputRef = useCallback(
    (field: string) => (element: HTMLInputElement | HTMLTextAreaElement | null) => {
      inputs.current.set(field, element);
    },
    [],
  );
  const failed = useCallback(() => setFailures((count) => count + 1), []);
  return { inputRef, failed };
}
