// The charts' window onto the recent history the gateway keeps with each health report.
import type { HealthSubscription as HealthData } from '../../gql/graphql';

export type HealthReport = HealthData['health'];
export type HealthSample = HealthReport['history'][number];

export const WINDOW_MS = 5 * 60 * 1000;

/** The samples of the `windowMs` before the report's check, oldest first. */
export function recentSamples(report: HealthReport, windowMs = WINDOW_MS): HealthSample[] {
  const checked = Date.parse(report.checkedAt);
  const samples = report.history
    .map((sample) => ({ sample, at: Date.parse(sample.at) }))
    .filter(({ at }) => !Number.isNaN(at))
    .sort((a, b) => a.at - b.at);
  const end = Number.isNaN(checked) ? (samples[samples.length - 1]?.at ?? 0) : checked;
  return samples.filter(({ at }) => at > end - windowMs).map(({ sample }) => sample);
}
