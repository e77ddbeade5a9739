import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isCurrencyCode, parseDecimal, toDecimalString, type Money } from '../../domain/money.ts';
import { callJson, isUnavailableStatus, operationBudget, PROVIDER_HTTP_TIMEOUT_MS, type JsonReply } from './http.ts';
import { withoutPersonalKeys } from './redact.ts';
import { verifyGhalaSignature, type GhalaSignatureScheme } from './ghala-signature.ts';
import {
  forgedWebhook,
  malformedWebhook,
  PaymentDeclinedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  webhookEvent,
  type FailureReason,
  type InitiateInput,
  type InitiateResult,
  type LostInitiation,
  type NormalisedPaymentEvent,
  type PaymentProvider,
  type PaymentStatus,
  type ProviderData,
  type WebhookActionAndData,
  type WebhookPayment,
  type WebhookRequest,
  type WebhookSpec,
} from './types.ts';

/**
 * M-Pesa through Ghala (seed 001, protocols.md §8). Ghala publishes no API reference, so everything below is what
 * seed 001 and third-party integrations show, taken as the contract until Ghala confirms it (README, "Ghala"):
 * - `POST /v1/orders` with `Authorization: Bearer <api key>` and an `Idempotency-Key`, body `{ reference, amount,
 *   currency, payment_method: "mpesa", customer: { phone }, description }`, amount in major units as seed 001 shows
 *   (`"amount": 3000` for KES 3,000); answer `{ id, reference, status, amount, currency }`. Ghala sends the STK push.
 * - `GET /v1/orders/{id}` for where a payment stands; `GET /v1/orders?reference=` to find one whose create answer was lost.
 * - Webhooks `{ id, event, data: { order_id, reference, transaction_reference, amount, currency, status } }` with events
 *   `payment.success` / `payment.failed`, signed per GHALA_SIGNATURE_SCHEME (ghala-signature.ts). A webhook is a hint:
 *   the order workflow confirms with `GET /v1/orders/{id}` before anything is marked paid.
 */

export interface GhalaSettings {
  baseUrl: string;
  apiKey: string;
  webhookSecret: string;
  signatureScheme: GhalaSignatureScheme;
}

export interface GhalaDeps {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface GhalaProviderData extends ProviderData {
  ghalaOrderId: string;
}

const GhalaOrder = z.object({
  id: z.string().min(1),
  reference: z.string().nullish(),
  status: z.string().min(1),
  amount: z.union([z.number(), z.string()]).nullish(),
  currency: z.string().nullish(),
  transaction_reference: z.string().nullish(),
  failure_reason: z.string().nullish(),
});
type GhalaOrder = z.infer<typeof GhalaOrder>;

const GhalaOrderList = z.object({ data: z.array(GhalaOrder) });
const ErrorBody = z.object({ error: z.union([z.string(), z.object({ code: z.string().optional(), message: z.string().optional() })]) });

const WebhookBody = z.object({
  id: z.string().min(1).max(200).optional(),
  event: z.string().min(1).max(100),
  data: z.record(z.string(), z.unknown()),
});

const PaymentData = z.object({
  order_id: z.string().min(1).max(200),
  reference: z.string().max(200).nullish(),
  transaction_reference: z.string().max(200).nullish(),
  amount: z.union([z.number(), z.string()]).nullish(),
  currency: z.string().nullish(),
  status: z.string().nullish(),
  failure_reason: z.string().nullish(),
});

const PAYMENT_EVENTS = new Set(['payment.success', 'payment.failed']);

/** Ghala's statuses as third-party code shows them; an unknown one is treated as still open. */
function statusOf(status: string): PaymentStatus {
  const s = status.toLowerCase();
  if (['completed', 'success', 'successful', 'paid'].includes(s)) return 'succeeded';
  if (['failed', 'declined'].includes(s)) return 'failed';
  if (s === 'cancelled' || s === 'canceled') return 'cancelled';
  if (s === 'expired') return 'expired';
  return 'pending';
}

/** M-Pesa's reasons as Ghala words them (unconfirmed): the recognisable ones pick the customer message. */
function failureReasonOf(text: string | null | undefined): FailureReason {
  const t = (text ?? '').toLowerCase();
  if (/insufficient|balance/.test(t)) return 'insufficient_funds';
  if (/cancel/.test(t)) return 'cancelled_by_customer';
  if (/pin|initiator/.test(t)) return 'wrong_pin';
  if (/time ?out|timed out|unreachable/.test(t)) return 'timeout';
  if (/limit/.test(t)) return 'limit_exceeded';
  return 'declined';
}

function moneyOf(amount: number | string | null | undefined, currency: string | null | undefined): Money | undefined {
  if (amount === null || amount === undefined || !currency || !isCurrencyCode(currency)) return undefined;
  const minor = parseDecimal(amount, currency);
  return minor === null ? undefined : { amount: minor, currency };
}

const PERSONAL_KEYS: ReadonlySet<string> = new Set(['phone', 'msisdn', 'email', 'name', 'customer']);

const withoutPersonalData = (value: unknown): unknown => withoutPersonalKeys(value, PERSONAL_KEYS);

function eventOf(order: GhalaOrder, dedupKey: string, raw: unknown): NormalisedPaymentEvent {
  const status = statusOf(order.status);
  const amount = moneyOf(order.amount, order.currency);
  return {
    providerReference: order.id,
    ...(order.reference ? { reference: order.reference } : {}),
    status,
    ...(amount ? { amount } : {}),
    ...(order.transaction_reference ? { transactionReference: order.transaction_reference } : {}),
    ...(status === 'failed' ? { failureReason: failureReasonOf(order.failure_reason), ...(order.failure_reason ? { failureMessage: order.failure_reason } : {}) } : {}),
    dedupKey,
    raw,
    providerData: { ghalaOrderId: order.id },
  };
}

export function createGhalaProvider(settings: GhalaSettings, deps: GhalaDeps = {}): PaymentProvider {
  const fetchImpl = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? PROVIDER_HTTP_TIMEOUT_MS;
  const baseUrl = settings.baseUrl.replace(/\/+$/, '');
  const authorization = `Bearer ${settings.apiKey}`;
  const rejected = (message: string, status?: number) => new ProviderRejectedError('ghala', message, status);

  function call(method: 'GET' | 'POST', path: string, extra: { body?: unknown; budget?: AbortSignal; headers?: Record<string, string> } = {}): Promise<JsonReply> {
    return callJson('Ghala', fetchImpl, { method, url: `${baseUrl}${path}`, path, authorization, timeoutMs, ...extra });
  }

  function failure(reply: JsonReply, during: string): Error {
    const error = ErrorBody.safeParse(reply.body);
    const detail = error.success ? (typeof error.data.error === 'string' ? error.data.error : `${error.data.error.code ?? ''} ${error.data.error.message ?? ''}`.trim()) : `HTTP ${reply.status}`;
    const message = `Ghala ${during} failed: ${detail || `HTTP ${reply.status}`}`;
    if (isUnavailableStatus(reply.status)) return new ProviderUnavailableError(message);
    if (reply.status >= 500 || reply.status === 408) return new Error(message);
    return rejected(message, reply.status);
  }

  function orderFrom(reply: JsonReply, during: string): GhalaOrder {
    const parsed = GhalaOrder.safeParse(reply.body);
    if (!parsed.success) throw new Error(`Ghala ${during} answered with an unexpected body`);
    return parsed.data;
  }

  async function byReference(reference: string): Promise<GhalaOrder | undefined> {
    const reply = await call('GET', `/v1/orders?reference=${encodeURIComponent(reference)}`);
    if (reply.status !== 200) throw failure(reply, 'order lookup');
    const parsed = GhalaOrderList.safeParse(reply.body);
    if (!parsed.success) throw new Error('Ghala order lookup answered with an unexpected body');
    return parsed.data.data.find((o) => o.reference === reference);
  }

  function initiated(order: GhalaOrder): InitiateResult {
    const data: GhalaProviderData = { ghalaOrderId: order.id };
    return { providerReference: order.id, data, customerAction: { type: 'approve_on_phone' } };
  }

  function orderIdOf(data: ProviderData): string {
    const id = data.ghalaOrderId;
    if (typeof id !== 'string' || id === '') throw rejected('payment data carries no ghalaOrderId');
    return id;
  }

  return {
    id: 'ghala',

    async initiate({ amount, method, context }: InitiateInput): Promise<InitiateResult> {
      if (method !== 'ghala_mpesa') throw rejected(`Ghala cannot take method ${method}`);
      if (!context.customerPhone) throw new PaymentDeclinedError('invalid_number', 'no M-Pesa number given for Ghala');
      const reply = await call('POST', '/v1/orders', {
        budget: operationBudget(),
        headers: { 'idempotency-key': context.idempotencyKey },
        body: {
          reference: context.reference,
          amount: Number(toDecimalString(amount)),
          currency: amount.currency,
          payment_method: 'mpesa',
          customer: { phone: `+${context.customerPhone}` },
          description: context.description,
          callback_url: context.callbackUrl,
          metadata: { order_number: context.orderNumber },
        },
      });
      if (reply.status === 200 || reply.status === 201) {
        const order = orderFrom(reply, 'order create');
        if (statusOf(order.status) === 'failed') throw new PaymentDeclinedError(failureReasonOf(order.failure_reason), order.failure_reason ?? 'Ghala declined the payment');
        return initiated(order);
      }
      if (reply.status === 422 || reply.status === 400) {
        const error = ErrorBody.safeParse(reply.body);
        const text = error.success ? JSON.stringify(error.data.error) : '';
        if (/phone|msisdn/i.test(text)) throw new PaymentDeclinedError('invalid_number', `Ghala refused the number: ${text}`);
      }
      throw failure(reply, 'order create');
    },

    /** A create whose answer was lost is found by duka's reference; none means Ghala started nothing. */
    async recoverLost({ amount, context }: InitiateInput): Promise<LostInitiation> {
      const order = await byReference(context.reference);
      if (!order) return { kind: 'absent' };
      const theirs = moneyOf(order.amount, order.currency);
      if (theirs && (theirs.amount !== amount.amount || theirs.currency !== amount.currency)) {
        throw rejected(`Ghala order ${order.id} for reference ${context.reference} is for ${theirs.amount} ${theirs.currency}, not ${amount.amount} ${amount.currency}`);
      }
      return { kind: 'found', result: initiated(order) };
    },

    async status(data: ProviderData): Promise<NormalisedPaymentEvent> {
      const id = orderIdOf(data);
      const reply = await call('GET', `/v1/orders/${encodeURIComponent(id)}`);
      if (reply.status !== 200) throw failure(reply, 'order status');
      const order = orderFrom(reply, 'order status');
      if (order.id !== id) throw rejected(`Ghala answered order ${order.id} when asked for ${id}`);
      return eventOf(order, `ghala:${order.id}:${order.status}`, withoutPersonalData(order));
    },

    async parseWebhook(req: WebhookRequest, payment: WebhookPayment | null): Promise<WebhookActionAndData> {
      return parseGhalaDelivery(req, settings, payment);
    },
  };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * One delivery → its event: the signature first (per scheme, over the raw bytes), then the body. Dedup on the event's
 * own `id` (inside the signed body); without one, on the body's hash, so a redelivery of the same bytes is a duplicate.
 */
export function parseGhalaDelivery(req: WebhookRequest, settings: Pick<GhalaSettings, 'webhookSecret' | 'signatureScheme'>, payment: WebhookPayment | null): WebhookActionAndData {
  if (!verifyGhalaSignature(settings.signatureScheme, settings.webhookSecret, req.rawBody, (name) => req.header(name))) return forgedWebhook(ghalaWebhook.forged.message);
  const body = WebhookBody.safeParse(parseJson(req.rawBody));
  if (!body.success) return malformedWebhook('not a Ghala webhook event');
  const dedupKey = body.data.id ? `ghala:${body.data.id}` : `ghala:sha256:${createHash('sha256').update(req.rawBody).digest('hex')}`;
  const raw = withoutPersonalData(body.data);
  if (!PAYMENT_EVENTS.has(body.data.event)) return { action: 'not_supported', data: { dedupKey, raw } };
  const data = PaymentData.safeParse(body.data.data);
  if (!data.success) return malformedWebhook(`Ghala ${body.data.event}: ${data.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  const d = data.data;
  if (payment) {
    // Signed by Ghala, but about another payment than the one it was matched to: nothing of it is trusted.
    if (payment.providerReference !== null && payment.providerReference !== d.order_id) return forgedWebhook('the Ghala order in this webhook is not this payment\'s');
    if (d.reference && d.reference !== payment.reference) return forgedWebhook('the reference in this webhook is not this payment\'s');
  }
  const status: GhalaOrder['status'] = body.data.event === 'payment.success' ? 'completed' : 'failed';
  return webhookEvent(eventOf({ id: d.order_id, reference: d.reference ?? null, status, amount: d.amount ?? null, currency: d.currency ?? null, transaction_reference: d.transaction_reference ?? null, failure_reason: d.failure_reason ?? null }, dedupKey, raw));
}

/** Unverified: which payment the body claims (duka's reference when Ghala echoes it, else Ghala's order id). */
function claimOf(raw: Buffer): { by: 'reference' | 'providerReference'; value: string } | null {
  const body = parseJson(raw) as { data?: { reference?: unknown; order_id?: unknown } } | undefined;
  const data = body && typeof body === 'object' ? body.data : undefined;
  if (!data || typeof data !== 'object') return null;
  if (typeof data.reference === 'string' && data.reference !== '' && data.reference.length <= 200) return { by: 'reference', value: data.reference };
  if (typeof data.order_id === 'string' && data.order_id !== '' && data.order_id.length <= 200) return { by: 'providerReference', value: data.order_id };
  return null;
}

/** `POST /webhooks/ghala` (CONTRACT.md): signature per GHALA_SIGNATURE_SCHEME or 401; dedup on the event id. */
export const ghalaWebhook: WebhookSpec = {
  provider: 'ghala',
  path: 'ghala',
  tokenInPath: false,
  claim: (req) => claimOf(req.rawBody),
  // Ghala also reports its own storefront's orders (order.created…): genuine ones are answered 2xx and stored.
  unknownPayment: 'verify_any',
  forged: { status: 401, code: 'invalid_signature', message: 'x-ghala-signature does not match the body' },
  accepted: { success: true, message: 'Webhook processed successfully' },
};
