import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { Sparkline, sparklinePoints } from './Sparkline';

function pointsOf(line: Element): Array<[number, number]> {
  return (line.getAttribute('points') ?? '')
    .trim()
    .split(/\s+/)
    .map((pair) => pair.split(',').map(Number) as [number, number]);
}

describe('Sparkline', () => {
  it('draws one point per value, left to right, higher values higher up', () => {
    render(<Sparkline label="Commands per second" values={[0, 5, 10]} width={100} height={40} />);
    const chart = screen.getByRole('img', { name: /Commands per second: now 10, highest 10 over 3 samples/ });
    const line = chart.querySelector('polyline');
    expect(line).not.toBeNull();
    const points = pointsOf(line as Element);
    expect(points).toHaveLength(3);
    const [first, middle, last] = points as [[number, number], [number, number], [number, number]];
    expect(first[0]).toBeLessThan(middle[0]);
    expect(middle[0]).toBeLessThan(last[0]);
    expect(first[1]).toBeGreaterThan(middle[1]);
    expect(middle[1]).toBeGreaterThan(last[1]);
    expect(screen.getByText('Commands per second: 10')).toBeInTheDocument();
  });

  it('says there is no data for an empty series and draws no line', () => {
    render(<Sparkline label="Total consumer lag" values={[]} />);
    const chart = screen.getByRole('img', { name: 'Total consumer lag: no data yet' });
    expect(chart.querySelector('polyline')).toBeNull();
    expect(screen.getByText('Total consumer lag: no data yet')).toBeInTheDocument();
  });

  it('keeps a flat series inside the box', () => {
    const points = sparklinePoints([3, 3, 3], 100, 40);
    expect(points).toHaveLength(3);
    for (const [x, y] of points) {
      expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(40);
    }
  });

  it('places a single value without dividing by zero', () => {
    expect(sparklinePoints([7], 100, 40)).toEqual([[50, 3]]);
  });
});
