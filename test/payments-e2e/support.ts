import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request, type Response } from 'express';
import { startDuka, type Duka } from '../helpers/duka.ts';
import { recordHistories } from '../helpers/histories.ts';
import { testDataConverter } from '../helpers/codec.ts';
import { failureText } from '../../lib/data-converter.ts';
import { Customer, type Seen } from '../helpers/chat.ts';
import { createMpesaSimulator, type MpesaSimulatorControl, type StkPush } from '../../sandbox/providers/mpesa.ts';
import { createPaynowSimulator, type PaynowSimulatorControl, type SimulatedPaynowTransaction } from '../../sandbox/providers/paynow.ts';
import { createOmariSimulator, type OmariSimulatorControl } from '../../sandbox/providers/omari.ts';
import { createRazorpaySimulator, type RazorpaySimulatorControl, type SimulatedPaymentLink } from '../../sandbox/providers/razorpay.ts';
import { conversationQuery, orderQuery, type OrderView } from '../../workflows/definitions.ts';

/**
 * The payment providers' side of the internet for end-to-end tests: one HTTP server with the four protocol simulators
 * (`/mpesa`, `/paynow`, `/omari`, `/razorpay`) and a gateway at `/webhooks/*` that carries provider callbacks to duka,
 * the way the public internet would. duka's PUBLIC_BASE_URL is the gateway, so the callback URLs duka hands out are real
 * ones; the gateway can hold callbacks back (delay, reorder) before it delivers them.
 */

export const CREDENTIALS = {
  MPESA_CONSUMER_KEY: 'e2e-consumer-key',
  MPESA_CONSUMER_SECRET: 'e2e-consumer-secret',
  MPESA_SHORTCODE: '174379',
  MPESA_PASSKEY: 'e2e-passkey',
  PAYNOW_INTEGRATION_ID: '4242',
  PAYNOW_INTEGRATION_KEY: 'e2e-paynow-integration-key',
  OMARI_MERCHANT_KEY: 'e2e-omari-merchant-key',
  RAZORPAY_KEY_ID: 'rzp_test_e2e',
  RAZORPAY_KEY_SECRET: 'e2e-razorpay-key-secret',
  RAZORPAY_WEBHOOK_SECRET: 'e2e-razorpay-webhook-secret',
} as const;

/** Short enough for a test run, long enough that a callback sent right after the prompt always beats the first poll. */
export const TIMING = {
  PAYMENT_TIMEOUT: '10s',
  PAYMENT_LINK_TIMEOUT: '10s',
  PAYMENT_POLL_INTERVAL: '3s',
} as const;

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface HeldCallback {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Gateway {
  /** While true, callbacks are answered 200 and kept instead of delivered. */
  holding: boolean;
  held: HeldCallback[];
  /** Every callback that reached duka: path (token masked) and duka's HTTP status. */
  delivered: { path: string; status: number }[];
  /** Delivers held callbacks in the given order (default: as received) and forgets them. */
  release(order?: HeldCallback[]): Promise<number[]>;
}

export interface Providers {
  url: string;
  mpesa: MpesaSimulatorControl;
  paynow: PaynowSimulatorControl;
  omari: OmariSimulatorControl;
  razorpay: RazorpaySimulatorControl;
  gateway: Gateway;
  /** The environment that points duka at these simulators. */
  env: Record<string, string>;
  /** Where the gateway delivers (duka's API). */
  setTarget(url: string): void;
  close(): Promise<void>;
}

const FORWARDED_HEADERS = ['content-type', 'user-agent', 'x-razorpay-signature', 'x-razorpay-event-id'];

export async function startProviders(): Promise<Providers> {
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let target: string | null = null;

  async function forward(c: HeldCallback): Promise<{ status: number; body: string }> {
    if (!target) throw new Error('gateway has no target');
    const res = await fetch(`${target}${c.path}`, { method: 'POST', headers: c.headers, body: new Uint8Array(c.body) });
    const body = await res.text();
    gateway.delivered.push({ path: c.path.replace(/^(\/webhooks\/mpesa\/)[^/?]+/, '$1[token]'), status: res.status });
    return { status: res.status, body };
  }

  const gateway: Gateway = {
    holding: false,
    held: [],
    delivered: [],
    async release(order) {
      const list = order ?? [...gateway.held];
      gateway.held = gateway.held.filter((h) => !list.includes(h));
      const statuses: number[] = [];
      for (const c of list) statuses.push((await forward(c)).status);
      return statuses;
    },
  };

  app.use('/webhooks', express.raw({ type: () => true, limit: '1mb' }), async (req: Request, res: Response) => {
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = req.get(name);
      if (value !== undefined) headers[name] = value;
    }
    const callback: HeldCallback = { path: req.originalUrl, headers, body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0) };
    if (gateway.holding) {
      gateway.held.push(callback);
      res.status(200).json({ held: true });
      return;
    }
    try {
      const answer = await forward(callback);
      res.status(answer.status).type('application/json').send(answer.body);
    } catch (err) {
      res.status(502).json({ error: String(err) });
    }
  });

  const c = CREDENTIALS;
  const mpesa = createMpesaSimulator({ consumerKey: c.MPESA_CONSUMER_KEY, consumerSecret: c.MPESA_CONSUMER_SECRET, shortcode: c.MPESA_SHORTCODE, passkey: c.MPESA_PASSKEY });
  const paynow = createPaynowSimulator({ integrationId: c.PAYNOW_INTEGRATION_ID, integrationKey: c.PAYNOW_INTEGRATION_KEY });
  const omari = createOmariSimulator({ merchantKey: c.OMARI_MERCHANT_KEY });
  const razorpay = createRazorpaySimulator({ keyId: c.RAZORPAY_KEY_ID, keySecret: c.RAZORPAY_KEY_SECRET, webhookSecret: c.RAZORPAY_WEBHOOK_SECRET, webhookUrl: `${url}/webhooks/razorpay` });
  paynow.control.setBehaviour({ callbackRetryDelayMs: 200 });
  app.use('/mpesa', mpesa.router);
  app.use('/paynow', paynow.router);
  app.use('/omari', omari.router);
  app.use('/razorpay', razorpay.router);

  return {
    url,
    mpesa: mpesa.control,
    paynow: paynow.control,
    omari: omari.control,
    razorpay: razorpay.control,
    gateway,
    env: {
      ...CREDENTIALS,
      ...TIMING,
      PUBLIC_BASE_URL: url,
      MPESA_BASE_URL: `${url}/mpesa`,
      PAYNOW_BASE_URL: `${url}/paynow`,
      OMARI_BASE_URL: `${url}/omari`,
      RAZORPAY_BASE_URL: `${url}/razorpay`,
    },
    setTarget(value) {
      target = value;
    },
    async close() {
      mpesa.control.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export interface World {
  duka: Duka;
  providers: Providers;
  stop(): Promise<void>;
}

/** duka (API + worker on the real Temporal and PostgreSQL) with every provider pointed at the simulators. */
export async function startWorld(label: string, env: Record<string, string> = {}): Promise<World> {
  const providers = await startProviders();
  const duka = await startDuka({ label, env: { ...providers.env, ...env } });
  providers.setTarget(duka.baseUrl);
  return {
    duka,
    providers,
    async stop() {
      // DUKA_RECORD_HISTORIES=1 keeps these payment histories for the replay suite (test/replay).
      await recordHistories(duka.client, duka.taskQueue, label).catch(() => 0);
      await duka.stop();
      await providers.close();
    },
  };
}

// ---- reading duka's state -------------------------------------------------------------------------------------------

export function orderOf(duka: Duka, orderNumber: string): Promise<OrderView> {
  return duka.client.workflow.getHandle(`order:${orderNumber}`).query(orderQuery);
}

export async function activeOrderNumber(duka: Duka, c: Customer, shopId: string): Promise<string> {
  const view = await duka.client.workflow.getHandle(duka.conversationId(shopId, c.waId)).query(conversationQuery);
  if (!view.activeOrder) throw new Error(`${c.waId} has no active order`);
  return view.activeOrder;
}

/** Polls `read` until `done` holds (or fails with the last value seen): for outcomes that arrive in the background. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms; last seen ${JSON.stringify(last) ?? String(lastError)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface PaymentRow {
  id: string;
  reference: string;
  idempotency_key: string;
  provider: string;
  method: string;
  attempt: number;
  status: string;
  amount: number;
  currency: string;
  provider_reference: string | null;
  transaction_reference: string | null;
  failure_reason: string | null;
  booking_id: string | null;
  data: Record<string, unknown>;
}

export async function paymentRows(duka: Duka, orderNumber: string): Promise<PaymentRow[]> {
  return duka.orm.em
    .fork()
    .getConnection()
    .execute<PaymentRow[]>(
      'select p.id, p.reference, p.idempotency_key, p.provider, p.method, p.attempt, p.status, p.amount, p.currency, p.provider_reference, ' +
        'p.transaction_reference, p.failure_reason, p.booking_id, p.data from payment p join orders o on o.id = p.order_id where o.number = ? order by p.attempt',
      [orderNumber],
    );
}

export interface EventRow {
  provider: string;
  outcome: string;
  security: boolean;
  payment_id: string | null;
  raw: string;
}

export async function paymentEvents(duka: Duka, where: { paymentId?: string; provider?: string } = {}): Promise<EventRow[]> {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (where.paymentId) {
    clauses.push('payment_id = ?');
    params.push(where.paymentId);
  }
  if (where.provider) {
    clauses.push('provider = ?');
    params.push(where.provider);
  }
  return duka.orm.em
    .fork()
    .getConnection()
    .execute<EventRow[]>(`select provider, outcome, security, payment_id, raw from payment_event ${clauses.length ? `where ${clauses.join(' and ')}` : ''} order by received_at`, params);
}

export async function orderRow(duka: Duka, orderNumber: string): Promise<{ status: string; payment_status: string; source: string; total: number }> {
  const rows = await duka.orm.em
    .fork()
    .getConnection()
    .execute<{ status: string; payment_status: string; source: string; total: number }[]>('select status, payment_status, source, total from orders where number = ?', [orderNumber]);
  if (!rows[0]) throw new Error(`no order row ${orderNumber}`);
  return rows[0];
}

/** Everything duka sent this customer so far, as text. */
export function sentTo(duka: Duka, waId: string): Seen[] {
  return duka.graph.sent.filter((s) => s.to === waId).map((s) => {
    const b = s.body as { type?: string; text?: { body: string }; interactive?: { body?: { text: string } } };
    return { text: b.text?.body ?? b.interactive?.body?.text ?? '', ids: [], raw: s };
  });
}

/** The receipts themselves ("🧾 Receipt — order …"), not other texts that mention one ("Receipt by e-mail?"). */
export const receiptsTo = (duka: Duka, waId: string) => sentTo(duka, waId).filter((s) => s.text.includes('Receipt — order'));

export async function admin(duka: Duka, method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${duka.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The activities an order workflow is waiting on, as the Temporal UI shows them. */
export async function pendingActivities(duka: Duka, orderNumber: string): Promise<{ type: string; attempt: number; lastFailure: string }[]> {
  const d = await duka.client.workflow.getHandle(`order:${orderNumber}`).describe();
  // The last failure's message travels encrypted (lib/failure-converter.ts): opened with the codec, as the UI does.
  const codec = testDataConverter().payloadCodecs![0]!;
  return Promise.all((d.raw.pendingActivities ?? []).map(async (a) => ({ type: a.activityType?.name ?? '', attempt: a.attempt ?? 0, lastFailure: await failureText(a.lastFailure, codec) })));
}

// ---- the customer's way to the payment step ---------------------------------------------------------------------------

export const CATALOGS = { nairobi: '900000000000001', harare: '900000000000002', pune: '900000000000003' } as const;

/**
 * Cart from the shop's WhatsApp catalog → checkout → pickup → confirm: returns the payment options the customer sees
 * and the order number.
 */
export async function toPaymentChoice(duka: Duka, c: Customer, shopId: keyof typeof CATALOGS, items: { retailerId: string; quantity: number }[]): Promise<{ orderNumber: string; methods: Seen }> {
  await c.sendCart(CATALOGS[shopId], items);
  await c.tap('cart:checkout');
  const [summary] = await c.tap('ful:pickup');
  const orderNumber = /[A-Z]{3}-\d+/.exec(summary!.text)?.[0];
  if (!orderNumber) throw new Error(`no order number in the summary: ${summary!.text}`);
  const [methods] = await c.tap('order:confirm');
  return { orderNumber, methods: methods! };
}

// ---- finding what a provider received ---------------------------------------------------------------------------------

export async function waitForPush(p: Providers, phone: string, not: string[] = []): Promise<StkPush> {
  return eventually(async () => p.mpesa.pending().find((x) => x.phoneNumber === phone && !not.includes(x.checkoutRequestId)), Boolean, `an STK push to ${phone}`) as Promise<StkPush>;
}

export async function waitForPaynow(p: Providers, reference: string): Promise<SimulatedPaynowTransaction> {
  return eventually(async () => p.paynow.transactions().find((t) => t.reference === reference), Boolean, `a Paynow transaction ${reference}`) as Promise<SimulatedPaynowTransaction>;
}

export async function waitForLink(p: Providers, reference: string): Promise<SimulatedPaymentLink> {
  return eventually(async () => p.razorpay.links().find((l) => l.reference_id === reference), Boolean, `a payment link ${reference}`) as Promise<SimulatedPaymentLink>;
}

/** The reference of the order's latest payment attempt (duka's, echoed by providers). */
export async function latestAttempt(duka: Duka, orderNumber: string, attempt: number): Promise<string> {
  const order = await eventually(() => orderOf(duka, orderNumber), (o) => o.payments.length >= attempt, `attempt ${attempt} of ${orderNumber}`);
  return order.payments[attempt - 1]!.reference;
}

export { Customer };
