import { describe, expect, it } from 'vitest';
import { rebuildProgress } from './rebuildProgress';

const base = { phase: 'copying', startedAt: '2026-12-05T10:00:00Z', finishedAt: null, error: null };

describe('rebuildProgress', () => {
  it('gives the percentage and the time left at the pace so far', () => {
    const progress = rebuildProgress(
      { ...base, state: 'running', applied: 250, total: 1000 },
      Date.parse('2026-12-05T10:00:10Z'),
    );
    expect(progress.running).toBe(true);
    expect(progress.percent).toBe(25);
    expect(progress.etaSeconds).toBeCloseTo(30);
  });

  it('has no percentage while the total is unknown', () => {
    const progress = rebuildProgress({ ...base, state: 'running', applied: 0, total: 0 }, Date.now());
    expect(progress.percent).toBeNull();
    expect(progress.etaSeconds).toBeNull();
  });

  it('is complete once it succeeded', () => {
    const progress = rebuildProgress({ ...base, state: 'succeeded', applied: 990, total: 1000 }, Date.now());
    expect(progress).toMatchObject({ running: false, succeeded: true, percent: 100 });
  });
});
