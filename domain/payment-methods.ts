/**
 * Payment-method facts in one table: which provider takes a method, whether the customer pays on a page (a link that
 * lives longer) or approves a prompt, and whether duka can refund through the provider. Workflows, screens and
 * providers all read this; nothing here knows how a provider is called.
 */
export type ProviderId = 'mpesa' | 'paynow' | 'omari' | 'razorpay' | 'ghala' | 'cash';

/** What a customer picks; several methods can share one provider. */
export type PaymentMethod =
  | 'mpesa'
  | 'ecocash'
  | 'onemoney'
  | 'innbucks'
  | 'paynow_web'
  | 'zimswitch'
  | 'omari'
  | 'razorpay_link'
  | 'ghala_mpesa'
  | 'cash';

export interface MethodFacts {
  provider: ProviderId;
  /** The customer pays on a hosted page: the attempt waits the (longer) link timeout. */
  link: boolean;
}

export const PAYMENT_METHODS: Record<PaymentMethod, MethodFacts> = {
  mpesa: { provider: 'mpesa', link: false },
  ecocash: { provider: 'paynow', link: false },
  onemoney: { provider: 'paynow', link: false },
  innbucks: { provider: 'paynow', link: false },
  paynow_web: { provider: 'paynow', link: true },
  // A ZimSwitch bank card, paid on Paynow's hosted page (Paynow's express checkout has no ZimSwitch method).
  zimswitch: { provider: 'paynow', link: true },
  omari: { provider: 'omari', link: false },
  razorpay_link: { provider: 'razorpay', link: true },
  // M-Pesa through Ghala (seed 001): Ghala sends the STK prompt and reports by a signed webhook.
  ghala_mpesa: { provider: 'ghala', link: false },
  cash: { provider: 'cash', link: false },
};

export const PROVIDER_OF: Record<PaymentMethod, ProviderId> = Object.fromEntries(
  Object.entries(PAYMENT_METHODS).map(([method, facts]) => [method, facts.provider]),
) as Record<PaymentMethod, ProviderId>;

export const isLinkMethod = (method: PaymentMethod): boolean => PAYMENT_METHODS[method].link;

/** Why a payment did not go through, in words the customer is told (domain/i18n.ts). */
export type FailureReason =
  | 'cancelled_by_customer'
  | 'wrong_pin'
  | 'wrong_otp'
  | 'insufficient_funds'
  | 'invalid_number'
  | 'timeout'
  | 'limit_exceeded'
  | 'declined'
  | 'expired'
  | 'provider_error';
