// Amounts travel as integer cents; the console shows them as currency and reads euros typed by
// a person back into cents without going through floating point.

const formatters = new Map<string, Intl.NumberFormat>();

function formatterFor(currency: string): Intl.NumberFormat {
  let formatter = formatters.get(currency);
  if (!formatter) {
    formatter = new Intl.NumberFormat('en-IE', { style: 'currency', currency });
    formatters.set(currency, formatter);
  }
  return formatter;
}

/** `123456` cents as `€1,234.56` (or in the given ISO 4217 currency). */
export function formatCents(cents: number, currency = 'EUR'): string {
  const amount = cents / 100;
  try {
    return formatterFor(currency).format(amount);
  } catch {
    // An unknown currency code: show the number and the code as given.
    return `${amount.toFixed(2)} ${currency}`;
  }
}

const EUROS = /^(\d{1,13})(?:[.,](\d{1,2}))?$/;

/** Euros as typed (`500`, `12.5`, `12,50`) into cents; `null` if it is not such an amount. */
export function parseEurosToCents(text: string): number | null {
  const match = EUROS.exec(text.trim());
  if (!match) return null;
  const [, euros = '0', cents = ''] = match;
  const value = Number(euros) * 100 + Number(cents.padEnd(2, '0'));
  return Number.isSafeInteger(value) ? value : null;
}

/** Cents as the euro text a form field shows (`1250` → `12.50`). */
export function centsToEuroText(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
