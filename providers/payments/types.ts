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
  providerReference?: string;
  data: ProviderData;
  customerAction: CustomerAction;
}

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
}

export interface RefundResult {
  status: 'succeeded' | 'pending' | 'failed';
  providerReference?: string;
  data: ProviderData;
}

export interface PaymentProvider {
  readonly id: ProviderId;
  initiate(input: InitiateInput): Promise<InitiateResult>;
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

/** A callback whose body is not what the provider sends: answered 400, nothing touched. */
export class InvalidCallbackError extends Error {
  override name = 'InvalidCallbackError';
}

/** A callback whose signature, hash or token does not check out: answered 401/403, recorded as a security event. */
export class CallbackSignatureError extends Error {
  override name = 'CallbackSignatureError';
}
