// A projection's status as the service reports it (JSON): the fields known today get labels;
// whatever else it carries is still shown, named from its key.
import { humanizeKey, isObject, type JsonObject } from '../../lib/json';

const LABELS: Record<string, string> = {
  projection: 'Schema',
  stored_events: 'Stored events',
  applied_events: 'Applied events',
  lag_events: 'Lag (events)',
  lag_seconds: 'Lag (seconds)',
  aggregates: 'Aggregates',
  parked: 'Parked',
  skipped: 'Skipped',
  pending: 'Pending (waiting for a gap)',
};

/** Shown elsewhere on the card (the rebuild) or summarised (the consumer). */
const SEPARATE = new Set(['rebuild', 'consumer']);

export interface ProjectionFacts {
  facts: Array<[string, string]>;
  /** Nested values with no summary, shown as JSON. */
  rest: JsonObject;
  warning: string | null;
}

function show(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(1);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (value === null) return '—';
  return String(value);
}

export function projectionFacts(status: unknown): ProjectionFacts {
  const result: ProjectionFacts = { facts: [], rest: {}, warning: null };
  if (!isObject(status)) return result;
  const known = Object.keys(LABELS).filter((key) => key in status);
  const others = Object.keys(status).filter((key) => !(key in LABELS) && !SEPARATE.has(key));
  for (const key of known) result.facts.push([LABELS[key] ?? humanizeKey(key), show(status[key])]);
  for (const key of others) {
    const value = status[key];
    if (typeof value === 'object' && value !== null) result.rest[key] = value;
    else result.facts.push([humanizeKey(key), show(value)]);
  }
  const consumer = status.consumer;
  if (isObject(consumer)) {
    if (typeof consumer.assigned_partitions === 'number') {
      result.facts.push(['Partitions held', show(consumer.assigned_partitions)]);
    }
    if (typeof consumer.warning === 'string' && consumer.warning !== '') result.warning = consumer.warning;
  }
  return result;
}
