import { createHash } from 'node:crypto';
import { z } from 'zod';
import { callJson, isUnavailableStatus, operationBudget, PROVIDER_HTTP_TIMEOUT_MS, PROVIDER_OPERATION_TIMEOUT_MS } from './http.ts';
import { parseDecimal } from '../../domain/money.ts';
import { forgedWebhook, InvalidCallbackError, malformedWebhook, PaymentDeclinedError, ProviderRejectedError, ProviderUnavailableError, webhookEvent } from './types.ts';
import type {
  FailureReason,
  InitiateInput,
  InitiateResult,
  NormalisedPaymentEvent,
  LostInitiation,
  PaymentProvider,
  PaymentStatus,
  ProviderData,
  WebhookActionAndData,
  WebhookPayment,
  WebhookRequest,
  WebhookSpec,
} from './types.ts';

/** Safaricom M-Pesa Daraja: STK push ("M-Pesa Express"), STK query and the STK callback (protocols.md §5). */

export type MpesaTransactionType = 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';

export interface MpesaSettings {
  baseUrl: string;
  consumerKey: string;
  consumerSecret: string;
  /** BusinessShortCode: the PayBill number, or the store number a till belongs to. */
  shortcode: string;
  passkey: string;
  transactionType?: MpesaTransactionType;
  /** The till that receives CustomerBuyGoodsOnline payments; a PayBill is paid into its shortcode. */
  partyB?: string;
}

export interface MpesaDeps {
  fetch?: typeof fetch;
  now?: () => Date;
  /** Per HTTP call (default PROVIDER_HTTP_TIMEOUT_MS); an activity must not hang on a silent provider. */
  timeoutMs?: number;
  /** All calls of one operation together (default PROVIDER_OPERATION_TIMEOUT_MS). */
  operationTimeoutMs?: number;
}

export interface MpesaProviderData extends ProviderData {
  checkoutRequestId: string;
  merchantRequestId: string;
}

const ACCOUNT_REFERENCE_MAX = 12;
const TRANSACTION_DESC_MAX = 13;
const TOKEN_REFRESH_MARGIN_S = 60;

const nairobiClock = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Africa/Nairobi',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** `YYYYMMDDHHmmss` on Nairobi's clock: the value that goes into both `Timestamp` and `Password`. */
export function darajaTimestamp(at: Date): string {
  const part = Object.fromEntries(nairobiClock.formatToParts(at).map((p) => [p.type, p.value]));
  return `${part.year}${part.month}${part.day}${part.hour}${part.minute}${part.second}`;
}

export function darajaPassword(shortcode: string, passkey: string, timestamp: string): string {
  return Buffer.from(`${shortcode}${passkey}${timestamp}`).toString('base64');
}

/** Only letters and digits reach the prompt; the tail of an order number is the part that tells orders apart. */
export function accountReferenceFor(orderNumber: string): string {
  const cleaned = orderNumber.replace(/[^A-Za-z0-9]/g, '');
  return cleaned.slice(-ACCOUNT_REFERENCE_MAX) || 'ORDER';
}

const ResultCode = z.union([z.number().int(), z.string().min(1)]).transform((code) => String(code).trim());

interface Outcome {
  status: PaymentStatus;
  failureReason?: FailureReason;
}

function outcomeOf(resultCode: string): Outcome {
  switch (resultCode) {
    case '0':
      return { status: 'succeeded' };
    case '1':
      return { status: 'failed', failureReason: 'insufficient_funds' };
    case '3':
    case '4':
      return { status: 'failed', failureReason: 'limit_exceeded' };
    case '1001':
      return { status: 'pending' };
    case '1019':
      return { status: 'expired', failureReason: 'expired' };
    case '1032':
      return { status: 'cancelled', failureReason: 'cancelled_by_customer' };
    case '1037':
      return { status: 'failed', failureReason: 'timeout' };
    case '2001':
      return { status: 'failed', failureReason: 'wrong_pin' };
    default:
      return { status: 'failed', failureReason: 'declined' };
  }
}

const CallbackItem = z.object({ Name: z.string(), Value: z.union([z.string(), z.number()]).optional() });

const StkCallbackBody = z.object({
  Body: z.object({
    stkCallback: z.object({
      MerchantRequestID: z.string().min(1),
      CheckoutRequestID: z.string().min(1),
      ResultCode,
      ResultDesc: z.string(),
      CallbackMetadata: z.object({ Item: z.array(CallbackItem) }).optional(),
    }),
  }),
});

/** The customer's number is only checked for presence: it must not travel on into stored events or logs. */
function withoutPhoneNumber(body: unknown): unknown {
  const copy = structuredClone(body) as { Body?: { stkCallback?: { CallbackMetadata?: { Item?: unknown } } } };
  const items = copy.Body?.stkCallback?.CallbackMetadata?.Item;
  if (Array.isArray(items)) {
    for (const item of items as Array<{ Name?: unknown; Value?: unknown }>) {
      if (item.Name === 'PhoneNumber' && 'Value' in item) item.Value = 'redacted';
    }
  }
  return copy;
}

/** Daraja's POST to the CallBackURL → one normalised event. Unsigned: the caller must check the URL token and confirm by query. */
export function parseStkCallback(body: unknown): NormalisedPaymentEvent {
  const parsed = StkCallbackBody.safeParse(body);
  if (!parsed.success) {
    throw new InvalidCallbackError(`not an STK callback: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  const callback = parsed.data.Body.stkCallback;
  const outcome = outcomeOf(callback.ResultCode);
  const providerData: MpesaProviderData = { checkoutRequestId: callback.CheckoutRequestID, merchantRequestId: callback.MerchantRequestID };
  const event: NormalisedPaymentEvent = {
    providerReference: callback.CheckoutRequestID,
    status: outcome.status,
    dedupKey: `mpesa:${callback.CheckoutRequestID}:${callback.ResultCode}`,
    raw: withoutPhoneNumber(body),
    providerData,
  };
  if (outcome.failureReason) {
    event.failureReason = outcome.failureReason;
    event.failureMessage = callback.ResultDesc;
  }
  if (outcome.status !== 'succeeded') return event;

  const items = new Map((callback.CallbackMetadata?.Item ?? []).map((item) => [item.Name, item.Value]));
  const amountValue = items.get('Amount');
  const amount = amountValue === undefined ? null : parseDecimal(amountValue, 'KES');
  if (amount === null) throw new InvalidCallbackError('successful STK callback without a valid Amount');
  const receipt = items.get('MpesaReceiptNumber');
  if (typeof receipt !== 'string' || receipt === '') throw new InvalidCallbackError('successful STK callback without MpesaReceiptNumber');
  if (items.get('PhoneNumber') === undefined) throw new InvalidCallbackError('successful STK callback without PhoneNumber');
  event.amount = { amount, currency: 'KES' };
  event.transactionReference = receipt;
  return event;
}

/** Daraja wants this exact answer, for new and repeated callbacks alike. */
export const DARAJA_ACCEPTED = { ResultCode: 0, ResultDesc: 'Accepted' } as const;

/**
 * Daraja's callbacks are unsigned (§5.6): the unguessable per-payment token duka put in the CallBackURL is the
 * credential, so the payment is found by that token, and a callback without a known token is forged.
 */
export const mpesaWebhook: WebhookSpec = {
  provider: 'mpesa',
  path: 'mpesa',
  tokenInPath: true,
  claim: (req) => (req.pathToken ? { by: 'callbackToken', value: req.pathToken } : null),
  unknownPayment: 'forged',
  forged: { status: 403, code: 'forbidden', message: 'unknown callback token' },
  accepted: DARAJA_ACCEPTED,
};

/** A callback on a payment's own token → its event, unless it names another push than the one this payment made. */
export function parseMpesaWebhook(req: WebhookRequest, payment: WebhookPayment | null): WebhookActionAndData {
  if (!payment) return forgedWebhook(mpesaWebhook.forged.message);
  let body: unknown;
  try {
    body = JSON.parse(req.rawBody.toString('utf8'));
  } catch {
    return malformedWebhook('body is not JSON');
  }
  let event: NormalisedPaymentEvent;
  try {
    event = parseStkCallback(body);
  } catch (err) {
    if (err instanceof InvalidCallbackError) return malformedWebhook(err.message);
    throw err;
  }
  // The push's CheckoutRequestID is stored once Daraja answers the push; a callback racing that write, or about a push
  // whose answer was lost, is let through on the token alone (the workflow confirms by STK query).
  if (payment.providerReference !== null && event.providerReference !== payment.providerReference) {
    return forgedWebhook('CheckoutRequestID does not belong to this callback URL');
  }
  return webhookEvent(event);
}

const DarajaErrorBody = z.object({ requestId: z.string().optional(), errorCode: z.string(), errorMessage: z.string() });

const TokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/)]).transform(Number),
});

const PushResponse = z.object({
  MerchantRequestID: z.string(),
  CheckoutRequestID: z.string().min(1),
  ResponseCode: z.union([z.string(), z.number()]).transform(String),
  ResponseDescription: z.string().optional(),
  CustomerMessage: z.string().optional(),
});

const QueryResponse = z.object({
  ResponseCode: z.union([z.string(), z.number()]).transform(String),
  ResponseDescription: z.string().optional(),
  MerchantRequestID: z.string().optional(),
  CheckoutRequestID: z.string().optional(),
  ResultCode: ResultCode.optional(),
  ResultDesc: z.string().optional(),
});

/** "Still waiting for the customer" (query) and "another prompt is on this phone" (push) share 500.001.1001 with bad credentials. */
const IN_PROGRESS = /being processed|lock subscriber|already in process/i;
const INVALID_NUMBER = /\b(PhoneNumber|PartyA|MSISDN)\b/i;
const INVALID_TOKEN = /^404\.001\.0[34]$/;

interface DarajaReply {
  status: number;
  body: unknown;
}

interface CachedToken {
  value: string;
  refreshAt: number;
}

/** Keyed by what the token is valid for, so every provider built from the same credentials shares one token. */
const tokens = new Map<string, Promise<CachedToken>>();

export function createMpesaProvider(settings: MpesaSettings, deps: MpesaDeps = {}): PaymentProvider {
  const fetchImpl = deps.fetch ?? fetch;
  const now = deps.now ?? (() => new Date());
  const timeoutMs = deps.timeoutMs ?? PROVIDER_HTTP_TIMEOUT_MS;
  const operationTimeoutMs = deps.operationTimeoutMs ?? PROVIDER_OPERATION_TIMEOUT_MS;
  const baseUrl = settings.baseUrl.replace(/\/+$/, '');
  const transactionType = settings.transactionType ?? 'CustomerPayBillOnline';
  const tokenKey = createHash('sha256').update(`${baseUrl}\0${settings.consumerKey}\0${settings.consumerSecret}`).digest('hex');

  if (!/^\d+$/.test(settings.shortcode)) throw new ProviderRejectedError('mpesa', 'M-Pesa shortcode must be digits');
  if (settings.partyB !== undefined && !/^\d+$/.test(settings.partyB)) throw new ProviderRejectedError('mpesa', 'M-Pesa till number must be digits');

  function send(method: 'GET' | 'POST', path: string, authorization: string, body?: unknown, budget?: AbortSignal): Promise<DarajaReply> {
    return callJson('M-Pesa', fetchImpl, { method, url: `${baseUrl}${path}`, path, authorization, body, timeoutMs, ...(budget ? { budget } : {}) });
  }

  function failure(reply: DarajaReply, during: string): Error {
    const error = DarajaErrorBody.safeParse(reply.body);
    const code = error.success ? error.data.errorCode : undefined;
    const detail = error.success ? `${error.data.errorCode} ${error.data.errorMessage}` : `HTTP ${reply.status}`;
    const message = `M-Pesa ${during} failed: ${detail}`;
    if (error.success && reply.status < 500 && INVALID_NUMBER.test(error.data.errorMessage)) {
      return new PaymentDeclinedError('invalid_number', `M-Pesa rejected the phone number (${detail})`);
    }
    if (code === '500.001.1001') {
      // "Unable to lock subscriber": another prompt is on the phone, this one was not sent. Anything else: bad credentials.
      return IN_PROGRESS.test(error.success ? error.data.errorMessage : '') ? new ProviderUnavailableError(message) : new ProviderRejectedError('mpesa', message, reply.status);
    }
    // Daraja's own error body, or "unavailable", is a refusal before anything was done; a bare 502/504 from a gateway
    // may come after Daraja took the request.
    if (isUnavailableStatus(reply.status) || (reply.status >= 500 && error.success)) return new ProviderUnavailableError(message);
    if (reply.status >= 500 || reply.status === 408) return new Error(message);
    return new ProviderRejectedError('mpesa', message, reply.status);
  }

  async function requestToken(): Promise<CachedToken> {
    const basic = Buffer.from(`${settings.consumerKey}:${settings.consumerSecret}`).toString('base64');
    // Its own timeout only: the token is shared by every call waiting for it, whatever their budgets.
    const reply = await send('GET', '/oauth/v1/generate?grant_type=client_credentials', `Basic ${basic}`);
    if (reply.status !== 200) throw failure(reply, 'OAuth');
    const parsed = TokenResponse.safeParse(reply.body);
    if (!parsed.success) throw new Error('M-Pesa OAuth answered without an access_token');
    const lifetime = parsed.data.expires_in;
    const usable = Math.max(lifetime - TOKEN_REFRESH_MARGIN_S, lifetime / 2);
    return { value: parsed.data.access_token, refreshAt: now().getTime() + usable * 1000 };
  }

  async function accessToken(): Promise<string> {
    const cached = tokens.get(tokenKey);
    if (cached) {
      const token = await cached.catch(() => undefined);
      if (token && token.refreshAt > now().getTime()) return token.value;
      if (tokens.get(tokenKey) === cached) tokens.delete(tokenKey);
    }
    const fresh = requestToken();
    tokens.set(tokenKey, fresh);
    fresh.catch(() => {
      if (tokens.get(tokenKey) === fresh) tokens.delete(tokenKey);
    });
    return (await fresh).value;
  }

  function forgetToken(): void {
    tokens.delete(tokenKey);
  }

  /**
   * A token revoked early (Daraja restarts, rotated keys) is refreshed once before the call counts as failed. No token
   * means nothing was sent: that failure is a ProviderUnavailableError (unless Daraja refused the credentials).
   */
  async function authorisedPost(path: string, fields: Record<string, unknown>): Promise<DarajaReply> {
    const budget = operationBudget(operationTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      const token = await accessToken().catch((err: unknown) => {
        if (err instanceof ProviderRejectedError || err instanceof ProviderUnavailableError) throw err;
        throw new ProviderUnavailableError(`M-Pesa OAuth failed, nothing sent: ${(err as Error).message}`, { cause: err });
      });
      const timestamp = darajaTimestamp(now());
      const reply = await send('POST', path, `Bearer ${token}`, {
        BusinessShortCode: Number(settings.shortcode),
        Password: darajaPassword(settings.shortcode, settings.passkey, timestamp),
        Timestamp: timestamp,
        ...fields,
      }, budget);
      const error = DarajaErrorBody.safeParse(reply.body);
      if (attempt === 0 && error.success && INVALID_TOKEN.test(error.data.errorCode)) {
        forgetToken();
        continue;
      }
      return reply;
    }
  }

  function checkoutRequestIdOf(data: ProviderData): string {
    const id = data.checkoutRequestId;
    if (typeof id !== 'string' || id === '') throw new ProviderRejectedError('mpesa', 'payment data carries no checkoutRequestId');
    return id;
  }

  return {
    id: 'mpesa',

    async initiate({ amount, method, context }: InitiateInput): Promise<InitiateResult> {
      if (method !== 'mpesa') throw new ProviderRejectedError('mpesa', `M-Pesa cannot take method ${method}`);
      if (amount.currency !== 'KES') throw new ProviderRejectedError('mpesa', `M-Pesa charges KES, not ${amount.currency}`);
      // Daraja's Amount is whole shillings (decimals are undocumented); rounding would charge something other than the order total.
      if (amount.amount % 100 !== 0) {
        throw new ProviderRejectedError('mpesa', `M-Pesa charges whole shillings; ${amount.amount / 100} KES has cents`);
      }
      const phone = context.customerPhone;
      if (!phone || !/^\d{9,15}$/.test(phone)) throw new PaymentDeclinedError('invalid_number', 'M-Pesa needs the payer\'s phone number');

      const reply = await authorisedPost('/mpesa/stkpush/v1/processrequest', {
        TransactionType: transactionType,
        Amount: amount.amount / 100,
        PartyA: Number(phone),
        PartyB: Number(settings.partyB ?? settings.shortcode),
        PhoneNumber: Number(phone),
        CallBackURL: context.callbackUrl,
        AccountReference: accountReferenceFor(context.orderNumber),
        TransactionDesc: (context.description.trim() || 'Payment').slice(0, TRANSACTION_DESC_MAX).trimEnd(),
      });
      if (reply.status !== 200) throw failure(reply, 'STK push');
      const accepted = PushResponse.safeParse(reply.body);
      if (!accepted.success) throw new Error('M-Pesa STK push answered with an unexpected body');
      if (accepted.data.ResponseCode !== '0') {
        throw new ProviderRejectedError('mpesa', `M-Pesa STK push not accepted: ${accepted.data.ResponseCode} ${accepted.data.ResponseDescription ?? ''}`.trim(), reply.status);
      }
      const data: MpesaProviderData = {
        checkoutRequestId: accepted.data.CheckoutRequestID,
        merchantRequestId: accepted.data.MerchantRequestID,
      };
      return { providerReference: data.checkoutRequestId, data, customerAction: { type: 'approve_on_phone' } };
    },

    /**
     * A push whose answer was lost may be on the customer's phone: Daraja has no lookup by anything duka chose, so the
     * callback (on this attempt's own CallBackURL token, carrying the CheckoutRequestID) settles it, or the attempt expires.
     */
    async recoverLost(): Promise<LostInitiation> {
      return { kind: 'wait', customerAction: { type: 'approve_on_phone' } };
    },

    async parseWebhook(req, payment) {
      return parseMpesaWebhook(req, payment);
    },

    /** The query reports the result only: no amount and no receipt, which arrive with the callback. */
    async status(data: ProviderData): Promise<NormalisedPaymentEvent> {
      const checkoutRequestId = checkoutRequestIdOf(data);
      const reply = await authorisedPost('/mpesa/stkpushquery/v1/query', { CheckoutRequestID: checkoutRequestId });
      const error = DarajaErrorBody.safeParse(reply.body);
      if (error.success && error.data.errorCode === '500.001.1001' && IN_PROGRESS.test(error.data.errorMessage)) {
        return { providerReference: checkoutRequestId, status: 'pending', dedupKey: `mpesa:${checkoutRequestId}:pending`, raw: reply.body };
      }
      if (reply.status !== 200) throw failure(reply, 'STK query');
      const answer = QueryResponse.safeParse(reply.body);
      if (!answer.success || answer.data.ResultCode === undefined) throw new Error('M-Pesa STK query answered without a ResultCode');
      const resultCode = answer.data.ResultCode;
      const outcome = outcomeOf(resultCode);
      const event: NormalisedPaymentEvent = {
        providerReference: checkoutRequestId,
        status: outcome.status,
        dedupKey: `mpesa:${checkoutRequestId}:${outcome.status === 'pending' ? 'pending' : resultCode}`,
        raw: reply.body,
      };
      if (outcome.failureReason) {
        event.failureReason = outcome.failureReason;
        if (answer.data.ResultDesc) event.failureMessage = answer.data.ResultDesc;
      }
      return event;
    },

    // No refund: Daraja's reversal API needs a separate initiator credential (security credential) duka does not hold.
  };
}
