import { dinero, toDecimal, KES, USD, INR, type DineroCurrency } from 'dinero.js';

/** Money is always an integer count of the currency's minor unit (cents, paise) plus an ISO 4217 code. */
export interface Money {
  amount: number;
  currency: CurrencyCode;
}

export const CURRENCIES = { KES, USD, INR } as const satisfies Record<string, DineroCurrency<number>>;
export type CurrencyCode = keyof typeof CURRENCIES;

export function isCurrencyCode(code: string): code is CurrencyCode {
  return Object.hasOwn(CURRENCIES, code);
}

export function money(amount: number, currency: CurrencyCode): Money {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount must be an integer of minor units, got ${amount}`);
  return { amount, currency };
}

/** Minor units → the provider's decimal string ("1500.00"). */
export function toDecimalString(m: Money): string {
  return toDecimal(dinero({ amount: m.amount, currency: CURRENCIES[m.currency] }));
}

/** A decimal as typed by a person or sent by a provider ("12.5", 12.5, "1,500") → minor units; null when it is not a clean amount. */
export function parseDecimal(input: string | number, currency: CurrencyCode): number | null {
  const text = String(input).trim().replace(/,/g, '');
  if (!/^\d+(\.\d+)?$/.test(text)) return null;
  const exponent = CURRENCIES[currency].exponent;
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > exponent && /[1-9]/.test(fraction.slice(exponent))) return null;
  const minor = Number(whole) * 10 ** exponent + Number((fraction + '0'.repeat(exponent)).slice(0, exponent) || '0');
  return Number.isSafeInteger(minor) ? minor : null;
}

/** "KES 1,500" / "USD 150.00": what a customer reads. */
export function formatMoney(m: Money): string {
  const exponent = CURRENCIES[m.currency].exponent;
  const value = m.amount / 10 ** exponent;
  const digits = m.amount % 10 ** exponent === 0 && m.currency === 'KES' ? 0 : exponent;
  return `${m.currency} ${value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

export function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}
