import { describe, expect, it } from 'vitest';
import { centsToEuroText, formatCents, parseEurosToCents } from './money';

describe('money', () => {
  it('shows cents as euros with two decimals and grouping', () => {
    expect(formatCents(123456)).toBe('€1,234.56');
    expect(formatCents(5)).toBe('€0.05');
    expect(formatCents(0)).toBe('€0.00');
    expect(formatCents(-250)).toBe('-€2.50');
  });

  it('keeps every cent of large amounts', () => {
    expect(formatCents(123456789012)).toBe('€1,234,567,890.12');
  });

  it('reads euros typed by a person into cents without rounding errors', () => {
    expect(parseEurosToCents('500')).toBe(50000);
    expect(parseEurosToCents('12.5')).toBe(1250);
    expect(parseEurosToCents(' 12,50 ')).toBe(1250);
    expect(parseEurosToCents('0.29')).toBe(29);
    expect(parseEurosToCents('1.005')).toBeNull();
    expect(parseEurosToCents('-1')).toBeNull();
    expect(parseEurosToCents('ten')).toBeNull();
    expect(parseEurosToCents('')).toBeNull();
  });

  it('writes cents back as the euro text a form shows', () => {
    expect(centsToEuroText(1250)).toBe('12.50');
    expect(centsToEuroText(7)).toBe('0.07');
  });
});
