import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isCurrencyCode } from '../../domain/money.ts';
import { callJson, isUnavailableStatus, operationBudget, PROVIDER_HTTP_TIMEOUT_MS } from './http.ts';
import { withoutPersonalKeys } from './redact.ts';
import type { Money } from '../../domain/money.ts';
import { forgedWebhook, InvalidCallbackError, malformedWebhook, ProviderRejectedError, ProviderUnavailableError, webhookEvent } from './types.ts';
import type {
  FailureReason,
  InitiateInput,
  InitiateResult,
  LostInitiation,
  NormalisedPaymentEvent,
  PaymentProvider,
  ProviderData,
  RefundResult,
  WebhookActionAndData,
  WebhookRequest,
  WebhookSpec,
} from './types.ts';

/**
 * Razorpay Payment Links (protocols.md §6). The official `razorpay` SDK is not the HTTP client here: its constructor
 * hard-codes `https://api.razorpay.com` and sends through its own axios instance, so it can neither be pointed at the
 * sandbox nor given an injected fetch. The REST calls below are the ones the SDK's paymentLink/payments resources make.
 */

export interface RazorpaySettings {
  baseUrl: string;
  keyId: string;
  keySecret: string;
  /** Verifies webhooks (verifyRazorpaySignature); the API calls use the key pair. */
  webhookSecret: string;
}

export interface RazorpayDeps {
  fetch?: typeof fetch;
  /** Per HTTP call (default PROVIDER_HTTP_TIMEOUT_MS); an activity must not hang on a silent provider. */
  timeoutMs?: number;
}

export interface RazorpayProviderData extends ProviderData {
  paymentLinkId: string;
  shortUrl: string;
  /** Set by whoever learns it (status, webhook) so a refund needs no lookup; otherwise the link's captured payment is used. */
  paymentId?: string;
}

const REFERENCE_ID_MAX = 40;
const DESCRIPTION_MAX = 2048;
/** Copied into the link's notes so a bare `payment.failed` event can still be traced to duka's payment. */
export const RAZORPAY_REFERENCE_NOTE = 'duka_reference';

const ErrorBody = z.object({
  error: z.object({ code: z.string().optional(), description: z.string().optional(), field: z.string().nullish() }),
});

const Notes = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish();

const LinkPayment = z.object({ payment_id: z.string(), amount: z.number().int(), status: z.string(), created_at: z.number().optional() });

const PaymentLink = z.object({
  id: z.string().min(1),
  status: z.string(),
  amount: z.number().int(),
  amount_paid: z.number().int().nullish(),
  currency: z.string(),
  reference_id: z.string().nullish(),
  short_url: z.string().min(1),
  payments: z.array(LinkPayment).nullish(),
  notes: Notes,
});
type PaymentLink = z.infer<typeof PaymentLink>;

const PaymentLinkList = z.object({ payment_links: z.array(PaymentLink) });

const Refund = z.object({ id: z.string().min(1), amount: z.number().int(), payment_id: z.string(), status: z.string() });

interface Reply {
  status: number;
  body: unknown;
}

function noteReference(notes: z.infer<typeof Notes>): string | undefined {
  if (!notes || Array.isArray(notes)) return undefined;
  const value = notes[RAZORPAY_REFERENCE_NOTE];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function moneyOf(amount: number, currency: string, what: string, fail: (message: string) => Error): Money {
  if (!isCurrencyCode(currency)) throw fail(`${what} is in ${currency}, which duka does not handle`);
  return { amount, currency };
}

/** The payment that settled the link: Razorpay lists every attempt, the captured one is the receipt. */
function capturedPaymentId(link: PaymentLink): string | undefined {
  const captured = (link.payments ?? []).filter((p) => p.status === 'captured');
  return captured.at(-1)?.payment_id;
}

export function createRazorpayProvider(settings: RazorpaySettings, deps: RazorpayDeps = {}): PaymentProvider {
  const fetchImpl = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? PROVIDER_HTTP_TIMEOUT_MS;
  const baseUrl = settings.baseUrl.replace(/\/+$/, '');
  const authorization = `Basic ${Buffer.from(`${settings.keyId}:${settings.keySecret}`).toString('base64')}`;

  function call(method: 'GET' | 'POST', path: string, body?: unknown, budget?: AbortSignal): Promise<Reply> {
    return callJson('Razorpay', fetchImpl, { method, url: `${baseUrl}${path}`, path, authorization, body, timeoutMs, ...(budget ? { budget } : {}) });
  }

  function failure(reply: Reply, during: string): Error {
    const error = ErrorBody.safeParse(reply.body);
    const detail = error.success ? `${error.data.error.code ?? 'ERROR'} ${error.data.error.description ?? ''}`.trim() : `HTTP ${reply.status}`;
    const message = `Razorpay ${during} failed: ${detail}`;
    if (isUnavailableStatus(reply.status)) return new ProviderUnavailableError(message);
    if (reply.status >= 500 || reply.status === 408) return new Error(message);
    return new ProviderRejectedError('razorpay', message, reply.status);
  }

  function entity<T>(schema: z.ZodType<T>, reply: Reply, during: string): T {
    const parsed = schema.safeParse(reply.body);
    if (!parsed.success) throw new Error(`Razorpay ${during} answered with an unexpected body`);
    return parsed.data;
  }

  async function fetchLink(id: string): Promise<PaymentLink> {
    const reply = await call('GET', `/v1/payment_links/${encodeURIComponent(id)}`);
    if (reply.status !== 200) throw failure(reply, 'payment link fetch');
    return entity(PaymentLink, reply, 'payment link fetch');
  }

  async function linkByReference(reference: string, budget?: AbortSignal): Promise<PaymentLink | undefined> {
    const reply = await call('GET', `/v1/payment_links?reference_id=${encodeURIComponent(reference)}`, undefined, budget);
    if (reply.status !== 200) throw failure(reply, 'payment link lookup');
    return entity(PaymentLinkList, reply, 'payment link lookup').payment_links.find((link) => link.reference_id === reference);
  }

  function linkIdOf(data: ProviderData): string {
    const id = data.paymentLinkId;
    if (typeof id !== 'string' || id === '') throw new ProviderRejectedError('razorpay', 'payment data carries no paymentLinkId');
    return id;
  }

  function initiated(link: PaymentLink): InitiateResult {
    const data: RazorpayProviderData = { paymentLinkId: link.id, shortUrl: link.short_url };
    return { providerReference: link.id, data, customerAction: { type: 'open_url', url: link.short_url } };
  }

  const rejected = (message: string) => new ProviderRejectedError('razorpay', message);

  return {
    id: 'razorpay',

    async initiate({ amount, method, context }: InitiateInput): Promise<InitiateResult> {
      if (method !== 'razorpay_link') throw rejected(`Razorpay cannot take method ${method}`);
      if (context.reference.length > REFERENCE_ID_MAX) throw rejected(`reference ${context.reference} is longer than Razorpay's ${REFERENCE_ID_MAX} characters`);
      const customer: Record<string, string> = {};
      if (context.customerName) customer.name = context.customerName;
      if (context.customerPhone) customer.contact = `+${context.customerPhone}`;
      if (context.customerEmail) customer.email = context.customerEmail;
      const body: Record<string, unknown> = {
        amount: amount.amount,
        currency: amount.currency,
        accept_partial: false,
        reference_id: context.reference,
        description: context.description.slice(0, DESCRIPTION_MAX),
        customer,
        notify: { sms: false, email: false },
        reminder_enable: false,
        notes: { [RAZORPAY_REFERENCE_NOTE]: context.reference, order_number: context.orderNumber },
        callback_url: context.returnUrl,
        callback_method: 'get',
      };
      if (context.expiresAt !== undefined) body.expire_by = context.expiresAt;

      // Razorpay documents no idempotency header for payment links; reference_id is unique per link, so a retried
      // create is rejected and the link the first attempt made is fetched instead.
      const budget = operationBudget();
      const reply = await call('POST', '/v1/payment_links', body, budget);
      if (reply.status === 200) return initiated(entity(PaymentLink, reply, 'payment link create'));
      if (reply.status === 400) {
        const existing = await linkByReference(context.reference, budget);
        if (existing && existing.amount === amount.amount && existing.currency === amount.currency) return initiated(existing);
      }
      throw failure(reply, 'payment link create');
    },

    /** A create whose answer was lost is found by its reference_id (unique per link); none means none was made. */
    async recoverLost({ amount, context }: InitiateInput): Promise<LostInitiation> {
      const existing = await linkByReference(context.reference);
      if (!existing) return { kind: 'absent' };
      if (existing.amount !== amount.amount || existing.currency !== amount.currency) {
        throw rejected(`payment link ${existing.id} for reference ${context.reference} is for ${existing.amount} ${existing.currency}, not ${amount.amount} ${amount.currency}`);
      }
      return { kind: 'found', result: initiated(existing) };
    },

    async status(data: ProviderData): Promise<NormalisedPaymentEvent> {
      const link = await fetchLink(linkIdOf(data));
      const base = {
        providerReference: link.id,
        dedupKey: `razorpay:${link.id}:${link.status}`,
        raw: withoutPersonalData(link),
        ...(link.reference_id ? { reference: link.reference_id } : {}),
      };
      switch (link.status) {
        case 'paid': {
          const paymentId = capturedPaymentId(link);
          return {
            ...base,
            status: 'succeeded',
            amount: moneyOf(link.amount_paid ?? 0, link.currency, 'payment link', rejected),
            ...(paymentId ? { transactionReference: paymentId } : {}),
          };
        }
        case 'created':
        case 'partially_paid':
          return { ...base, status: 'pending' };
        case 'cancelled':
          return { ...base, status: 'cancelled' };
        case 'expired':
          return { ...base, status: 'expired', failureReason: 'expired' };
        default:
          throw rejected(`payment link ${link.id} has unknown status ${link.status}`);
      }
    },

    async cancel(data: ProviderData): Promise<void> {
      const id = linkIdOf(data);
      const reply = await call('POST', `/v1/payment_links/${encodeURIComponent(id)}/cancel`);
      if (reply.status === 200) return;
      if (reply.status === 400) {
        // A retried cancel, or a link that expired meanwhile: either way nobody can pay it any more.
        const link = await fetchLink(id);
        if (link.status === 'cancelled' || link.status === 'expired') return;
      }
      throw failure(reply, 'payment link cancel');
    },

    async refund(data: ProviderData, amount: Money): Promise<RefundResult> {
      let paymentId = typeof data.paymentId === 'string' && data.paymentId !== '' ? data.paymentId : undefined;
      if (!paymentId) {
        const link = await fetchLink(linkIdOf(data));
        if (link.currency !== amount.currency) throw rejected(`refund in ${amount.currency} for a link paid in ${link.currency}`);
        paymentId = capturedPaymentId(link);
        if (!paymentId) throw rejected(`payment link ${link.id} has no captured payment to refund`);
      }
      const reply = await call('POST', `/v1/payments/${encodeURIComponent(paymentId)}/refund`, { amount: amount.amount });
      if (reply.status !== 200) throw failure(reply, 'refund');
      const refund = entity(Refund, reply, 'refund');
      const status = refund.status === 'processed' ? 'succeeded' : refund.status === 'failed' ? 'failed' : 'pending';
      return { status, providerReference: refund.id, data: { refundId: refund.id, paymentId: refund.payment_id } };
    },

    async parseWebhook(req) {
      return parseRazorpayDelivery(req, settings.webhookSecret);
    },
  };
}

/** `X-Razorpay-Signature`: hex HMAC-SHA256 of the raw body with the webhook secret, compared in constant time. */
export function verifyRazorpaySignature(raw: Buffer, signature: string | undefined, secret: string): boolean {
  if (!signature || !secret) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const Envelope = z.object({
  entity: z.literal('event'),
  event: z.string().min(1),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.number().optional(),
});

const WebhookLink = z.object({
  id: z.string().min(1),
  status: z.string(),
  amount: z.number().int(),
  amount_paid: z.number().int().nullish(),
  currency: z.string(),
  reference_id: z.string().nullish(),
  notes: Notes,
});

const WebhookPayment = z.object({
  id: z.string().min(1),
  amount: z.number().int(),
  currency: z.string(),
  status: z.string(),
  notes: Notes,
  description: z.string().nullish(),
  error_description: z.string().nullish(),
  error_reason: z.string().nullish(),
});

const LinkPayload = z.object({ payment_link: z.object({ entity: WebhookLink }) });
const PaidPayload = LinkPayload.extend({ payment: z.object({ entity: WebhookPayment }) });
const FailedPayload = z.object({
  payment: z.object({ entity: WebhookPayment }),
  payment_link: z.object({ entity: WebhookLink }).optional(),
});

const CapturedPayload = FailedPayload;

const HANDLED_EVENTS = new Set(['payment_link.paid', 'payment_link.partially_paid', 'payment_link.expired', 'payment_link.cancelled', 'payment.failed', 'payment.captured']);

/**
 * The payment link a bare payment was made on, from the payment's description: Razorpay's samples of a link payment
 * show `"description": "#<link id without plink_>"` (protocols.md §6.3; unconfirmed beyond them).
 */
export function linkIdFromDescription(description: string | null | undefined): string | undefined {
  const match = /^#([A-Za-z0-9]{6,40})$/.exec(description?.trim() ?? '');
  return match ? `plink_${match[1]}` : undefined;
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new InvalidCallbackError('Razorpay webhook body is not JSON');
  }
}

function payloadOf<T>(schema: z.ZodType<T>, payload: unknown, event: string): T {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new InvalidCallbackError(`Razorpay ${event} payload: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Razorpay's error_reason values are not all documented; the recognisable ones pick the customer message, the rest decline. */
function failureReasonOf(errorReason: string | null | undefined): FailureReason {
  const reason = errorReason ?? '';
  if (/cancel/.test(reason)) return 'cancelled_by_customer';
  if (/insufficient/.test(reason)) return 'insufficient_funds';
  if (/timed?_?out/.test(reason)) return 'timeout';
  return 'declined';
}

const PERSONAL_KEYS: ReadonlySet<string> = new Set(['contact', 'email', 'vpa', 'customer', 'wa_id']);

const withoutPersonalData = (value: unknown): unknown => withoutPersonalKeys(value, PERSONAL_KEYS);

/**
 * A verified webhook body → one normalised event, or null for a well-formed event duka does not act on (such as
 * `order.paid`), which must still be answered 2xx or Razorpay retries it for a day and then disables the webhook.
 */
export function parseRazorpayWebhook(raw: Buffer, eventId: string | undefined): NormalisedPaymentEvent | null {
  const envelope = Envelope.safeParse(parseJson(raw));
  if (!envelope.success) throw new InvalidCallbackError('not a Razorpay webhook event');
  const { event, payload } = envelope.data;
  if (!HANDLED_EVENTS.has(event)) return null;

  const invalid = (message: string) => new InvalidCallbackError(message);
  const dedupKey = eventId ? `razorpay:${eventId}` : `razorpay:sha256:${createHash('sha256').update(raw).digest('hex')}`;
  const redacted = withoutPersonalData(envelope.data);

  if (event === 'payment.failed') {
    const { payment, payment_link: link } = payloadOf(FailedPayload, payload, event);
    const reference = link?.entity.reference_id ?? noteReference(link?.entity.notes) ?? noteReference(payment.entity.notes);
    // A failed attempt leaves the link payable: the customer may try again on the same link until it expires.
    return {
      ...(reference ? { reference } : {}),
      ...(link ? { providerReference: link.entity.id } : {}),
      status: 'failed',
      amount: moneyOf(payment.entity.amount, payment.entity.currency, 'payment', invalid),
      transactionReference: payment.entity.id,
      failureReason: failureReasonOf(payment.entity.error_reason),
      ...(payment.entity.error_description ? { failureMessage: payment.entity.error_description } : {}),
      dedupKey,
      raw: redacted,
    };
  }

  if (event === 'payment.captured') {
    // Seed 004 subscribes only this one: it carries no payment link, so the link is found by the payment's notes
    // (duka's reference, when Razorpay copies the link's notes) or its description. The workflow then confirms with
    // the link's status before the order is paid, and the link's own payment_link.paid, if also subscribed, finds the
    // attempt already settled.
    const { payment, payment_link: link } = payloadOf(CapturedPayload, payload, event);
    const reference = link?.entity.reference_id ?? noteReference(link?.entity.notes) ?? noteReference(payment.entity.notes);
    const linkId = link?.entity.id ?? linkIdFromDescription(payment.entity.description);
    return {
      ...(reference ? { reference } : {}),
      ...(linkId ? { providerReference: linkId } : {}),
      status: 'succeeded',
      amount: moneyOf(payment.entity.amount, payment.entity.currency, 'payment', invalid),
      transactionReference: payment.entity.id,
      dedupKey,
      raw: redacted,
    };
  }

  if (event === 'payment_link.paid' || event === 'payment_link.partially_paid') {
    const { payment_link: link, payment } = payloadOf(PaidPayload, payload, event);
    const reference = link.entity.reference_id ?? noteReference(link.entity.notes) ?? noteReference(payment.entity.notes);
    return {
      ...(reference ? { reference } : {}),
      providerReference: link.entity.id,
      // partially_paid: money has arrived but the link is still open, so the amount is what was paid so far.
      status: event === 'payment_link.paid' ? 'succeeded' : 'pending',
      amount: moneyOf(link.entity.amount_paid ?? payment.entity.amount, link.entity.currency, 'payment link', invalid),
      transactionReference: payment.entity.id,
      dedupKey,
      raw: redacted,
    };
  }

  const { payment_link: link } = payloadOf(LinkPayload, payload, event);
  const reference = link.entity.reference_id ?? noteReference(link.entity.notes);
  return {
    ...(reference ? { reference } : {}),
    providerReference: link.entity.id,
    ...(event === 'payment_link.expired' ? { status: 'expired' as const, failureReason: 'expired' as const } : { status: 'cancelled' as const }),
    dedupKey,
    raw: redacted,
  };
}

/** `x-razorpay-event-id` is not covered by the signature: only a plausible one is trusted as the dedup key. */
function eventIdOf(req: WebhookRequest): string | undefined {
  const header = req.header('x-razorpay-event-id');
  return header && /^[A-Za-z0-9_.:-]{1,100}$/.test(header) ? header : undefined;
}

/**
 * Webhooks (§6.3): `X-Razorpay-Signature` over the raw body with the webhook secret of the payment's shop, dedup on
 * `x-razorpay-event-id`. The payment is found by the link's reference_id (duka's reference) or the notes.
 */
export const razorpayWebhook: WebhookSpec = {
  provider: 'razorpay',
  path: 'razorpay',
  tokenInPath: false,
  claim(req) {
    const reference = referenceFromRazorpayWebhook(req.rawBody);
    if (reference) return { by: 'reference', value: reference };
    const linkId = linkFromRazorpayWebhook(req.rawBody);
    return linkId ? { by: 'providerReference', value: linkId } : null;
  },
  unknownPayment: 'verify_any',
  forged: { status: 403, code: 'invalid_signature', message: 'X-Razorpay-Signature does not match the body' },
  accepted: { status: 'accepted' },
};

/** One delivery → its event, verified with this webhook secret; a genuine event duka does not act on is `not_supported`. */
export function parseRazorpayDelivery(req: WebhookRequest, webhookSecret: string): WebhookActionAndData {
  if (!verifyRazorpaySignature(req.rawBody, req.header('x-razorpay-signature'), webhookSecret)) return forgedWebhook(razorpayWebhook.forged.message);
  const eventId = eventIdOf(req);
  let event: NormalisedPaymentEvent | null;
  try {
    event = parseRazorpayWebhook(req.rawBody, eventId);
  } catch (err) {
    if (err instanceof InvalidCallbackError) return malformedWebhook(err.message);
    throw err;
  }
  if (event) return webhookEvent(event);
  const dedupKey = eventId ? `razorpay:${eventId}` : `razorpay:sha256:${createHash('sha256').update(req.rawBody).digest('hex')}`;
  return { action: 'not_supported', data: { dedupKey, raw: withoutPersonalData(JSON.parse(req.rawBody.toString('utf8'))) } };
}

type ClaimedPayload = Record<string, { entity?: { reference_id?: unknown; notes?: unknown; description?: unknown } } | undefined>;

function claimedPayload(raw: Buffer): ClaimedPayload | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  const payload = (body as { payload?: ClaimedPayload } | null)?.payload;
  return payload && typeof payload === 'object' ? payload : undefined;
}

/** Unverified: the link a bare payment event (payment.captured without notes) names in its description. */
function linkFromRazorpayWebhook(raw: Buffer): string | undefined {
  const description = claimedPayload(raw)?.payment?.entity?.description;
  return typeof description === 'string' ? linkIdFromDescription(description) : undefined;
}

/** Unverified: which payment the body claims to be about, so the API can pick the shop's secret before verifying it. */
export function referenceFromRazorpayWebhook(raw: Buffer): string | undefined {
  const payload = claimedPayload(raw);
  if (!payload) return undefined;
  const linkEntity = payload.payment_link?.entity;
  if (typeof linkEntity?.reference_id === 'string' && linkEntity.reference_id !== '') return linkEntity.reference_id;
  for (const entity of [linkEntity, payload.payment?.entity]) {
    const notes = Notes.safeParse(entity?.notes);
    const reference = notes.success ? noteReference(notes.data) : undefined;
    if (reference) return reference;
  }
  return undefined;
}
