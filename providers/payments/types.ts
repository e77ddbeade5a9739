import type { CurrencyCode, Money } from '../../domain/money.ts';

/**
 * One shape for every payment provider (after Medusa's payment provider interface): initiate with an idempotency key,
 * read status, cancel, refund, and turn a callback into a normalised event. Provider data is opaque to the rest of duka:
 * it is stored on the payment row and handed back to the provider on every later call.
 */
export type { ProviderId, PaymentMethod, FailureReason } from '../../domain/payment-methods.ts';
export { PROVIDER_OF } from '../../domain/payment-methods.ts';
import type { PaymentMethod, FailureReason, ProviderId } from '../../domain/payment-methods.ts';

export type ProviderData = Record<string, unknown>;

export interface PaymentContext {
  /** Stable per attempt: the same key never charges twice. */
  idempotencyKey: string;
  /** duka's payment reference (unique per attempt), echoed back by the provider. */
  reference: string;
  orderNumber: string;
  description: string;
  /** Where the provider posts its callback (already carries any per-payment token). */
  callbackUrl: string;
  /** Where a browser returns after a hosted page (Paynow web, Razorpay). */
  returnUrl: string;
  /** Digits only, country code first (2547…, 2637…, 91…), already validated for the method. */
  customerPhone?: string;
  customerEmail?: string;
  customerName?: string;
  /** Unix seconds after which a payment link must stop working. */
  expiresAt?: number;
}

export interface InitiateInput {
  amount: Money;
  method: PaymentMethod;
  context: PaymentContext;
}

/** What the customer has to do next, so the order workflow can tell them. */
export type CustomerAction =
  | { type: 'approve_on_phone' }
  | { type: 'open_url'; url: string }
  | { type: 'enter_otp' }
  | { type: 'none' };

export interface InitiateResult {
  /** The provider's own unique id for this payment request (never a display code such as O'mari's otpReference). */
  providerReference?: string;
  data: ProviderData;
  customerAction: CustomerAction;
}

/**
 * What a retried initiation learns when the first call's answer was lost (the worker died, the reply timed out): the
 * provider may have started the payment, so it is never simply asked again.
 * - `found`: the provider told what the first call started (Razorpay: the link with this reference_id).
 * - `absent`: the provider says the first call started nothing, so initiating again is safe.
 * - `wait`: nobody can tell now; the customer is told to act and the callback (matched by the attempt's own token or
 *   reference) or a status query settles it, or the attempt expires.
 * - `unusable`: whatever was started cannot be used (the customer never got the OTP reference, the hosted page or the
 *   app code): the attempt ends with `reason` and the customer may try again. No money moves without them.
 */
export type LostInitiation =
  | { kind: 'found'; result: InitiateResult }
  | { kind: 'absent' }
  | { kind: 'wait'; customerAction: CustomerAction }
  | { kind: 'unusable'; reason: FailureReason; message: string };

export type PaymentStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

/** Why a payment did not go through, in terms a customer message can be chosen from. */
export interface NormalisedPaymentEvent {
  /** duka's payment reference, when the provider echoes it. */
  reference?: string;
  /** Provider's own id for the payment request (CheckoutRequestID, pollurl, payment link id, …) to find the payment. */
  providerReference?: string;
  status: PaymentStatus;
  amount?: Money;
  /** The receipt the customer knows (M-Pesa receipt, Paynow reference, Razorpay payment id). */
  transactionReference?: string;
  failureReason?: FailureReason;
  failureMessage?: string;
  /** Unique per delivery of this fact; duplicates are dropped on it. */
  dedupKey: string;
  raw: unknown;
  /**
   * The provider data this callback reveals (M-Pesa's CheckoutRequestID, Paynow's poll URL): adopted by a payment whose
   * initiation answer was lost, so that a status query can confirm it.
   */
  providerData?: ProviderData;
}

export interface RefundResult {
  status: 'succeeded' | 'pending' | 'failed';
  providerReference?: string;
  data: ProviderData;
}

/** An inbound provider callback as the generic webhook route hands it over: nothing in it is trusted yet. */
export interface WebhookRequest {
  /** Exactly the bytes received: signatures and hashes are over them. */
  rawBody: Buffer;
  header(name: string): string | undefined;
  /** The token in the callback URL's path, for a provider that is given one (M-Pesa). */
  pathToken?: string;
}

/** Which payment a callback claims to be about, read before anything is verified: only for finding the payment. */
export type WebhookClaim = { by: 'callbackToken' | 'reference' | 'providerReference'; value: string };

/** The payment a callback claims to be about, as duka holds it. */
export interface WebhookPayment {
  reference: string;
  currency: CurrencyCode;
  /** The provider's own id for it; null while its initiation answer is lost. */
  providerReference: string | null;
}

/**
 * A provider's reading of one callback, after Medusa's `getWebhookActionAndData`: the provider verifies it (signature,
 * hash, or that it is about the payment whose token it used) and normalises it; the route only stores the evidence,
 * drops duplicates and signals the order workflow.
 * - a payment status: `data` is the normalised event (a hint only: the workflow confirms with the provider);
 * - `not_supported`: a genuine event duka does not act on, answered 2xx so the provider does not retry it;
 * - `forged`: not from the provider, or not about this payment: 401/403, a security event, nothing touched;
 * - `malformed`: authentic, but not a body the provider documents: 400.
 */
export type WebhookActionAndData =
  | { action: PaymentStatus; data: NormalisedPaymentEvent }
  | { action: 'not_supported'; data: { dedupKey: string; raw: unknown } }
  | { action: 'forged'; data: { message: string } }
  | { action: 'malformed'; data: { message: string } };

/** What the generic webhook route knows of a provider before any shop's credentials are at hand. */
export interface WebhookSpec {
  provider: ProviderId;
  /** Mounted at `/webhooks/<path>`, and at `/webhooks/<path>/:token` when the callback URL carries a token. */
  path: string;
  tokenInPath: boolean;
  claim(req: WebhookRequest): WebhookClaim | null;
  /**
   * A claim that finds no payment of this provider: refused as `forged`; answered 404 (`not_found`); or verified with
   * every credential duka knows and, if genuine, stored and answered 2xx (`verify_any`: other events on the merchant
   * account must not make the provider disable the webhook).
   */
  unknownPayment: 'forged' | 'not_found' | 'verify_any';
  /** The HTTP status and error code of a forged delivery (CONTRACT.md). */
  forged: { status: 401 | 403; code: string; message: string };
  /** The body the provider expects when a delivery is taken, new or repeated. */
  accepted: unknown;
}

export interface PaymentProvider {
  readonly id: ProviderId;
  initiate(input: InitiateInput): Promise<InitiateResult>;
  /**
   * Called instead of `initiate` when an earlier call for the same attempt may have reached the provider and its
   * answer was lost. Must not start a second payment. Absent: `wait` for a prompt the customer approves on the phone.
   */
  recoverLost?(input: InitiateInput): Promise<LostInitiation>;
  /** Ask the provider where the payment stands (poll URL, STK query, …). */
  status(data: ProviderData, amount: Money): Promise<NormalisedPaymentEvent>;
  /** O'mari: the customer's OTP completes the payment. */
  submitOtp?(data: ProviderData, otp: string, amount: Money): Promise<NormalisedPaymentEvent>;
  cancel?(data: ProviderData): Promise<void>;
  refund?(data: ProviderData, amount: Money): Promise<RefundResult>;
  /** Verifies and normalises a callback (see WebhookActionAndData); `payment` is null when the claim found none. */
  parseWebhook?(req: WebhookRequest, payment: WebhookPayment | null): Promise<WebhookActionAndData>;
}

export const webhookEvent = (event: NormalisedPaymentEvent): WebhookActionAndData => ({ action: event.status, data: event });
export const forgedWebhook = (message: string): WebhookActionAndData => ({ action: 'forged', data: { message } });
export const malformedWebhook = (message: string): WebhookActionAndData => ({ action: 'malformed', data: { message } });

/**
 * The customer (or their account) made the payment fail: wrong PIN, no funds, cancelled, invalid number.
 * Never retried; the workflow tells the customer why.
 */
export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
  readonly reason: FailureReason;
  constructor(reason: FailureReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The provider refused the request itself (bad credentials, invalid request): retrying cannot help, an operator must look. */
export class ProviderRejectedError extends Error {
  override name = 'ProviderRejectedError';
  readonly provider: ProviderId;
  readonly httpStatus: number | undefined;
  constructor(provider: ProviderId, message: string, httpStatus?: number) {
    super(message);
    this.provider = provider;
    this.httpStatus = httpStatus;
  }
}

/**
 * The provider certainly did not take the request: it could not be reached (connection refused, unknown host), or it
 * answered that it is unavailable (503, 429, "another request in progress") before acting. Retryable, and a retry may
 * send the request again; any other plain Error from a provider call may mean the request was taken and its answer lost.
 */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/** A callback whose body is not what the provider sends: answered 400, nothing touched. */
export class InvalidCallbackError extends Error {
  override name = 'InvalidCallbackError';
}

/** A callback whose signature, hash or token does not check out: answered 401/403, recorded as a security event. */
export class CallbackSignatureError extends Error {
  override name = 'CallbackSignatureError';
}
