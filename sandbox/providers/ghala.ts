import { randomBytes, randomInt } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { ghalaSignatureHeaders, type GhalaSignatureScheme } from '../../providers/payments/ghala-signature.ts';
import { requireBearer } from './bearer.ts';
import { SimulatedRecords, WebhookDeliveries, type CallbackBehaviour, type WebhookOutcome } from './records.ts';

/**
 * A Ghala look-alike (seed 001, protocols.md §8; Ghala's real API is unconfirmed, see providers/payments/ghala.ts):
 * `POST /v1/orders` sends an M-Pesa prompt, `GET /v1/orders/:id` and `?reference=` answer where it stands, and the
 * outcome is posted as a signed `payment.success` / `payment.failed` webhook under the configured signature scheme.
 */

export interface GhalaSimulatorOptions {
  apiKey: string;
  webhookSecret: string;
  webhookUrl: string;
  signatureScheme: GhalaSignatureScheme;
  fetch?: typeof fetch;
}

export interface GhalaSimulatorBehaviour extends CallbackBehaviour {
  /** Sign webhooks under another scheme than duka verifies (a misconfigured GHALA_SIGNATURE_SCHEME). */
  signatureScheme?: GhalaSignatureScheme;
}

export interface SimulatedGhalaOrder {
  id: string;
  reference: string;
  status: 'pending' | 'completed' | 'failed';
  amount: number;
  currency: string;
  payment_method: 'mpesa';
  customer: { phone: string };
  description: string;
  transaction_reference: string | null;
  failure_reason: string | null;
  created_at: string;
}

export interface GhalaDelivery extends WebhookOutcome {
  event: string;
  eventId: string;
}

export interface GhalaSimulatorControl {
  orders(): SimulatedGhalaOrder[];
  order(id: string): SimulatedGhalaOrder | undefined;
  onOrder(listener: (order: SimulatedGhalaOrder) => void): () => void;
  /** The customer approves (or fails) the M-Pesa prompt: the order settles and its webhook is sent. */
  complete(id: string, outcome?: { status: 'completed' | 'failed'; reason?: string }): Promise<GhalaDelivery[]>;
  setBehaviour(behaviour: GhalaSimulatorBehaviour): void;
  deliveries(): GhalaDelivery[];
  /** How many order reads (GET) the API answered. */
  reads(): number;
}

export interface GhalaSimulator {
  router: Router;
  control: GhalaSimulatorControl;
}

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ghalaId = (prefix: string) => `${prefix}${Array.from(randomBytes(12), (b) => ID_CHARS[b % ID_CHARS.length]).join('')}`;

class BadRequest extends Error {
  readonly status: number;
  constructor(message: string, status = 422) {
    super(message);
    this.status = status;
  }
}

export function createGhalaSimulator(opts: GhalaSimulatorOptions): GhalaSimulator {
  const orders = new SimulatedRecords<SimulatedGhalaOrder>();
  const byIdempotencyKey = new Map<string, string>();
  const deliveries = new WebhookDeliveries<GhalaDelivery>(opts.fetch);
  let behaviour: GhalaSimulatorBehaviour = {};
  let reads = 0;

  function deliver(event: string, eventId: string, raw: string): Promise<GhalaDelivery> {
    const scheme = behaviour.signatureScheme ?? opts.signatureScheme;
    const headers = { 'content-type': 'application/json', 'user-agent': 'Ghala-Webhooks/1.0', ...ghalaSignatureHeaders(scheme, opts.webhookSecret, Buffer.from(raw)) };
    return deliveries.deliver({ event, eventId }, opts.webhookUrl, headers, raw);
  }

  async function dispatch(order: SimulatedGhalaOrder): Promise<GhalaDelivery[]> {
    if (behaviour.dropCallbacks) return [];
    if (behaviour.callbackDelayMs) await new Promise((r) => setTimeout(r, behaviour.callbackDelayMs));
    const event = order.status === 'completed' ? 'payment.success' : 'payment.failed';
    const eventId = ghalaId('evt_');
    const raw = JSON.stringify({
      id: eventId,
      event,
      created_at: new Date().toISOString(),
      data: {
        order_id: order.id,
        reference: order.reference,
        transaction_reference: order.transaction_reference,
        amount: order.amount,
        currency: order.currency,
        status: order.status,
        ...(order.failure_reason ? { failure_reason: order.failure_reason } : {}),
        customer: { phone: order.customer.phone },
      },
    });
    const sent = [await deliver(event, eventId, raw)];
    if (behaviour.duplicateCallbacks) sent.push(await deliver(event, eventId, raw));
    return sent;
  }

  const control: GhalaSimulatorControl = {
    orders: () => orders.copies(),
    order: (id) => orders.copy(id),
    onOrder: (listener) => orders.listen(listener),
    async complete(id, outcome = { status: 'completed' }) {
      const order = orders.get(id);
      if (!order) throw new Error(`no Ghala order ${id}`);
      if (order.status !== 'pending') throw new Error(`Ghala order ${id} is ${order.status}`);
      order.status = outcome.status;
      if (outcome.status === 'completed') order.transaction_reference = `S${randomInt(100_000_000, 999_999_999)}K`;
      else order.failure_reason = outcome.reason ?? 'The balance is insufficient for the transaction.';
      return dispatch(order);
    },
    setBehaviour(next) {
      behaviour = { ...behaviour, ...next };
    },
    deliveries: () => deliveries.list(),
    reads: () => reads,
  };

  const router = express.Router();
  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (behaviour.down) {
      res.status(503).json({ error: { code: 'service_unavailable', message: 'Ghala is temporarily unavailable' } });
      return;
    }
    next();
  });
  const apiKey = requireBearer(
    (token) => token === opts.apiKey,
    (res) => res.status(401).json({ error: { code: 'unauthorized', message: 'Invalid API key' } }),
  );
  router.use('/v1', apiKey, express.json());

  router.post('/v1/orders', (req: Request, res: Response) => {
    const key = req.get('idempotency-key');
    const earlier = key ? byIdempotencyKey.get(key) : undefined;
    if (earlier) {
      res.status(200).json(orders.get(earlier));
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const amount = body.amount;
    if (typeof amount !== 'number' || !(amount > 0)) throw new BadRequest('amount must be a positive number');
    if (body.currency !== 'KES' && body.currency !== 'TZS') throw new BadRequest('currency must be KES or TZS');
    if (body.payment_method !== 'mpesa') throw new BadRequest('payment_method must be mpesa');
    const reference = typeof body.reference === 'string' ? body.reference : '';
    if (!reference || reference.length > 100) throw new BadRequest('reference is required (at most 100 characters)');
    if (orders.live().some((o) => o.reference === reference)) throw new BadRequest(`an order with reference ${reference} exists`, 409);
    const phone = (body.customer as { phone?: unknown } | undefined)?.phone;
    if (typeof phone !== 'string' || !/^\+2547\d{8}$|^\+2541\d{8}$/.test(phone)) throw new BadRequest('customer.phone must be a Safaricom number like +254712345678');
    const order: SimulatedGhalaOrder = {
      id: ghalaId('ghala_order_'),
      reference,
      status: 'pending',
      amount,
      currency: body.currency,
      payment_method: 'mpesa',
      customer: { phone },
      description: typeof body.description === 'string' ? body.description : '',
      transaction_reference: null,
      failure_reason: null,
      created_at: new Date().toISOString(),
    };
    if (key) byIdempotencyKey.set(key, order.id);
    orders.add(order.id, order);
    res.status(201).json(order);
  });

  router.get('/v1/orders', (req: Request, res: Response) => {
    reads += 1;
    const reference = typeof req.query.reference === 'string' ? req.query.reference : undefined;
    res.json({ data: orders.live().filter((o) => reference === undefined || o.reference === reference) });
  });

  router.get('/v1/orders/:id', (req: Request, res: Response) => {
    reads += 1;
    const order = orders.get(String(req.params.id));
    if (!order) {
      res.status(404).json({ error: { code: 'not_found', message: 'Order not found' } });
      return;
    }
    res.json(order);
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err instanceof BadRequest) {
      res.status(err.status).json({ error: { code: 'invalid_request', message: err.message } });
      return;
    }
    if ((err as { type?: unknown } | null)?.type === 'entity.parse.failed') {
      res.status(400).json({ error: { code: 'invalid_json', message: 'The body is not JSON' } });
      return;
    }
    res.status(500).json({ error: { code: 'server_error', message: 'Something went wrong' } });
  });

  return { router, control };
}
