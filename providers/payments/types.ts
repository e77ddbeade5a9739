import type { Money } from '../../domain/money.ts';

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
}

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
