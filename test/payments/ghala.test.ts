import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGhalaProvider, ghalaWebhook, parseGhalaDelivery } from '../../providers/payments/ghala.ts';
import { GHALA_SIGNATURE_SCHEMES, ghalaSignature, ghalaSignatureHeaders, verifyGhalaSignature, type GhalaSignatureScheme } from '../../providers/payments/ghala-signature.ts';
import { PaymentDeclinedError, ProviderRejectedError, ProviderUnavailableError, type InitiateInput, type WebhookRequest } from '../../providers/payments/types.ts';
import { createGhalaSimulator, type GhalaSimulator } from '../../sandbox/providers/ghala.ts';

const API_KEY = 'ghala-test-key';
const SECRET = 'ghala-webhook-secret';

interface Received {
  raw: Buffer;
  headers: Record<string, string | undefined>;
}

let server: Server;
let url: string;
let simulator: GhalaSimulator;
const received: Received[] = [];
let counter = 0;

beforeAll(async () => {
  const app = express();
  app.post('/webhooks/ghala', express.raw({ type: () => true }), (req, res) => {
    received.push({ raw: req.body as Buffer, headers: { 'x-ghala-signature': req.get('x-ghala-signature'), 'x-ghala-timestamp': req.get('x-ghala-timestamp') } });
    res.json({ success: true });
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  simulator = createGhalaSimulator({ apiKey: API_KEY, webhookSecret: SECRET, webhookUrl: `${url}/webhooks/ghala`, signatureScheme: 'hex' });
  app.use('/ghala', simulator.router);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const provider = (scheme: GhalaSignatureScheme = 'hex', apiKey = API_KEY) => createGhalaProvider({ baseUrl: `${url}/ghala`, apiKey, webhookSecret: SECRET, signatureScheme: scheme });

function input(overrides: Partial<InitiateInput['context']> = {}): InitiateInput {
  counter += 1;
  return {
    amount: { amount: 300_000, currency: 'KES' },
    method: 'ghala_mpesa',
    context: {
      idempotencyKey: `NBO-1:${counter}`,
      reference: `ref-${counter}-${Date.now()}`,
      orderNumber: 'NBO-1',
      description: 'Nairobi Coffee NBO-1',
      callbackUrl: 'https://duka.example/webhooks/ghala',
      returnUrl: 'https://duka.example/paid/x',
      customerPhone: '254712345678',
      ...overrides,
    },
  };
}

const asRequest = (r: Received): WebhookRequest => ({ rawBody: r.raw, header: (name) => r.headers[name.toLowerCase()] });

describe('Ghala provider against the simulator', () => {
  test('starts an M-Pesa prompt in major units with the customer number, and a success is signed, parsed and confirmed by status', async () => {
    const ghala = provider();
    const request = input();
    const started = await ghala.initiate(request);
    expect(started.customerAction).toEqual({ type: 'approve_on_phone' });
    const order = simulator.control.order(started.providerReference!)!;
    expect(order).toMatchObject({ reference: request.context.reference, amount: 3000, currency: 'KES', customer: { phone: '+254712345678' }, status: 'pending' });
    await expect(ghala.status(started.data, request.amount)).resolves.toMatchObject({ status: 'pending', providerReference: order.id });

    const before = received.length;
    await simulator.control.complete(order.id);
    const delivery = received[before]!;
    const payment = { reference: request.context.reference, currency: 'KES' as const, providerReference: order.id };
    expect(ghalaWebhook.claim(asRequest(delivery))).toEqual({ by: 'reference', value: request.context.reference });
    const verdict = await ghala.parseWebhook!(asRequest(delivery), payment);
    const settled = simulator.control.order(order.id)!;
    expect(verdict).toMatchObject({
      action: 'succeeded',
      data: { reference: request.context.reference, providerReference: order.id, amount: { amount: 300_000, currency: 'KES' }, transactionReference: settled.transaction_reference },
    });
    expect(verdict.action === 'succeeded' && verdict.data.dedupKey).toMatch(/^ghala:evt_/);
    expect(JSON.stringify(verdict.data)).not.toContain('254712345678');
    await expect(ghala.status(started.data, request.amount)).resolves.toMatchObject({ status: 'succeeded', amount: { amount: 300_000, currency: 'KES' }, transactionReference: settled.transaction_reference });
  });

  test('a failed prompt names why', async () => {
    const ghala = provider();
    const request = input();
    const started = await ghala.initiate(request);
    const before = received.length;
    await simulator.control.complete(started.providerReference!, { status: 'failed', reason: 'Request cancelled by user' });
    const verdict = await ghala.parseWebhook!(asRequest(received[before]!), { reference: request.context.reference, currency: 'KES', providerReference: started.providerReference! });
    expect(verdict).toMatchObject({ action: 'failed', data: { failureReason: 'cancelled_by_customer' } });
    await expect(ghala.status(started.data, request.amount)).resolves.toMatchObject({ status: 'failed', failureReason: 'cancelled_by_customer' });
  });

  test('a retried create with the same idempotency key gets the same order; a lost answer is found by reference', async () => {
    const ghala = provider();
    const request = input();
    const first = await ghala.initiate(request);
    const again = await ghala.initiate(request);
    expect(again.providerReference).toBe(first.providerReference);
    await expect(ghala.recoverLost!(request)).resolves.toEqual({ kind: 'found', result: first });
    await expect(ghala.recoverLost!(input())).resolves.toEqual({ kind: 'absent' });
  });

  test('refusals: a number Ghala will not prompt is declined, a bad key is rejected, an outage is unavailable', async () => {
    await expect(provider().initiate(input({ customerPhone: '254202345678' }))).rejects.toBeInstanceOf(PaymentDeclinedError);
    await expect(provider('hex', 'wrong-key').initiate(input())).rejects.toBeInstanceOf(ProviderRejectedError);
    simulator.control.setBehaviour({ down: true });
    try {
      await expect(provider().initiate(input())).rejects.toBeInstanceOf(ProviderUnavailableError);
    } finally {
      simulator.control.setBehaviour({ down: false });
    }
  });
});

describe('Ghala webhook signatures (GHALA_SIGNATURE_SCHEME)', () => {
  const body = Buffer.from(JSON.stringify({ id: 'evt_1', event: 'payment.success', data: { order_id: 'ghala_order_1', reference: 'r1', amount: 3000, currency: 'KES', transaction_reference: 'SAB12', status: 'completed' } }));
  const now = 1_780_000_000;

  test.each(GHALA_SIGNATURE_SCHEMES)('%s: the sandbox signs what duka verifies, and only under that scheme', (scheme) => {
    const headers = ghalaSignatureHeaders(scheme, SECRET, body, now);
    const header = (name: string) => headers[name];
    expect(verifyGhalaSignature(scheme, SECRET, body, header, now)).toBe(true);
    expect(verifyGhalaSignature(scheme, 'another-secret', body, header, now)).toBe(false);
    expect(verifyGhalaSignature(scheme, SECRET, Buffer.concat([body, Buffer.from(' ')]), header, now)).toBe(false);
    for (const other of GHALA_SIGNATURE_SCHEMES.filter((s) => s !== scheme)) expect(verifyGhalaSignature(other, SECRET, body, header, now)).toBe(false);
    if (scheme !== 'hex') {
      // A replayed delivery: the signature is genuine but its timestamp is older than five minutes.
      expect(verifyGhalaSignature(scheme, SECRET, body, header, now + 301)).toBe(false);
      expect(verifyGhalaSignature(scheme, SECRET, body, (name) => (name === 'x-ghala-timestamp' ? undefined : headers[name]), now)).toBe(false);
    }
  });

  test('each scheme is the documented formula (protocols.md §8)', () => {
    const mac = (data: string) => createHmac('sha256', SECRET).update(data);
    const raw = body.toString('utf8');
    expect(ghalaSignature('hex', SECRET, body)).toBe(mac(raw).digest('hex'));
    expect(ghalaSignature('hex-timestamp', SECRET, body, '123')).toBe(mac(`123${raw}`).digest('hex'));
    expect(ghalaSignature('sha256-timestamp-dot', SECRET, body, '123')).toBe(`sha256=${mac(`123.${raw}`).digest('hex')}`);
    expect(ghalaSignature('base64-timestamp-dot', SECRET, body, '123')).toBe(mac(`123.${raw}`).digest('base64'));
  });

  test.each(GHALA_SIGNATURE_SCHEMES)('%s: a delivery from the simulator under this scheme is accepted, the same under another refused', async (scheme) => {
    simulator.control.setBehaviour({ signatureScheme: scheme });
    try {
      const ghala = provider(scheme);
      const request = input();
      const started = await ghala.initiate(request);
      const before = received.length;
      await simulator.control.complete(started.providerReference!);
      const delivery = asRequest(received[before]!);
      const payment = { reference: request.context.reference, currency: 'KES' as const, providerReference: started.providerReference! };
      await expect(ghala.parseWebhook!(delivery, payment)).resolves.toMatchObject({ action: 'succeeded' });
      const other = GHALA_SIGNATURE_SCHEMES.find((s) => s !== scheme)!;
      await expect(provider(other).parseWebhook!(delivery, payment)).resolves.toMatchObject({ action: 'forged' });
    } finally {
      simulator.control.setBehaviour({ signatureScheme: undefined });
    }
  });

  test('a genuine event about another payment is forged; other events are not supported; a broken body is malformed', () => {
    const settings = { webhookSecret: SECRET, signatureScheme: 'hex' as const };
    const signed = (value: unknown) => {
      const raw = Buffer.from(JSON.stringify(value));
      const headers = ghalaSignatureHeaders('hex', SECRET, raw);
      return { rawBody: raw, header: (name: string) => headers[name] };
    };
    const payment = { reference: 'r1', currency: 'KES' as const, providerReference: 'ghala_order_1' };
    expect(parseGhalaDelivery(signed({ id: 'e1', event: 'payment.success', data: { order_id: 'ghala_order_2', amount: 1, currency: 'KES' } }), settings, payment)).toMatchObject({ action: 'forged' });
    expect(parseGhalaDelivery(signed({ id: 'e2', event: 'order.created', data: { customer: { phone: '+254712345678' } } }), settings, null)).toMatchObject({
      action: 'not_supported',
      data: { dedupKey: 'ghala:e2', raw: { data: { customer: 'redacted' } } },
    });
    expect(parseGhalaDelivery(signed({ id: 'e3', event: 'payment.success', data: {} }), settings, payment)).toMatchObject({ action: 'malformed' });
    expect(parseGhalaDelivery(signed('not an event'), settings, payment)).toMatchObject({ action: 'malformed' });
    const noId = signed({ event: 'payment.failed', data: { order_id: 'ghala_order_1', reference: 'r1', failure_reason: 'insufficient balance' } });
    const a = parseGhalaDelivery(noId, settings, payment);
    expect(a).toMatchObject({ action: 'failed', data: { failureReason: 'insufficient_funds', dedupKey: expect.stringMatching(/^ghala:sha256:[0-9a-f]{64}$/) } });
    expect(ghalaWebhook.claim({ rawBody: Buffer.from(JSON.stringify({ data: { order_id: 'ghala_order_9' } })), header: () => undefined })).toEqual({ by: 'providerReference', value: 'ghala_order_9' });
    expect(ghalaWebhook.claim({ rawBody: Buffer.from('nope'), header: () => undefined })).toBeNull();
  });
});
