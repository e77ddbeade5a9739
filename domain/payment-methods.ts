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
  /** When an open attempt's status is looked up at the provider (patch `poll-by-method`). */
  polls: PollSchedule;
}

/**
 * Looks at the provider while an attempt is open. The provider's callback is what settles an attempt; a look only
 * catches a callback that was lost, so it is worth making where it can find something. The first wait is
 * PAYMENT_POLL_INTERVAL, each next one `growth` times the last, up to `ceilingMs`.
 */
export interface PollSchedule {
  growth: number;
  ceilingMs: number;
  /**
   * From the prompt going out, when the provider's status query gives a final answer even if the customer never acts:
   * one look is placed there, and after it the waits are the ceiling (what is still open then is a provider late
   * with its own verdict, and its callback settles it).
   */
  finalByMs?: number;
}

/** A prompt on the phone with no known expiry at the provider: a minute at most between looks, as before. */
const PROMPT: PollSchedule = { growth: 1.5, ceilingMs: 60_000 };
/**
 * A hosted page is open for PAYMENT_LINK_TIMEOUT (30 min): a customer on it pays when they pay, and the provider's
 * callback says so. Looks every minute found nothing for most of that half hour; five minutes bounds how late a paid
 * link whose callback was lost is noticed.
 */
const LINK: PollSchedule = { growth: 1.5, ceilingMs: 5 * 60_000 };
/**
 * Daraja's STK prompt expires on the phone about 60 s after the push; the callback then says 1037 (no answer from the
 * customer) and the STK query answers with that final code instead of "being processed". Looks before that can only
 * find an approval whose callback was lost; the one at 75 s (15 s for Daraja to record the expiry) ends every prompt
 * nobody answered, so polls after it are rare.
 */
const MPESA_STK: PollSchedule = { growth: 1.5, ceilingMs: 5 * 60_000, finalByMs: 75_000 };

export const PAYMENT_METHODS: Record<PaymentMethod, MethodFacts> = {
  mpesa: { provider: 'mpesa', link: false, polls: MPESA_STK },
  ecocash: { provider: 'paynow', link: false, polls: PROMPT },
  onemoney: { provider: 'paynow', link: false, polls: PROMPT },
  innbucks: { provider: 'paynow', link: false, polls: PROMPT },
  paynow_web: { provider: 'paynow', link: true, polls: LINK },
  // A ZimSwitch bank card, paid on Paynow's hosted page (Paynow's express checkout has no ZimSwitch method).
  zimswitch: { provider: 'paynow', link: true, polls: LINK },
  omari: { provider: 'omari', link: false, polls: PROMPT },
  razorpay_link: { provider: 'razorpay', link: true, polls: LINK },
  // M-Pesa through Ghala (seed 001): Ghala sends the STK prompt and reports by a signed webhook. Whether Ghala's order
  // lookup turns final when the prompt expires is unconfirmed (protocols.md §8), so no look is placed on it.
  ghala_mpesa: { provider: 'ghala', link: false, polls: PROMPT },
  cash: { provider: 'cash', link: false, polls: PROMPT },
};

/**
 * How long to wait before the next look at an open attempt: `previousMs` the last wait (none before the first look),
 * `elapsedMs` the time since the prompt or link went out.
 */
export function nextPollWait(method: PaymentMethod, firstMs: number, previousMs: number | undefined, elapsedMs: number): number {
  const { growth, ceilingMs, finalByMs } = PAYMENT_METHODS[method].polls;
  const grown = previousMs === undefined ? firstMs : Math.min(previousMs * growth, ceilingMs);
  if (finalByMs === undefined) return Math.max(1, grown);
  return Math.max(1, elapsedMs < finalByMs ? Math.min(grown, finalByMs - elapsedMs) : ceilingMs);
}

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
