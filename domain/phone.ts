import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { detectIntent } from './intents.ts';
import { PROVIDER_OF, type PaymentMethod } from './payment-methods.ts';

/** Which country's mobile numbers each mobile-money method can charge. */
export const METHOD_COUNTRY: Partial<Record<PaymentMethod, CountryCode>> = {
  mpesa: 'KE',
  ghala_mpesa: 'KE',
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

/**
 * Which mobile networks a method's wallet lives on, by the national number's prefix (after the country code): M-Pesa
 * is Safaricom's (Communications Authority of Kenya allocations 70x–72x, 740–743, 745, 746, 748, 757–759, 768, 769,
 * 79x, 110–115), EcoCash is Econet's (77x, 78x), OneMoney is NetOne's (71x). InnBucks and O'mari take any number of
 * their country.
 */
const SAFARICOM = { name: 'Safaricom', prefix: /^(7[0-2]\d|74[0-35-68]|75[7-9]|76[89]|79\d|11[0-5])/ };
const NETWORKS: Partial<Record<PaymentMethod, { name: string; prefix: RegExp }>> = {
  mpesa: SAFARICOM,
  ghala_mpesa: SAFARICOM,
  ecocash: { name: 'Econet', prefix: /^7[78]/ },
  onemoney: { name: 'NetOne', prefix: /^71/ },
};

export const takesNumber = (method: PaymentMethod): boolean => METHOD_COUNTRY[method] !== undefined;

/** The network a method needs, to name it when a number is on another one. */
export const networkOf = (method: PaymentMethod): string | undefined => NETWORKS[method]?.name;

export type PayerNumber = { ok: true; phone: string } | { ok: false; why: 'invalid' | 'wrong_network' };

/** The number a customer typed to pay from, checked for the method's country and network. */
export function payerNumber(input: string, method: PaymentMethod): PayerNumber {
  const phone = phoneForMethod(input, method);
  const country = METHOD_COUNTRY[method];
  if (!phone || !country) return { ok: false, why: 'invalid' };
  const network = NETWORKS[method];
  const national = phone.slice(phone.length - 9);
  if (network && !network.prefix.test(national)) return { ok: false, why: 'wrong_network' };
  return { ok: true, phone };
}

/** A local example of a number for the method, as a customer would type it. */
const EXAMPLES: Partial<Record<CountryCode, string>> = { KE: '0712 345 678', ZW: '0772 123 456' };
export function exampleNumber(method: PaymentMethod): string {
  const country = METHOD_COUNTRY[method];
  return (country && EXAMPLES[country]) ?? '';
}

/** "…678": enough for a customer to recognise the number, never the number. */
export const maskedNumber = (phone: string): string => `…${phone.slice(-3)}`;

/** What a customer answered to "which number should pay?": this WhatsApp number, or another one checked for the method. */
export type PayerReply = { own: true } | PayerNumber;
export function readPayerReply(text: string, method: PaymentMethod): PayerReply {
  return detectIntent(text) === 'this_number' ? { own: true } : payerNumber(text, method);
}

/** Providers that send the payer a receipt by e-mail when given one (Paynow's authemail, Razorpay's customer.email). */
export const takesEmail = (method: PaymentMethod): boolean => PROVIDER_OF[method] === 'paynow' || PROVIDER_OF[method] === 'razorpay';

/** An e-mail address as people type one; the provider is the judge of whether it exists. */
export function readEmail(text: string): string | null {
  const t = text.trim();
  return t.length <= 254 && /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[a-z]{2,}$/i.test(t) ? t.toLowerCase() : null;
}
