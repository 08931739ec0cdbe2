// Reading JSON of a shape the schema does not type (status reports, payloads) without `any`.

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first of `keys` that holds a finite number. */
export function numberField(value: unknown, ...keys: string[]): number | null {
  if (!isObject(value)) return null;
  for (const key of keys) {
    const field = value[key];
    if (typeof field === 'number' && Number.isFinite(field)) return field;
  }
  return null;
}

/** The first of `keys` that holds a non-empty string. */
export function stringField(value: unknown, ...keys: string[]): string | null {
  if (!isObject(value)) return null;
  for (const key of keys) {
    const field = value[key];
    if (typeof field === 'string' && field !== '') return field;
  }
  return null;
}

/** `lag_events` or `lagEvents` → `Lag events`. */
export function humanizeKey(key: string): string {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? String(value);
}
