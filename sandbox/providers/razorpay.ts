import { createHmac, randomBytes, randomInt } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { SimulatedRecords, WebhookDeliveries, type CallbackBehaviour, type WebhookOutcome } from './records.ts';

/**
 * A Razorpay look-alike (protocols.md §6) that speaks the real wire format over HTTP: payment links (create, fetch,
 * list by reference_id, cancel), refunds, a hosted pay page behind short_url, the signed callback redirect and
 * signed webhooks with the documented event envelopes.
 */

export interface RazorpaySimulatorOptions {
  keyId: string;
  keySecret: string;
  webhookSecret: string;
  webhookUrl: string;
  /** Used to POST webhooks. */
  fetch?: typeof fetch;
}

export interface RazorpaySimulatorBehaviour extends CallbackBehaviour {
  /**
   * The events the merchant's webhook subscribes to (Dashboard → Webhooks); unset: the payment link events and
   * `payment.failed`. Seed 004 subscribes `payment.captured` alone.
   */
  subscribedEvents?: readonly string[];
  /** false: payments carry `notes: []` instead of the link's notes, so only the description names the link. */
  notesOnPayments?: boolean;
}

const DEFAULT_EVENTS = ['payment_link.paid', 'payment_link.partially_paid', 'payment_link.expired', 'payment_link.cancelled', 'payment.failed'];

export interface WebhookDelivery extends WebhookOutcome {
  event: string;
  eventId: string;
  url: string;
  at: Date;
}

/** The Payment Link entity as Razorpay returns it. */
export interface SimulatedPaymentLink {
  id: string;
  accept_partial: boolean;
  amount: number;
  amount_paid: number;
  callback_method: string;
  callback_url: string;
  cancelled_at: number;
  created_at: number;
  currency: string;
  customer: Record<string, string> | never[];
  description: string;
  expire_by: number;
  expired_at: number;
  first_min_partial_amount: number;
  notes: Record<string, string> | never[];
  notify: { sms: boolean; email: boolean; whatsapp: boolean };
  order_id: string;
  payments: Array<{ amount: number; created_at: number; method: string; payment_id: string; plink_id: string; status: string; updated_at: number }> | null;
  reference_id: string;
  reminder_enable: boolean;
  reminders: never[];
  short_url: string;
  status: 'created' | 'partially_paid' | 'paid' | 'cancelled' | 'expired';
  updated_at: number;
  upi_link: boolean;
  user_id: string;
}

type PaymentEntity = Record<string, unknown> & { id: string; amount: number; currency: string; status: string; amount_refunded: number };

export interface RazorpaySimulatorControl {
  links(): SimulatedPaymentLink[];
  link(id: string): SimulatedPaymentLink | undefined;
  onLink(listener: (link: SimulatedPaymentLink) => void): () => void;
  /** A captured payment on the link (the amount due unless given) and its webhook. */
  pay(linkId: string, options?: { amount?: number }): Promise<WebhookDelivery[]>;
  /** A failed attempt: the link stays payable, `payment.failed` is sent. */
  fail(linkId: string, options?: { reason?: string; description?: string }): Promise<WebhookDelivery[]>;
  expire(linkId: string): Promise<WebhookDelivery[]>;
  setBehaviour(behaviour: RazorpaySimulatorBehaviour): void;
  behaviour(): RazorpaySimulatorBehaviour;
  deliveries(): WebhookDelivery[];
}

export interface RazorpaySimulator {
  router: Router;
  control: RazorpaySimulatorControl;
}

/** Thrown by the simulated API for a request Razorpay would refuse; answered as Razorpay's 400 body. */
class BadRequest extends Error {
  readonly field: string | undefined;
  constructor(description: string, field?: string) {
    super(description);
    this.field = field;
  }
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function razorpayId(prefix: string): string {
  return `${prefix}${Array.from(randomBytes(14), (b) => ID_CHARS[b % ID_CHARS.length]).join('')}`;
}

const unixNow = () => Math.floor(Date.now() / 1000);
const SIX_MONTHS_S = 183 * 24 * 3600;
const PAYABLE = new Set(['created', 'partially_paid']);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function stringRecord(value: unknown, what: string, maxKeys: number, maxLength: number): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadRequest(`${what} should be an object`, what);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > maxKeys) throw new BadRequest(`${what} may not have more than ${maxKeys} items`, what);
  for (const [key, v] of entries) {
    if (typeof v !== 'string' && typeof v !== 'number') throw new BadRequest(`${what}.${key} should be a string`, what);
    if (String(v).length > maxLength) throw new BadRequest(`${what}.${key} may not be greater than ${maxLength} characters`, what);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
}

export function createRazorpaySimulator(opts: RazorpaySimulatorOptions): RazorpaySimulator {
  const accountId = razorpayId('acc_');
  const links = new SimulatedRecords<SimulatedPaymentLink>();
  const payments = new Map<string, PaymentEntity>();
  const deliveries = new WebhookDeliveries<WebhookDelivery>(opts.fetch);
  let behaviour: RazorpaySimulatorBehaviour = {};

  interface PendingEvent {
    event: string;
    body: Record<string, unknown>;
  }

  function envelope(event: string, payload: Record<string, unknown>): PendingEvent {
    return {
      event,
      body: { entity: 'event', account_id: accountId, event, contains: Object.keys(payload), payload, created_at: unixNow() },
    };
  }

  function orderEntity(link: SimulatedPaymentLink): Record<string, unknown> {
    // Razorpay's own sample shows the order id without the order_ prefix the payment carries; kept so parsers don't rely on it.
    return {
      id: link.order_id.replace(/^order_/, ''),
      entity: 'order',
      amount: link.amount,
      amount_paid: link.amount_paid,
      amount_due: link.amount - link.amount_paid,
      currency: link.currency,
      receipt: link.reference_id || null,
      status: link.status === 'paid' ? 'paid' : 'attempted',
      attempts: (link.payments ?? []).length,
      notes: [],
      offer_id: null,
      product_type: 'payment_link_v2',
      created_at: link.created_at,
    };
  }

  function newPayment(link: SimulatedPaymentLink, amount: number, status: 'captured' | 'failed', failure?: { reason: string; description: string }): PaymentEntity {
    const customer = Array.isArray(link.customer) ? {} : link.customer;
    const payment: PaymentEntity = {
      id: razorpayId('pay_'),
      entity: 'payment',
      amount,
      currency: link.currency,
      status,
      order_id: link.order_id,
      invoice_id: null,
      international: false,
      method: 'upi',
      amount_refunded: 0,
      refund_status: null,
      captured: status === 'captured',
      description: `#${link.id.replace(/^plink_/, '')}`,
      card_id: null,
      bank: null,
      wallet: null,
      vpa: status === 'captured' ? 'success@razorpay' : 'failure@razorpay',
      email: customer.email ?? 'void@razorpay.com',
      contact: customer.contact ?? null,
      // Link notes carried onto the payment (assumed, see the provider): a bare payment.failed can still name duka's payment.
      notes: behaviour.notesOnPayments === false ? [] : link.notes,
      fee: status === 'captured' ? Math.round(amount * 0.02) : null,
      tax: status === 'captured' ? 0 : null,
      error_code: failure ? 'BAD_REQUEST_ERROR' : null,
      error_description: failure?.description ?? null,
      error_source: failure ? 'customer' : null,
      error_step: failure ? 'payment_authorization' : null,
      error_reason: failure?.reason ?? null,
      acquirer_data: { rrn: String(randomInt(100_000_000_000, 999_999_999_999)) },
      created_at: unixNow(),
    };
    payments.set(payment.id, payment);
    return payment;
  }

  function linkOrFail(id: string): SimulatedPaymentLink {
    const link = links.get(id);
    if (!link) throw new BadRequest('The id provided does not exist', 'id');
    expireIfDue(link);
    return link;
  }

  /** Razorpay expires a link on its own once expire_by passes; here that happens the next time anyone looks at it. */
  function expireIfDue(link: SimulatedPaymentLink): void {
    if (PAYABLE.has(link.status) && link.expire_by > 0 && link.expire_by <= unixNow()) void dispatch([markExpired(link)]);
  }

  function markExpired(link: SimulatedPaymentLink): PendingEvent {
    link.status = 'expired';
    link.expired_at = unixNow();
    link.updated_at = link.expired_at;
    return envelope('payment_link.expired', { payment_link: { entity: { ...link } } });
  }

  function markPaid(id: string, amount?: number): { link: SimulatedPaymentLink; payment: PaymentEntity; events: PendingEvent[] } {
    const link = linkOrFail(id);
    if (!PAYABLE.has(link.status)) throw new BadRequest(`payment link is ${link.status} and cannot be paid`);
    const due = link.amount - link.amount_paid;
    const paying = amount ?? due;
    if (!Number.isSafeInteger(paying) || paying <= 0 || paying > due) throw new BadRequest(`amount must be between 1 and ${due}`, 'amount');
    if (paying < due && !link.accept_partial) throw new BadRequest('this payment link does not accept partial payments', 'amount');
    const payment = newPayment(link, paying, 'captured');
    const now = unixNow();
    link.amount_paid += paying;
    link.status = link.amount_paid === link.amount ? 'paid' : 'partially_paid';
    link.updated_at = now;
    link.payments = [
      ...(link.payments ?? []),
      { amount: paying, created_at: now, method: 'upi', payment_id: payment.id, plink_id: link.id, status: 'captured', updated_at: now },
    ];
    const event = link.status === 'paid' ? 'payment_link.paid' : 'payment_link.partially_paid';
    return {
      link,
      payment,
      // Razorpay sends the payment's own event first, and the link's once the link is settled.
      events: [
        envelope('payment.captured', { payment: { entity: { ...payment } } }),
        envelope(event, { payment_link: { entity: { ...link } }, order: { entity: orderEntity(link) }, payment: { entity: { ...payment } } }),
      ],
    };
  }

  function markFailed(id: string, reason = 'payment_failed', description = 'Payment was unsuccessful as the customer could not complete it.'): PendingEvent[] {
    const link = linkOrFail(id);
    if (!PAYABLE.has(link.status)) throw new BadRequest(`payment link is ${link.status} and cannot be paid`);
    const payment = newPayment(link, link.amount - link.amount_paid, 'failed', { reason, description });
    return [envelope('payment.failed', { payment: { entity: { ...payment } } })];
  }

  function deliver(pending: PendingEvent, eventId: string, raw: string): Promise<WebhookDelivery> {
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Razorpay-Webhook/v1',
      'X-Razorpay-Signature': createHmac('sha256', opts.webhookSecret).update(raw).digest('hex'),
      'X-Razorpay-Event-Id': eventId,
    };
    return deliveries.deliver({ event: pending.event, eventId, url: opts.webhookUrl, at: new Date() }, opts.webhookUrl, headers, raw);
  }

  async function dispatch(events: PendingEvent[]): Promise<WebhookDelivery[]> {
    const { dropCallbacks, duplicateCallbacks, callbackDelayMs } = behaviour;
    if (dropCallbacks) return [];
    if (callbackDelayMs) await sleep(callbackDelayMs);
    const sent: WebhookDelivery[] = [];
    const subscribed = new Set(behaviour.subscribedEvents ?? DEFAULT_EVENTS);
    for (const pending of events.filter((e) => subscribed.has(e.event))) {
      const eventId = razorpayId('');
      const raw = JSON.stringify(pending.body);
      sent.push(await deliver(pending, eventId, raw));
      // Razorpay's redeliveries repeat the same event id and body.
      if (duplicateCallbacks) sent.push(await deliver(pending, eventId, raw));
    }
    return sent;
  }

  const control: RazorpaySimulatorControl = {
    links: () => links.copies(),
    link: (id) => links.copy(id),
    onLink: (listener) => links.listen(listener),
    pay: async (linkId, options = {}) => dispatch(markPaid(linkId, options.amount).events),
    fail: async (linkId, options = {}) => dispatch(markFailed(linkId, options.reason, options.description)),
    async expire(linkId) {
      const link = linkOrFail(linkId);
      if (!PAYABLE.has(link.status)) throw new BadRequest(`payment link is ${link.status} and cannot expire`);
      return dispatch([markExpired(link)]);
    },
    setBehaviour(next) {
      behaviour = { ...behaviour, ...next };
    },
    behaviour: () => ({ ...behaviour }),
    deliveries: () => deliveries.list(),
  };

  function createLink(body: Record<string, unknown>, shortUrlBase: string): SimulatedPaymentLink {
    const amount = body.amount;
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) throw new BadRequest('The amount must be an integer.', 'amount');
    if (amount < 100) throw new BadRequest('The amount must be atleast INR 1.00', 'amount');
    const currency = body.currency ?? 'INR';
    if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) throw new BadRequest('The currency is invalid.', 'currency');
    const reference = body.reference_id ?? '';
    if (typeof reference !== 'string') throw new BadRequest('The reference id must be a string.', 'reference_id');
    if (reference.length > 40) throw new BadRequest('The reference id may not be greater than 40 characters.', 'reference_id');
    if (reference !== '' && links.live().some((l) => l.reference_id === reference)) {
      throw new BadRequest(`Payment Link with reference id ${reference} already exists`, 'reference_id');
    }
    const description = body.description ?? '';
    if (typeof description !== 'string' || description.length > 2048) throw new BadRequest('The description may not be greater than 2048 characters.', 'description');
    const customer = body.customer === undefined ? {} : stringRecord(body.customer, 'customer', 3, 256);
    if (customer.contact !== undefined && !/^\+?\d{8,15}$/.test(customer.contact)) throw new BadRequest('The contact format is invalid.', 'contact');
    const notes = body.notes === undefined ? {} : stringRecord(body.notes, 'notes', 15, 256);
    const callbackUrl = body.callback_url ?? '';
    if (typeof callbackUrl !== 'string') throw new BadRequest('The callback url must be a string.', 'callback_url');
    if (callbackUrl !== '') {
      try {
        new URL(callbackUrl);
      } catch {
        throw new BadRequest('The callback url format is invalid.', 'callback_url');
      }
      if (body.callback_method !== 'get') throw new BadRequest('The callback method must be get when callback url is passed.', 'callback_method');
    }
    const now = unixNow();
    const expireBy = body.expire_by ?? 0;
    if (typeof expireBy !== 'number' || !Number.isSafeInteger(expireBy)) throw new BadRequest('The expire by must be an integer.', 'expire_by');
    if (expireBy !== 0 && expireBy <= now) throw new BadRequest('The expire by date should be a future date.', 'expire_by');
    if (expireBy > now + SIX_MONTHS_S) throw new BadRequest('The expire by date cannot be more than 6 months from now.', 'expire_by');
    const notify = (body.notify ?? {}) as Record<string, unknown>;
    const id = razorpayId('plink_');
    const link: SimulatedPaymentLink = {
      id,
      accept_partial: body.accept_partial === true,
      amount,
      amount_paid: 0,
      callback_method: callbackUrl ? 'get' : '',
      callback_url: callbackUrl,
      cancelled_at: 0,
      created_at: now,
      currency,
      customer: Object.keys(customer).length ? customer : [],
      description,
      expire_by: expireBy,
      expired_at: 0,
      first_min_partial_amount: 0,
      notes: Object.keys(notes).length ? notes : [],
      notify: { sms: notify.sms === true, email: notify.email === true, whatsapp: false },
      order_id: razorpayId('order_'),
      payments: null,
      reference_id: reference,
      reminder_enable: body.reminder_enable === true,
      reminders: [],
      short_url: `${shortUrlBase}/pay/${id}`,
      status: 'created',
      updated_at: now,
      upi_link: false,
      user_id: '',
    };
    links.add(id, link);
    return link;
  }

  const routerBase = (req: Request) => `${req.protocol}://${req.get('host')}${req.baseUrl}`;

  function payPage(link: SimulatedPaymentLink, base: string, notice?: string): string {
    const major = (link.amount - link.amount_paid) / 100;
    const payable = PAYABLE.has(link.status);
    const action = (what: string) => `${escapeHtml(base)}/pay/${escapeHtml(link.id)}/${what}`;
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Razorpay sandbox – ${escapeHtml(link.id)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem}.notice{padding:.5rem;background:#fff3cd}</style>
</head><body>
<p><small>Razorpay sandbox</small></p>
<h1>${escapeHtml(link.currency)} ${major.toFixed(2)}</h1>
<p>${escapeHtml(link.description)}</p>
${notice ? `<p class="notice">${escapeHtml(notice)}</p>` : ''}
${payable
    ? `<form method="post" action="${action('pay')}" style="display:inline"><button type="submit">Pay</button></form>
<form method="post" action="${action('fail')}" style="display:inline"><button type="submit">Fail</button></form>`
    : `<p>This payment link is <strong>${escapeHtml(link.status)}</strong>.</p>`}
</body></html>`;
  }

  const router = express.Router();

  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (behaviour.down) {
      res.status(503).json({ error: { code: 'SERVER_ERROR', description: 'The server encountered an error. The incident has been reported to admins.' } });
      return;
    }
    next();
  });

  router.use('/v1', (req: Request, res: Response, next: NextFunction) => {
    const expected = `Basic ${Buffer.from(`${opts.keyId}:${opts.keySecret}`).toString('base64')}`;
    if (req.get('authorization') !== expected) {
      res.status(401).json({ error: { code: 'BAD_REQUEST_ERROR', description: 'Authentication failed', source: 'NA', step: 'NA', reason: 'NA', metadata: {} } });
      return;
    }
    next();
  }, express.json());

  router.post('/v1/payment_links', (req: Request, res: Response) => {
    const body = req.body as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('The request body is invalid');
    res.json(createLink(body as Record<string, unknown>, routerBase(req)));
  });

  router.get('/v1/payment_links', (req: Request, res: Response) => {
    const reference = typeof req.query.reference_id === 'string' ? req.query.reference_id : undefined;
    const found = links.live().filter((link) => reference === undefined || link.reference_id === reference);
    for (const link of found) expireIfDue(link);
    res.json({ payment_links: found });
  });

  router.get('/v1/payment_links/:id', (req: Request, res: Response) => {
    res.json(linkOrFail(String(req.params.id)));
  });

  router.post('/v1/payment_links/:id/cancel', (req: Request, res: Response) => {
    const link = linkOrFail(String(req.params.id));
    if (!PAYABLE.has(link.status)) throw new BadRequest(`Payment Link cannot be cancelled as it is already ${link.status}`);
    link.status = 'cancelled';
    link.cancelled_at = unixNow();
    link.updated_at = link.cancelled_at;
    res.json(link);
    void dispatch([envelope('payment_link.cancelled', { payment_link: { entity: { ...link } } })]);
  });

  router.post('/v1/payments/:id/refund', (req: Request, res: Response) => {
    const payment = payments.get(String(req.params.id));
    if (!payment) throw new BadRequest('The id provided does not exist', 'id');
    if (payment.status !== 'captured' && payment.status !== 'refunded') throw new BadRequest('The payment has not been captured', 'id');
    const refundable = payment.amount - payment.amount_refunded;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const amount = body.amount ?? refundable;
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 100) throw new BadRequest('The amount must be atleast INR 1.00', 'amount');
    if (amount > refundable) throw new BadRequest('The refund amount provided is greater than amount captured', 'amount');
    payment.amount_refunded += amount;
    payment.refund_status = payment.amount_refunded === payment.amount ? 'full' : 'partial';
    if (payment.amount_refunded === payment.amount) payment.status = 'refunded';
    res.json({
      id: razorpayId('rfnd_'),
      entity: 'refund',
      amount,
      currency: payment.currency,
      payment_id: payment.id,
      notes: body.notes ?? [],
      receipt: typeof body.receipt === 'string' ? body.receipt : null,
      acquirer_data: { arn: null },
      created_at: unixNow(),
      batch_id: null,
      status: 'processed',
      speed_processed: 'normal',
      speed_requested: 'normal',
    });
  });

  router.get('/pay/:id', (req: Request, res: Response) => {
    const link = links.get(String(req.params.id));
    if (!link) return res.status(404).type('text/plain').send('No such payment link');
    expireIfDue(link);
    return res.type('html').send(payPage(link, routerBase(req)));
  });

  router.post('/pay/:id/pay', (req: Request, res: Response) => {
    const link = links.get(String(req.params.id));
    if (!link) return res.status(404).type('text/plain').send('No such payment link');
    let paid: ReturnType<typeof markPaid>;
    try {
      paid = markPaid(link.id);
    } catch (err) {
      return res.status(400).type('html').send(payPage(link, routerBase(req), (err as Error).message));
    }
    void dispatch(paid.events);
    if (!link.callback_url) return res.type('html').send(payPage(link, routerBase(req), 'Payment successful'));
    const params = {
      razorpay_payment_id: paid.payment.id,
      razorpay_payment_link_id: link.id,
      razorpay_payment_link_reference_id: link.reference_id,
      razorpay_payment_link_status: link.status,
    };
    // Signed with the API key secret over link id | reference | status | payment id (protocols.md §6.2).
    const signature = createHmac('sha256', opts.keySecret)
      .update(`${params.razorpay_payment_link_id}|${params.razorpay_payment_link_reference_id}|${params.razorpay_payment_link_status}|${params.razorpay_payment_id}`)
      .digest('hex');
    const target = new URL(link.callback_url);
    for (const [key, value] of Object.entries({ ...params, razorpay_signature: signature })) target.searchParams.set(key, value);
    return res.redirect(303, target.toString());
  });

  router.post('/pay/:id/fail', (req: Request, res: Response) => {
    const link = links.get(String(req.params.id));
    if (!link) return res.status(404).type('text/plain').send('No such payment link');
    try {
      void dispatch(markFailed(link.id));
    } catch (err) {
      return res.status(400).type('html').send(payPage(link, routerBase(req), (err as Error).message));
    }
    return res.type('html').send(payPage(link, routerBase(req), 'Payment failed. You can try again.'));
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const unparsable = (err as { type?: unknown } | null)?.type === 'entity.parse.failed';
    if (!(err instanceof BadRequest) && !unparsable) {
      res.status(500).json({ error: { code: 'SERVER_ERROR', description: 'The server encountered an error. The incident has been reported to admins.' } });
      return;
    }
    const badRequest = err instanceof BadRequest ? err : new BadRequest('The request body is invalid');
    res.status(400).json({
      error: {
        code: 'BAD_REQUEST_ERROR',
        description: badRequest.message,
        source: 'business',
        step: 'payment_initiation',
        reason: 'input_validation_failed',
        metadata: {},
        field: badRequest.field ?? null,
      },
    });
  });

  return { router, control };
}
