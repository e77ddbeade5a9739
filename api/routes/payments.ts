import { createHash, randomUUID } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Config } from '../../lib/config.ts';
import { logger, maskPhones, type Logger } from '../../lib/logger.ts';
import { orderWorkflowId } from '../../domain/ids.ts';
import { isCurrencyCode } from '../../domain/money.ts';
import type { NormalisedPaymentEvent, ProviderId, WebhookActionAndData, WebhookRequest, WebhookSpec } from '../../providers/payments/types.ts';
import { WEBHOOKS, type PaymentProviders } from '../../providers/payments/registry.ts';
import { paymentEventSignal, type PaymentSignal } from '../../workflows/definitions.ts';
import { HttpError, sendError } from '../errors.ts';
import { requestLog } from '../context.ts';
import { isWorkflowNotFound } from '../temporal.ts';
import type { ShopDirectory } from '../shops.ts';
import { BODY_LIMIT, MAX_REFUSAL_BYTES, PerMinuteBudget } from '../limits.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../lib/untrusted-json.ts';
import { paymentCallbacks } from '../../lib/metrics.ts';

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

/** Evidence of requests that failed a check is kept, but bounded: a forged body cannot fill the disk 1 MB at a time. */
const MAX_REJECTED_RAW = MAX_REFUSAL_BYTES;
/** Refused and repeated deliveries stored per provider and minute; past it they are counted only (metrics, one log line). */
const REFUSALS_PER_MINUTE = 60;
/** No provider sends NUL (raw, `\u0000` in JSON, `%00` in a form); PostgreSQL refuses it in text, jsonb and lookups. */
const NUL = /\0|\\u0000|%00/i;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const KEPT_HEADERS = ['content-type', 'content-length', 'user-agent', 'x-forwarded-for', 'x-request-id', 'x-razorpay-event-id', 'x-razorpay-signature', 'x-ghala-signature', 'x-ghala-timestamp'];

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
  const { orm, temporal, payments, shops } = deps;
  const router = Router();
  const sql = () => orm.em.getConnection();
  const refusals = new PerMinuteBudget(REFUSALS_PER_MINUTE, (provider, dropped) =>
    logger.warn({ provider, dropped }, 'payment callbacks: refused deliveries over the per-minute budget were counted, not stored'),
  );

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
    if (rows[0]) paymentCallbacks.inc({ provider: e.provider, outcome: e.security ? 'forged' : e.outcome });
    return rows[0]?.id ?? null;
  }

  /** A request that is not acted on: each delivery gets its own row, up to REFUSALS_PER_MINUTE per provider. */
  async function recordRefusal(req: Request, e: Omit<Evidence, 'dedupKey'>): Promise<void> {
    if (!refusals.take(e.provider)) {
      paymentCallbacks.inc({ provider: e.provider, outcome: e.security ? 'forged' : e.outcome });
      return;
    }
    await insertEvidence(req, { ...e, dedupKey: `${e.provider}:${e.outcome}:${randomUUID()}` });
  }

  /** The first delivery of a fact is `accepted` (id returned); a repeat is stored as `duplicate` and returns null. */
  async function recordAccepted(req: Request, e: Omit<Evidence, 'outcome'>): Promise<string | null> {
    const id = await insertEvidence(req, { ...e, outcome: 'accepted' });
    if (id) return id;
    // A replayed genuine delivery is kept like a refusal: bounded, so replays cannot grow the table either.
    if (refusals.take(e.provider)) await insertEvidence(req, { ...e, outcome: 'duplicate', dedupKey: `${e.dedupKey}:duplicate:${randomUUID()}`, raw: redactRaw(e.raw, MAX_REJECTED_RAW) });
    else paymentCallbacks.inc({ provider: e.provider, outcome: 'duplicate' });
    return null;
  }

  async function setOutcome(eventId: string, outcome: Outcome): Promise<void> {
    await sql().execute('update payment_event set outcome = ? where id = ?', [outcome, eventId]);
  }

  /** Temporal did not take it: keep the evidence but free the dedup key, so the provider's retry goes through. */
  async function releaseDedupKey(eventId: string): Promise<void> {
    await sql().execute("update payment_event set dedup_key = dedup_key || ':undelivered:' || id::text where id = ?", [eventId]);
  }

  async function paymentWhere(column: 'callback_token_hash' | 'reference' | 'provider_reference', value: string): Promise<PaymentRow | null> {
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
      paymentCallbacks.inc({ provider: payment.provider, outcome: 'unavailable' });
      sendError(res, 503, 'unavailable', 'could not hand the callback to the order; retry later');
      return;
    }
    log.info({ payment: payment.reference, workflowId, status: event.status }, 'payment callback delivered');
    ok();
  }

  async function signedByAnyCredential(spec: WebhookSpec, request: WebhookRequest): Promise<boolean> {
    for (const provider of payments.everyCredential(await shops.all(), spec.provider)) {
      const verdict = await provider.parseWebhook?.(request, null);
      if (verdict && verdict.action !== 'forged') return true;
    }
    return false;
  }

  /** The claim found no payment of this provider: the provider's rule for that (WebhookSpec.unknownPayment). */
  async function unknownPayment(spec: WebhookSpec, request: WebhookRequest, req: Request, res: Response, log: Logger): Promise<void> {
    const text = request.rawBody.toString('utf8');
    if (spec.unknownPayment === 'forged') {
      await recordRefusal(req, { provider: spec.provider, paymentId: null, outcome: 'rejected', security: true, raw: redactRaw(text, MAX_REJECTED_RAW) });
      log.warn({ provider: spec.provider }, 'payment callback for no known payment: refused');
      throw new HttpError(spec.forged.status, spec.forged.code, spec.forged.message);
    }
    if (spec.unknownPayment === 'not_found') {
      await recordRefusal(req, { provider: spec.provider, paymentId: null, outcome: 'unknown_payment', raw: redactRaw(text, MAX_REJECTED_RAW) });
      log.warn({ provider: spec.provider }, 'payment callback for an unknown reference');
      throw new HttpError(404, 'unknown_payment', 'no payment with this reference');
    }
    // Other events on the merchant account: checked with every credential duka knows, so a genuine one is answered
    // 2xx (and stored) and the provider does not disable the webhook; nothing is signalled.
    let verdict: WebhookActionAndData | undefined;
    for (const provider of payments.everyCredential(await shops.all(), spec.provider)) {
      verdict = await provider.parseWebhook?.(request, null);
      if (verdict && verdict.action !== 'forged') break;
    }
    if (!verdict || verdict.action === 'forged' || verdict.action === 'malformed') return refuse(spec, req, null, verdict, text, log);
    const id = await insertEvidence(req, { provider: spec.provider, dedupKey: verdict.data.dedupKey, paymentId: null, outcome: 'unknown_payment', raw: redactRaw(JSON.stringify(verdict.data.raw)) });
    if (id) log.info({ provider: spec.provider }, 'payment callback for no duka payment: stored only');
    res.json(spec.accepted);
  }

  /** Forged (401/403, a security event) or malformed (400): recorded, answered, nothing touched. */
  async function refuse(spec: WebhookSpec, req: Request, payment: PaymentRow | null, verdict: WebhookActionAndData | undefined, text: string, log: Logger): Promise<never> {
    const raw = redactRaw(text, MAX_REJECTED_RAW);
    if (verdict?.action === 'malformed') {
      await recordRefusal(req, { provider: spec.provider, paymentId: payment?.id ?? null, outcome: 'malformed', raw });
      throw new HttpError(400, 'invalid_callback', verdict.data.message);
    }
    const message = verdict?.action === 'forged' ? verdict.data.message : spec.forged.message;
    await recordRefusal(req, { provider: spec.provider, paymentId: payment?.id ?? null, outcome: 'rejected', security: true, raw });
    log.warn({ provider: spec.provider, payment: payment?.reference, reason: message }, 'payment callback refused');
    throw new HttpError(spec.forged.status, spec.forged.code, message);
  }

  /**
   * One route for every provider that calls back (CONTRACT.md's paths): the provider says which payment the delivery
   * claims, the payment's own provider (its shop's credentials) verifies and normalises it, and only then is it stored
   * as accepted and handed to the order workflow.
   */
  async function webhook(spec: WebhookSpec, req: Request, res: Response): Promise<void> {
    const log = requestLog(res);
    const request: WebhookRequest = { rawBody: bytesOf(req), header: (name) => req.get(name), ...(typeof req.params.token === 'string' ? { pathToken: req.params.token } : {}) };
    if (NUL.test(request.rawBody.toString('latin1'))) {
      paymentCallbacks.inc({ provider: spec.provider, outcome: 'malformed' });
      throw new HttpError(400, 'invalid_callback', 'the body contains a NUL character');
    }
    if (nestsDeeperThan(request.rawBody.toString('utf8'))) {
      paymentCallbacks.inc({ provider: spec.provider, outcome: 'malformed' });
      throw new HttpError(400, 'invalid_callback', `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    // A provider that can check a delivery without knowing its payment (one signature over the body) does so before
    // anything in the body is looked up: an unsigned body never reaches a query.
    if (spec.unknownPayment === 'verify_any' && !(await signedByAnyCredential(spec, request))) return refuse(spec, req, null, undefined, request.rawBody.toString('utf8'), log);
    const claim = spec.claim(request);
    const column = claim?.by === 'callbackToken' ? 'callback_token_hash' : claim?.by === 'providerReference' ? 'provider_reference' : 'reference';
    const found = claim ? await paymentWhere(column, claim.by === 'callbackToken' ? sha256hex(claim.value) : claim.value) : null;
    const payment = found?.provider === spec.provider ? found : null;
    const shop = payment ? await shops.get(payment.shop_id) : undefined;
    if (!payment || !shop) return unknownPayment(spec, request, req, res, log);
    if (!isCurrencyCode(payment.currency)) throw new Error(`payment ${payment.reference} has an unsupported currency ${payment.currency}`);

    const provider = payments.forShop(shop, spec.provider);
    const verdict = await provider.parseWebhook?.(request, { reference: payment.reference, currency: payment.currency, providerReference: payment.provider_reference });
    const text = request.rawBody.toString('utf8');
    if (!verdict || verdict.action === 'forged' || verdict.action === 'malformed') return refuse(spec, req, payment, verdict, text, log);
    const ok = () => res.json(spec.accepted);
    if (verdict.action === 'not_supported') {
      // An event duka does not act on (payment.captured, order.paid…): stored, answered, nothing signalled.
      await recordAccepted(req, { provider: spec.provider, dedupKey: verdict.data.dedupKey, paymentId: payment.id, raw: redactRaw(JSON.stringify(verdict.data.raw)) });
      ok();
      return;
    }
    const event = verdict.data;
    if (!(await adoptProviderData(payment, event))) {
      return refuse(spec, req, payment, { action: 'forged', data: { message: 'the provider id in this callback belongs to another payment' } }, text, log);
    }
    const eventId = await recordAccepted(req, { provider: spec.provider, dedupKey: event.dedupKey, paymentId: payment.id, raw: redactRaw(JSON.stringify(event.raw)) });
    if (!eventId) {
      ok();
      return;
    }
    await deliver(res, log, eventId, payment, event, ok);
  }

  for (const spec of WEBHOOKS) {
    const handle = (req: Request, res: Response) => webhook(spec, req, res);
    if (spec.tokenInPath) router.post(`/webhooks/${spec.path}/:token`, rawBody, handle);
    router.post(`/webhooks/${spec.path}`, rawBody, handle);
  }

  return router;
}
