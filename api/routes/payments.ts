import { createHash, randomUUID } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Config } from '../../lib/config.ts';
import { maskPhones, type Logger } from '../../lib/logger.ts';
import { orderWorkflowId } from '../../domain/ids.ts';
import { isCurrencyCode } from '../../domain/money.ts';
import { CallbackSignatureError, InvalidCallbackError, type NormalisedPaymentEvent, type ProviderId } from '../../providers/payments/types.ts';
import type { PaymentProviders } from '../../providers/payments/registry.ts';
import { parseStkCallback } from '../../providers/payments/mpesa.ts';
import { parsePaynowStatusUpdate, referenceFromPaynowUpdate } from '../../providers/payments/paynow.ts';
import { parseRazorpayWebhook, referenceFromRazorpayWebhook, verifyRazorpaySignature } from '../../providers/payments/razorpay.ts';
import { paymentEventSignal, type PaymentSignal } from '../../workflows/definitions.ts';
import { HttpError, sendError } from '../errors.ts';
import { requestLog } from '../context.ts';
import { isWorkflowNotFound } from '../temporal.ts';
import type { ShopDirectory } from '../shops.ts';
import { BODY_LIMIT } from '../limits.ts';

export interface PaymentRouteDeps {
  config: Config;
  orm: MikroORM;
  temporal: Client;
  payments: PaymentProviders;
  shops: ShopDirectory;
}

type Outcome = 'accepted' | 'duplicate' | 'rejected' | 'unknown_payment' | 'malformed';

/** The payment a callback is about, read with its order number (the workflow to signal). */
interface PaymentRow {
  id: string;
  reference: string;
  provider: ProviderId;
  provider_reference: string | null;
  currency: string;
  shop_id: string;
  order_number: string | null;
  data: Record<string, unknown> | null;
}

/** Daraja wants this exact answer, for new and repeated callbacks alike. */
export const DARAJA_ACCEPTED = { ResultCode: 0, ResultDesc: 'Accepted' } as const;

/** Evidence of requests that failed a check is kept, but bounded: a forged body cannot fill the disk 1 MB at a time. */
const MAX_REJECTED_RAW = 64 * 1024;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const KEPT_HEADERS = ['content-type', 'content-length', 'user-agent', 'x-forwarded-for', 'x-request-id', 'x-razorpay-event-id', 'x-razorpay-signature'];

const PAYMENT_SELECT =
  'select p.id, p.reference, p.provider, p.provider_reference, p.currency, p.shop_id, o.number as order_number, p.data ' +
  'from payment p left join orders o on o.id = p.order_id';

const EMPTY = Buffer.alloc(0);
const rawBody = express.raw({ type: () => true, limit: BODY_LIMIT });
const bytesOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : EMPTY);

const PERSONAL_KEY = /^(phone|phonenumber|phone_number|msisdn|contact|email|vpa|wa_id|partya)$/i;

function redactJson(value: unknown, depth = 0): unknown {
  if (depth > 20) return '[deep]';
  if (Array.isArray(value)) return value.map((v) => redactJson(v, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  // Daraja's CallbackMetadata items: { Name: 'PhoneNumber', Value: 2547… }.
  if (typeof record.Name === 'string' && PERSONAL_KEY.test(record.Name) && 'Value' in record) return { ...record, Value: 'redacted' };
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, PERSONAL_KEY.test(k) && v !== null ? 'redacted' : redactJson(v, depth + 1)]));
}

/**
 * What is stored when no provider parser produced a redacted copy: JSON keeps its content minus personal fields
 * (phone, e-mail, UPI id); anything else has phone-like digit runs and e-mail addresses masked.
 */
export function redactRaw(raw: string, limit = Number.POSITIVE_INFINITY): string {
  const text = raw.length > limit ? `${raw.slice(0, limit)}…[truncated ${raw.length - limit} chars]` : raw;
  if (raw.length <= limit) {
    try {
      return JSON.stringify(redactJson(JSON.parse(text)));
    } catch {
      // not JSON: fall through
    }
  }
  return maskPhones(text).replace(EMAIL, '[email]');
}

const sha256hex = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/**
 * Provider callbacks (CONTRACT.md): evidence first — every delivery is stored as a PaymentEvent before anything acts
 * on it; a check that fails is recorded with `security: true` and answered 401/403 without touching an order; only
 * then is the order workflow signalled. The workflow confirms with the provider (STK query, poll URL) before it marks
 * anything paid, so a callback can at worst make it look sooner.
 */
export function paymentsRouter(deps: PaymentRouteDeps): Router {
  const { config, orm, temporal, payments, shops } = deps;
  const router = Router();
  const sql = () => orm.em.getConnection();

  function keptHeaders(req: Request): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = req.get(name);
      if (value !== undefined) headers[name] = value;
    }
    if (req.socket.remoteAddress) headers['remote-address'] = req.socket.remoteAddress;
    return headers;
  }

  interface Evidence {
    provider: ProviderId;
    dedupKey: string;
    paymentId: string | null;
    outcome: Outcome;
    security?: boolean;
    raw: string;
  }

  /** Inserts one PaymentEvent and returns its id; null when its dedupKey is already taken. */
  async function insertEvidence(req: Request, e: Evidence): Promise<string | null> {
    const id = randomUUID();
    // dedup_key is varchar(255): a longer key (a provider id of unexpected length) is kept unique by its hash.
    const dedupKey = e.dedupKey.length <= 200 ? e.dedupKey : `${e.provider}:sha256:${sha256hex(e.dedupKey)}`;
    const rows = await sql().execute<{ id: string }[]>(
      'insert into payment_event (id, provider, dedup_key, payment_id, outcome, security, headers, raw, received_at) ' +
        'values (?, ?, ?, ?, ?, ?, ?::jsonb, ?, now()) on conflict (dedup_key) do nothing returning id',
      [id, e.provider, dedupKey, e.paymentId, e.outcome, e.security ?? false, JSON.stringify(keptHeaders(req)), e.raw],
    );
    return rows[0]?.id ?? null;
  }

  /** A request that is not acted on: each delivery gets its own row. */
  async function recordRefusal(req: Request, e: Omit<Evidence, 'dedupKey'>): Promise<void> {
    await insertEvidence(req, { ...e, dedupKey: `${e.provider}:${e.outcome}:${randomUUID()}` });
  }

  /** The first delivery of a fact is `accepted` (id returned); a repeat is stored as `duplicate` and returns null. */
  async function recordAccepted(req: Request, e: Omit<Evidence, 'outcome'>): Promise<string | null> {
    const id = await insertEvidence(req, { ...e, outcome: 'accepted' });
    if (id) return id;
    await insertEvidence(req, { ...e, outcome: 'duplicate', dedupKey: `${e.dedupKey}:duplicate:${randomUUID()}` });
    return null;
  }

  async function setOutcome(eventId: string, outcome: Outcome): Promise<void> {
    await sql().execute('update payment_event set outcome = ? where id = ?', [outcome, eventId]);
  }

  /** Temporal did not take it: keep the evidence but free the dedup key, so the provider's retry goes through. */
  async function releaseDedupKey(eventId: string): Promise<void> {
    await sql().execute("update payment_event set dedup_key = dedup_key || ':undelivered:' || id::text where id = ?", [eventId]);
  }

  async function paymentWhere(column: 'callback_token_hash' | 'reference', value: string): Promise<PaymentRow | null> {
    const rows = await sql().execute<PaymentRow[]>(`${PAYMENT_SELECT} where p.${column} = ? limit 1`, [value]);
    return rows[0] ?? null;
  }

  /**
   * A payment whose initiation answer was lost has no provider id yet: a verified callback (M-Pesa: on the attempt's
   * own token; Paynow: hash-checked, with duka's reference) teaches it one, so the workflow's status check can confirm
   * it with the provider. False when that id already belongs to another payment (never adopted: a forgery).
   */
  async function adoptProviderData(payment: PaymentRow, event: NormalisedPaymentEvent): Promise<boolean> {
    if (payment.provider_reference !== null || !event.providerData || !event.providerReference) return true;
    try {
      await sql().execute(
        `update payment set provider_reference = ?, data = ?::jsonb || coalesce(data, '{}'::jsonb), updated_at = now() where id = ? and provider_reference is null`,
        [event.providerReference, JSON.stringify(event.providerData), payment.id],
      );
      return true;
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException || (err as { code?: unknown }).code === '23505') return false;
      throw err;
    }
  }

  function targetWorkflow(payment: PaymentRow): string | null {
    if (payment.order_number) return orderWorkflowId(payment.order_number);
    const fromData = payment.data?.workflowId;
    return typeof fromData === 'string' && fromData ? fromData : null;
  }

  /**
   * Signals the order workflow and answers. A finished workflow (a late callback) is not an error for the provider:
   * recorded as `rejected` (not a security event) and answered 2xx. Temporal being unreachable is 503, so the provider
   * retries.
   */
  async function deliver(res: Response, log: Logger, eventId: string, payment: PaymentRow, event: NormalisedPaymentEvent, ok: () => void): Promise<void> {
    const signal: PaymentSignal = { reference: payment.reference, status: event.status, source: 'callback' };
    if (event.amount) {
      signal.amount = event.amount.amount;
      signal.currency = event.amount.currency;
    }
    if (event.transactionReference) signal.transactionReference = event.transactionReference;
    if (event.failureReason) signal.failureReason = event.failureReason;
    const workflowId = targetWorkflow(payment);
    if (!workflowId) {
      log.warn({ payment: payment.reference }, 'payment callback: the payment belongs to no order workflow; stored only');
      ok();
      return;
    }
    try {
      await temporal.workflow.getHandle(workflowId).signal(paymentEventSignal, signal);
    } catch (err) {
      if (isWorkflowNotFound(err)) {
        log.warn({ payment: payment.reference, workflowId, status: event.status }, 'payment callback for a finished order: recorded, not delivered');
        await setOutcome(eventId, 'rejected');
        ok();
        return;
      }
      log.warn({ payment: payment.reference, workflowId, err }, 'payment callback: Temporal did not take the signal');
      await releaseDedupKey(eventId);
      sendError(res, 503, 'unavailable', 'could not hand the callback to the order; retry later');
      return;
    }
    log.info({ payment: payment.reference, workflowId, status: event.status }, 'payment callback delivered');
    ok();
  }

  // ---- M-Pesa Daraja (§5.4, §5.6): unsigned, so the per-payment token in the CallBackURL is the credential. ----------
  async function mpesa(req: Request, res: Response, token: string | undefined): Promise<void> {
    const log = requestLog(res);
    const text = bytesOf(req).toString('utf8');
    const payment = token ? await paymentWhere('callback_token_hash', sha256hex(token)) : null;
    if (!payment || payment.provider !== 'mpesa') {
      await recordRefusal(req, { provider: 'mpesa', paymentId: null, outcome: 'rejected', security: true, raw: redactRaw(text, MAX_REJECTED_RAW) });
      log.warn('mpesa callback: unknown callback token');
      throw new HttpError(403, 'forbidden', 'unknown callback token');
    }
    let event: NormalisedPaymentEvent;
    try {
      event = parseStkCallback(JSON.parse(text));
    } catch (err) {
      if (!(err instanceof SyntaxError) && !(err instanceof InvalidCallbackError)) throw err;
      await recordRefusal(req, { provider: 'mpesa', paymentId: payment.id, outcome: 'malformed', raw: redactRaw(text, MAX_REJECTED_RAW) });
      throw new HttpError(400, 'invalid_callback', err instanceof SyntaxError ? 'body is not JSON' : err.message);
    }
    // The push's CheckoutRequestID is stored once Daraja answers the push; a callback racing that write, or for a push
    // whose answer was lost, is let through on the token alone and its CheckoutRequestID adopted (the workflow confirms
    // by STK query before anything is marked paid or ended).
    if ((payment.provider_reference !== null && event.providerReference !== payment.provider_reference) || !(await adoptProviderData(payment, event))) {
      await recordRefusal(req, { provider: 'mpesa', paymentId: payment.id, outcome: 'rejected', security: true, raw: JSON.stringify(event.raw) });
      log.warn({ payment: payment.reference }, 'mpesa callback: CheckoutRequestID does not match the payment');
      throw new HttpError(403, 'forbidden', 'CheckoutRequestID does not belong to this callback URL');
    }
    const eventId = await recordAccepted(req, { provider: 'mpesa', dedupKey: event.dedupKey, paymentId: payment.id, raw: JSON.stringify(event.raw) });
    if (!eventId) {
      res.json(DARAJA_ACCEPTED);
      return;
    }
    await deliver(res, log, eventId, payment, event, () => res.json(DARAJA_ACCEPTED));
  }

  router.post('/webhooks/mpesa/:token', rawBody, (req, res) => mpesa(req, res, req.params.token));
  router.post('/webhooks/mpesa', rawBody, (req, res) => mpesa(req, res, undefined));

  // ---- Paynow (§4.4): form-encoded, SHA-512 hash with the shop's integration key. -----------------------------------
  router.post('/webhooks/paynow', rawBody, async (req, res) => {
    const log = requestLog(res);
    const text = bytesOf(req).toString('utf8');
    const reference = referenceFromPaynowUpdate(text);
    const payment = reference ? await paymentWhere('reference', reference) : null;
    const shop = payment && payment.provider === 'paynow' ? await shops.get(payment.shop_id) : undefined;
    if (!payment || !shop) {
      // 404: a reference duka never issued. Paynow retries an error a bounded number of times (§4.4), which also
      // covers the one benign case (an update racing the payment row's commit); nothing is verified or acted on.
      await recordRefusal(req, { provider: 'paynow', paymentId: null, outcome: 'unknown_payment', raw: redactRaw(text, MAX_REJECTED_RAW) });
      log.warn('paynow status update for an unknown reference');
      throw new HttpError(404, 'unknown_payment', 'no payment with this reference');
    }
    if (!isCurrencyCode(payment.currency)) throw new Error(`payment ${payment.reference} has an unsupported currency ${payment.currency}`);
    let event: NormalisedPaymentEvent;
    try {
      event = parsePaynowStatusUpdate(text, payments.secretsFor(shop).paynowIntegrationKey, payment.currency);
    } catch (err) {
      if (err instanceof CallbackSignatureError) {
        await recordRefusal(req, { provider: 'paynow', paymentId: payment.id, outcome: 'rejected', security: true, raw: redactRaw(text, MAX_REJECTED_RAW) });
        log.warn({ payment: payment.reference }, 'paynow status update: hash does not verify');
        throw new HttpError(403, 'invalid_signature', err.message);
      }
      if (err instanceof InvalidCallbackError) {
        await recordRefusal(req, { provider: 'paynow', paymentId: payment.id, outcome: 'malformed', raw: redactRaw(text, MAX_REJECTED_RAW) });
        throw new HttpError(400, 'invalid_callback', err.message);
      }
      throw err;
    }
    if (!(await adoptProviderData(payment, event))) {
      await recordRefusal(req, { provider: 'paynow', paymentId: payment.id, outcome: 'rejected', security: true, raw: redactRaw(text, MAX_REJECTED_RAW) });
      log.warn({ payment: payment.reference }, 'paynow status update: its poll URL belongs to another payment');
      throw new HttpError(403, 'invalid_signature', 'the poll URL belongs to another payment');
    }
    const accepted = () => res.json({ status: 'accepted' });
    const eventId = await recordAccepted(req, { provider: 'paynow', dedupKey: event.dedupKey, paymentId: payment.id, raw: redactRaw(JSON.stringify(event.raw)) });
    if (!eventId) {
      accepted();
      return;
    }
    await deliver(res, log, eventId, payment, event, accepted);
  });

  // ---- Razorpay (§6.3): HMAC over the raw body with the webhook secret; dedup on x-razorpay-event-id. ---------------
  router.post('/webhooks/razorpay', rawBody, async (req, res) => {
    const log = requestLog(res);
    const raw = bytesOf(req);
    const signature = req.get('x-razorpay-signature');
    // Not covered by the signature: only a plausible id is trusted as the dedup key, else the body's hash is.
    const eventHeader = req.get('x-razorpay-event-id');
    const eventId = eventHeader && /^[A-Za-z0-9_.:-]{1,100}$/.test(eventHeader) ? eventHeader : undefined;
    const reference = referenceFromRazorpayWebhook(raw);
    const found = reference ? await paymentWhere('reference', reference) : null;
    const payment = found && found.provider === 'razorpay' ? found : null;
    const shop = payment ? await shops.get(payment.shop_id) : undefined;
    // A known payment is checked with its shop's secret only; anything else (other events on the merchant account)
    // with any secret duka knows, so it can be answered 2xx and Razorpay does not disable the webhook.
    const secrets = shop
      ? [payments.secretsFor(shop).razorpayWebhookSecret]
      : [...new Set([config.razorpay.webhookSecret, ...(await shops.all()).map((s) => payments.secretsFor(s).razorpayWebhookSecret)])];
    if (!secrets.some((secret) => verifyRazorpaySignature(raw, signature, secret))) {
      await recordRefusal(req, { provider: 'razorpay', paymentId: payment?.id ?? null, outcome: 'rejected', security: true, raw: redactRaw(raw.toString('utf8'), MAX_REJECTED_RAW) });
      log.warn({ hasSignature: Boolean(signature) }, 'razorpay webhook: signature does not verify');
      throw new HttpError(403, 'invalid_signature', 'X-Razorpay-Signature does not match the body');
    }
    let event: NormalisedPaymentEvent | null;
    try {
      event = parseRazorpayWebhook(raw, eventId);
    } catch (err) {
      if (!(err instanceof InvalidCallbackError)) throw err;
      await recordRefusal(req, { provider: 'razorpay', paymentId: payment?.id ?? null, outcome: 'malformed', raw: redactRaw(raw.toString('utf8'), MAX_REJECTED_RAW) });
      throw new HttpError(400, 'invalid_callback', err.message);
    }
    const accepted = () => res.json({ status: 'accepted' });
    const dedupKey = event?.dedupKey ?? (eventId ? `razorpay:${eventId}` : `razorpay:sha256:${sha256hex(raw)}`);
    const stored = event ? JSON.stringify(event.raw) : redactRaw(raw.toString('utf8'));
    if (!payment) {
      const id = await insertEvidence(req, { provider: 'razorpay', dedupKey, paymentId: null, outcome: 'unknown_payment', raw: stored });
      if (id) log.info({ event: eventId }, 'razorpay webhook for no duka payment: stored only');
      accepted();
      return;
    }
    const storedId = await recordAccepted(req, { provider: 'razorpay', dedupKey, paymentId: payment.id, raw: stored });
    if (!storedId || !event) {
      // A repeat, or an event type duka does not act on (payment.captured, order.paid…): stored, nothing to signal.
      accepted();
      return;
    }
    await deliver(res, log, storedId, payment, event, accepted);
  });

  return router;
}
