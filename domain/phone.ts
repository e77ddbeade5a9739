import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { PaymentMethod } from './payment-methods.ts';

/** Which country's mobile numbers each mobile-money method can charge. */
export const METHOD_COUNTRY: Partial<Record<PaymentMethod, CountryCode>> = {
  mpesa: 'KE',
  ecocash: 'ZW',
  onemoney: 'ZW',
  innbucks: 'ZW',
  omari: 'ZW',
};

/** A number as typed ("0772 123 456", "+263772123456") → digits with the country code (263772123456), or null. */
export function normaliseMobile(input: string, country: CountryCode): string | null {
  const parsed = parsePhoneNumberFromString(input.trim(), country);
  if (!parsed || !parsed.isValid() || parsed.country !== country) return null;
  const type = parsed.getType();
  if (type !== undefined && type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') return null;
  return parsed.number.replace(/^\+/, '');
}

export function phoneForMethod(input: string, method: PaymentMethod): string | null {
  const country = METHOD_COUNTRY[method];
  if (!country) return input.replace(/\D/g, '') || null;
  // As typed: "0772 123 456" is local, "263772123456" international without its plus.
  const compact = input.trim().replace(/[\s().-]/g, '');
  return normaliseMobile(compact.startsWith('+') || compact.length < 11 ? compact : `+${compact}`, country);
}
