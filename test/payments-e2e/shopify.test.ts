import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { PUNE } from '../helpers/duka.ts';
import { createShopifySimulator, type ShopifySimulatorControl } from '../../sandbox/providers/shopify.ts';
import { ShopifyClient } from '../../providers/shopify/client.ts';
import { ADMIN_TOKEN, Customer, admin, eventually, latestAttempt, orderOf, pendingActivities, toPaymentChoice, waitForLink, type World, startWorld } from './support.ts';

/**
 * Seed 004: every paid order of a shop with a Shopify store is created there once, through the GraphQL Admin API
 * (protocols.md §13), against a fake store over HTTP that can throttle, fail and lose the answer to a create.
 */
describe('Shopify push of sold orders, Pune', () => {
  const STORE = 'duka-pune.myshopify.com';
  const TOKEN = 'shpat_e2e_0123456789abcdef';
  let w: World;
  let shopify: ShopifySimulatorControl;
  let server: Server;

  beforeAll(async () => {
    const sim = createShopifySimulator();
    shopify = sim.control;
    shopify.addStore(STORE, TOKEN);
    const app = express();
    app.use('/shopify', sim.router);
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    w = await startWorld('pay_shopify', { SHOPIFY_BASE_URL: `${url}/shopify/{shopDomain}`, CREDENTIALS_KEY: 'ab'.repeat(32) });
    const res = await fetch(`${w.duka.baseUrl}/api/admin/shops/pune`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ shopify: { shopDomain: STORE, accessToken: TOKEN, apiVersion: '2026-01' } }),
    });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    await w?.stop();
    await new Promise((r) => server?.close(r));
  });
  beforeEach(() => shopify.reset());

  const CHAI = [{ retailerId: 'PNQ-CHAI', quantity: 1 }];
  const mine = (orderNumber: string) => shopify.orders(STORE).filter((o) => (o.input.tags as string[]).includes(`duka:${orderNumber}`));

  /** A Pune customer pays a chai by Razorpay link (the webhook); resolves once the receipt has arrived. */
  async function paidOrder(waId: string, name: string): Promise<{ c: Customer; orderNumber: string; paymentId: string }> {
    const c = new Customer(w.duka, PUNE, waId, name);
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'pune', CHAI);
    await c.tap('pay:razorpay_link');
    const link = await waitForLink(w.providers, await latestAttempt(w.duka, orderNumber, 1));
    await w.providers.razorpay.pay(link.id);
    // The "Help" prompt that follows the Pay-now button may come before the receipt.
    let seen = await c.next();
    if (!seen.some((m) => m.text.includes('Receipt'))) seen = [...seen, ...(await c.next())];
    expect(seen.find((m) => m.text.includes('Receipt'))?.text).toContain(`Receipt — order ${orderNumber}`);
    return { c, orderNumber, paymentId: w.providers.razorpay.link(link.id)!.payments![0]!.payment_id };
  }

  const pushedEvent = (orderNumber: string) =>
    eventually(() => orderOf(w.duka, orderNumber), (o) => o.timeline.some((e) => e.type.startsWith('shopify_')), `the Shopify push of ${orderNumber}`, 60_000);

  it('creates the paid order once even when the answer to the create is lost and the search index lags: found by its tag, never created twice', async () => {
    shopify.loseAnswerNext(1);
    // The first retry comes about 2 s after the lost answer: its search misses, it waits out the lag and searches again.
    shopify.setSearchLag(3_500);
    const before = shopify.requests().length;
    const { orderNumber, paymentId } = await paidOrder('919811000001', 'Priya Sharma');
    const order = await pushedEvent(orderNumber);

    expect(mine(orderNumber)).toHaveLength(1);
    const [created] = mine(orderNumber);
    expect(order.timeline.find((e) => e.type === 'shopify_pushed')?.detail).toBe(`${created!.name} ${created!.id} (already there)`);
    const creates = shopify.requests().slice(before).filter((r) => r.operation === 'orderCreate');
    expect(creates.map((r) => r.outcome)).toEqual(['lost']);
    const searches = shopify.requests().slice(before).filter((r) => r.operation === 'orders');
    expect(searches.length).toBeGreaterThanOrEqual(3);

    // What the shop sees in Shopify: the customer, the lines, tax and the Razorpay payment, marked for duka.
    expect(created!.input).toMatchObject({
      currency: 'INR',
      financialStatus: 'PAID',
      lineItems: [{ title: 'Masala Chai', sku: 'PNQ-CHAI', quantity: 1, priceSet: { shopMoney: { amount: '40.00', currencyCode: 'INR' } } }],
      taxLines: [{ title: 'Tax', rate: 0.05, priceSet: { shopMoney: { amount: '2.00', currencyCode: 'INR' } } }],
      transactions: [{ kind: 'SALE', status: 'SUCCESS', gateway: 'Razorpay', authorizationCode: paymentId, amountSet: { shopMoney: { amount: '42.00', currencyCode: 'INR' } } }],
      phone: '+919811000001',
      customer: { toUpsert: { phone: '+919811000001', firstName: 'Priya', lastName: 'Sharma' } },
      tags: ['duka', `duka:${orderNumber}`],
      sourceName: 'duka',
      sourceIdentifier: orderNumber,
    });
    expect(created!.options).toEqual({ sendReceipt: false, sendFulfillmentReceipt: false, inventoryBehaviour: 'BYPASS' });

    const [row] = await w.duka.orm.em.fork().getConnection().execute<{ state: string; requests: number; shopify_order_id: string }[]>('select state, requests, shopify_order_id from shopify_order where order_number = ?', [orderNumber]);
    expect(row).toMatchObject({ state: 'created', requests: 1, shopify_order_id: created!.id });
    // The order view (read model) shows the push in its timeline.
    const detail = await eventually(() => admin(w.duka, 'GET', `/api/admin/orders/${orderNumber}`), (r) => JSON.stringify(r.body).includes('shopify_pushed'), 'shopify_pushed in the order view');
    expect(detail.body.shopify).toMatchObject({ state: 'created', orderId: created!.id, name: created!.name, requests: 1 });
  });

  it('honours Shopify\'s throttling (429 with Retry-After, then GraphQL THROTTLED) and creates the order once', async () => {
    shopify.throttleNext(1, 'http', 3);
    shopify.throttleNext(1, 'graphql', 2);
    const before = shopify.requests().length;
    const { orderNumber } = await paidOrder('919811000002', 'Rahul');
    const order = await pushedEvent(orderNumber);
    expect(order.timeline.find((e) => e.type === 'shopify_pushed')?.detail).toMatch(/^#\d+ gid:\/\/shopify\/Order\/\d+$/);
    expect(mine(orderNumber)).toHaveLength(1);
    const log = shopify.requests().slice(before);
    expect(log.map((r) => r.outcome).slice(0, 2)).toEqual(['throttled', 'throttled']);
    // The retry came after the 3 s Shopify asked for, not on Temporal's default 2 s schedule.
    expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(3_000);
    expect(log.filter((r) => r.operation === 'orderCreate').map((r) => r.outcome)).toEqual(['ok']);
  });

  it('never holds the order up while Shopify is down: the customer is paid and served, the push waits in Temporal and then lands once', async () => {
    shopify.failNext(3, 502);
    const { c, orderNumber } = await paidOrder('919811000003', 'Anjali');
    // While Shopify fails, the operator moves the order on and the customer hears of it.
    const res = await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/status`, { status: 'PREPARING' });
    expect(res.status).toBe(200);
    expect((await c.next())[0]!.text).toContain('preparing');
    const pending = await eventually(() => pendingActivities(w.duka, orderNumber), (p) => p.some((a) => a.type === 'pushOrderToShopify' && a.attempt >= 2), 'the push pending with its last failure');
    expect(pending.find((a) => a.type === 'pushOrderToShopify')?.lastFailure).toMatch(/Shopify .*HTTP 502/);
    // The operator's order view says where the push stands: nothing sent to create yet, and why.
    expect((await admin(w.duka, 'GET', `/api/admin/orders/${orderNumber}`)).body.shopify).toMatchObject({ state: 'pending', orderId: null, requests: 0, lastError: expect.stringMatching(/HTTP 502/) });
    const order = await pushedEvent(orderNumber);
    expect(order.status).toBe('PREPARING');
    expect(order.timeline.some((e) => e.type === 'shopify_pushed')).toBe(true);
    expect(mine(orderNumber)).toHaveLength(1);
  });

  it('pushes a cash order once it is confirmed, as pending payment, with no transaction', async () => {
    const c = new Customer(w.duka, PUNE, '919811000004', 'Vikram');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'pune', CHAI);
    await c.tap('pay:cash');
    await pushedEvent(orderNumber);
    const [created] = mine(orderNumber);
    expect(created!.input.financialStatus).toBe('PENDING');
    expect(created!.input.transactions).toBeUndefined();
    expect(created!.input.customAttributes).toEqual(expect.arrayContaining([{ key: 'payment_method', value: 'cash' }]));
  });

  it('records a refusal in the timeline without touching the order', async () => {
    shopify.failNext(1, 400);
    const { orderNumber } = await paidOrder('919811000005', 'Meera');
    const order = await pushedEvent(orderNumber);
    expect(order.timeline.find((e) => e.type === 'shopify_failed')?.detail).toMatch(/HTTP 400/);
    expect(order.status).toBe('PAID');
    expect(mine(orderNumber)).toHaveLength(0);
  });
});

describe('the sandbox\'s Shopify store', () => {
  it('serves any myshopify.com store with the first token it is called with, and refuses another token (401, Shopify\'s answer)', async () => {
    const sim = createShopifySimulator({ acceptAnyStore: true });
    const app = express();
    app.use('/sandbox/shopify', sim.router);
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/shopify/{shopDomain}`;
      const store = { shopDomain: 'mutare-solar.myshopify.com', accessToken: 'shpat_sandbox' };
      const client = new ShopifyClient(base);
      const line = { title: 'Panel', quantity: 1, priceSet: { shopMoney: { amount: '150.00', currencyCode: 'USD' } } };
      const created = await client.createOrder(store, { currency: 'USD', lineItems: [line], tags: ['duka', 'duka:MUT-1001'] }, {});
      expect(await client.findOrderByTag(store, 'duka:MUT-1001')).toEqual(created);
      expect(await client.findOrderByTag(store, 'duka:MUT-1002')).toBeNull();
      await expect(client.findOrderByTag({ ...store, accessToken: 'shpat_other' }, 'duka:MUT-1001')).rejects.toMatchObject({ kind: 'unavailable', message: expect.stringContaining('HTTP 401') });
      await expect(client.createOrder(store, { currency: 'USD', lineItems: [line], colour: 'red' }, {})).rejects.toMatchObject({ kind: 'rejected', message: expect.stringContaining('colour') });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
