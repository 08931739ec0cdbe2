// How far a rebuild is and when it should end, from the status the service reports.
import type { RebuildStatusFieldsFragment } from '../../gql/graphql';

export type RebuildStatus = RebuildStatusFieldsFragment;

export interface RebuildProgress {
  running: boolean;
  succeeded: boolean;
  failed: boolean;
  /** 0 to 100, or null when the total is not known (an indeterminate bar). */
  percent: number | null;
  /** Seconds left at the pace so far, or null before there is a pace. */
  etaSeconds: number | null;
}

export function rebuildProgress(status: RebuildStatus, nowMs: number): RebuildProgress {
  const state = status.state.toLowerCase();
  const running = state === 'running';
  const succeeded = state === 'succeeded';
  const failed = state === 'failed';
  const percent = succeeded ? 100 : status.total > 0 ? Math.min(100, (status.applied / status.total) * 100) : null;
  let etaSeconds: number | null = null;
  const started = status.startedAt ? Date.parse(status.startedAt) : NaN;
  if (running && status.total > 0 && status.applied > 0 && !Number.isNaN(started) && nowMs > started) {
    const perSecond = status.applied / ((nowMs - started) / 1000);
    etaSeconds = Math.max(0, (status.total - status.applied) / perSecond);
  }
  return { running, succeeded, failed, percent, etaSeconds };
}
