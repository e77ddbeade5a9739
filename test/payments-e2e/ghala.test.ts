import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NAIROBI } from '../helpers/duka.ts';
import { createGhalaSimulator, type GhalaSimulator, type SimulatedGhalaOrder } from '../../sandbox/providers/ghala.ts';
import { ghalaSignatureHeaders } from '../../providers/payments/ghala-signature.ts';
import { Customer, admin, eventually, orderOf, orderRow, paymentEvents, paymentRows, receiptsTo, startWorld, toPaymentChoice, type World } from './support.ts';

/**
 * M-Pesa through Ghala in Nairobi (seed 001), end to end: the shop offers `ghala_mpesa`, duka's production Ghala client
 * talks to the Ghala simulator over HTTP, and Ghala's signed webhook reaches `POST /webhooks/ghala`. This world verifies
 * the `sha256-timestamp-dot` scheme, so the route is shown to follow GHALA_SIGNATURE_SCHEME (each scheme's own check is
 * in test/payments/ghala.test.ts).
 */
const SCHEME = 'sha256-timestamp-dot' as const;
const GHALA = { GHALA_API_KEY: 'e2e-ghala-api-key', GHALA_WEBHOOK_SECRET: 'e2e-ghala-webhook-secret', GHALA_SIGNATURE_SCHEME: SCHEME };
/** Where the simulator posts webhooks until duka's address is known. */
const DUKA_PLACEHOLDER = 'http://duka.invalid';

describe('M-Pesa through Ghala, Nairobi', () => {
  let w: World;
  let ghala: GhalaSimulator;
  let server: Server;

  beforeAll(async () => {
    let dukaUrl = '';
    ghala = createGhalaSimulator({
      apiKey: GHALA.GHALA_API_KEY,
      webhookSecret: GHALA.GHALA_WEBHOOK_SECRET,
      signatureScheme: SCHEME,
      webhookUrl: `${DUKA_PLACEHOLDER}/webhooks/ghala`,
      fetch: (url, init) => fetch(String(url).replace(DUKA_PLACEHOLDER, dukaUrl), init),
    });
    const app = express();
    app.use('/ghala', ghala.router);
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const ghalaUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ghala`;
    w = await startWorld('pay_ghala', { ...GHALA, GHALA_BASE_URL: ghalaUrl });
    dukaUrl = w.duka.baseUrl;
    const patched = await fetch(`${w.duka.baseUrl}/api/admin/shops/nairobi`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ paymentMethods: ['ghala_mpesa', 'cash'] }),
    });
    expect(patched.status).toBe(200);
  });
  afterAll(async () => {
    await w?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }, 120_000);

  const COFFEE = [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }];

  /** A customer who chose M-Pesa through Ghala: Ghala has an order for them and they were told to approve it. */
  async function prompted(waId: string): Promise<{ c: Customer; orderNumber: string; order: SimulatedGhalaOrder }> {
    const c = new Customer(w.duka, NAIROBI, waId);
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    expect(methods.ids).toEqual(['pay:ghala_mpesa', 'pay:cash']);
    await c.tap('pay:ghala_mpesa');
    const order = await eventually(async () => ghala.control.orders().find((o) => o.customer.phone === `+${waId}`), Boolean, `a Ghala order for ${waId}`);
    await eventually(async () => w.duka.graph.sent.filter((s) => s.to === waId).map((s) => JSON.stringify(s.body)), (texts) => texts.some((t) => /approve the M-Pesa payment of KES 1,500/.test(t)), 'the approve prompt');
    return { c, orderNumber, order: order! };
  }

  it('a Ghala-paid order completes: STK through Ghala, signed payment.success, confirmed with Ghala, receipt, PAID, then COMPLETED', async () => {
    const { orderNumber, order } = await prompted('254711300001');
    expect(order).toMatchObject({ amount: 1500, currency: 'KES', payment_method: 'mpesa', status: 'pending' });
    const readsBefore = ghala.control.reads();
    const [delivery] = await ghala.control.complete(order.id);
    expect(delivery!.status).toBe(200);
    const settled = ghala.control.order(order.id)!;
    const receipt = await eventually(async () => receiptsTo(w.duka, '254711300001'), (r) => r.length === 1, 'the receipt');
    expect(receipt[0]!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt[0]!.text).toContain('Total: KES 1,500');
    expect(receipt[0]!.text).toContain(settled.transaction_reference!);
    // The webhook is a hint: duka asked Ghala for the order before it marked anything paid.
    expect(ghala.control.reads()).toBeGreaterThan(readsBefore);
    const view = await orderOf(w.duka, orderNumber);
    expect(view).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED' });
    expect(view.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(callback)');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ provider: 'ghala', method: 'ghala_mpesa', status: 'succeeded', amount: 150_000, currency: 'KES', provider_reference: order.id, transaction_reference: settled.transaction_reference });
    const events = await paymentEvents(w.duka, { paymentId: payment!.id });
    expect(events.map((e) => e.outcome)).toEqual(['accepted']);
    expect(events[0]!.raw).not.toContain('254711300001');

    const completed = await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/status`, { status: 'COMPLETED' }, { 'idempotency-key': `complete-${orderNumber}` });
    expect(completed.status).toBe(200);
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'COMPLETED', 'row COMPLETED')).payment_status).toBe('SUCCEEDED');
  });

  it('a redelivered webhook is a duplicate: one receipt, one accepted event', async () => {
    const { orderNumber, order } = await prompted('254711300002');
    ghala.control.setBehaviour({ duplicateCallbacks: true });
    try {
      const sent = await ghala.control.complete(order.id);
      expect(sent.map((d) => d.status)).toEqual([200, 200]);
    } finally {
      ghala.control.setBehaviour({ duplicateCallbacks: false });
    }
    await eventually(async () => receiptsTo(w.duka, '254711300002'), (r) => r.length === 1, 'the receipt');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect((await paymentEvents(w.duka, { paymentId: payment!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);
    // The workflow has handled everything before this update's answer: still one receipt, paid once.
    await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/status`, { status: 'PREPARING' }, { 'idempotency-key': `prep-${orderNumber}` });
    expect(receiptsTo(w.duka, '254711300002')).toHaveLength(1);
    expect(await orderOf(w.duka, orderNumber)).toMatchObject({ paid: 150_000, attention: null });
  });

  it('a webhook signed under another scheme, or with another secret, is 401 and touches nothing', async () => {
    const { orderNumber, order } = await prompted('254711300003');
    const securityEvents = async () => (await paymentEvents(w.duka, { provider: 'ghala' })).filter((e) => e.security && e.outcome === 'rejected').length;
    const before = await securityEvents();
    const body = Buffer.from(JSON.stringify({ id: 'evt_forged_1', event: 'payment.success', data: { order_id: order.id, reference: order.reference, amount: 1500, currency: 'KES', transaction_reference: 'FAKE1', status: 'completed' } }));
    for (const headers of [ghalaSignatureHeaders('hex', GHALA.GHALA_WEBHOOK_SECRET, body), ghalaSignatureHeaders(SCHEME, 'not-the-secret', body), {}]) {
      const res = await fetch(`${w.duka.baseUrl}/webhooks/ghala`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: new Uint8Array(body) });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'invalid_signature' } });
    }
    const malformed = Buffer.from('{"event":');
    const bad = await fetch(`${w.duka.baseUrl}/webhooks/ghala`, { method: 'POST', headers: { 'content-type': 'application/json', ...ghalaSignatureHeaders(SCHEME, GHALA.GHALA_WEBHOOK_SECRET, malformed) }, body: new Uint8Array(malformed) });
    expect(bad.status).toBe(400);
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'pending', transaction_reference: null });
    expect((await orderOf(w.duka, orderNumber)).status).toBe('AWAITING_PAYMENT');
    // Refused before the body is looked up: recorded as security events of no payment, the payment's own evidence untouched.
    expect(await paymentEvents(w.duka, { paymentId: payment!.id })).toEqual([]);
    expect((await securityEvents()) - before).toBeGreaterThanOrEqual(3);

    // The genuine one still pays it.
    await ghala.control.complete(order.id);
    await eventually(async () => receiptsTo(w.duka, '254711300003'), (r) => r.length === 1, 'the receipt');
    expect(receiptsTo(w.duka, '254711300003')[0]!.text).not.toContain('FAKE1');
  });
});
