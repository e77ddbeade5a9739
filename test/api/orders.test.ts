import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { customerRefFor } from '../../lib/customer-ref.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { createApp } from '../../api/app.ts';
import { CreateOrderRefusedError, type CreateOrderInput } from '../../api/routes/orders.ts';
import type { OrderView } from '../../workflows/definitions.ts';
import { ADMIN_TOKEN, bearer, errorCode, json, sql, startApi, startServer, type ApiHarness, type TestServer } from './support.ts';

const PUNE_TOKEN = 'shop-token-pune-0123456789';
let api: ApiHarness;
let calls: CreateOrderInput[] = [];
let answer: (input: CreateOrderInput) => Promise<OrderView>;

function view(input: CreateOrderInput): OrderView {
  return {
    orderNumber: 'NBO-2001',
    workflowId: 'order:NBO-2001',
    shopId: input.shopId,
    customerRef: input.customer.customerRef,
    status: 'CHECKOUT',
    paymentStatus: 'NONE',
    paymentMethod: null,
    fulfilment: input.fulfilment?.fulfilment ?? null,
    address: input.fulfilment?.address ?? null,
    note: input.note ?? null,
    items: [],
    subtotal: 150000,
    tax: 0,
    deliveryFee: 0,
    total: 150000,
    currency: 'KES',
    payments: [],
    paid: 0,
    refunded: 0,
    attention: null,
    timeline: [],
    source: 'api',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
}

beforeAll(async () => {
  api = await startApi({
    deps: {
      createOrder: async (input) => {
        calls.push(input);
        return answer(input);
      },
    },
  });
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [createHash('sha256').update(PUNE_TOKEN).digest('hex'), 'pune']);
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  calls = [];
  answer = async (input) => view(input);
});

const postOrder = (body: unknown, token = ADMIN_TOKEN, headers: Record<string, string> = {}) =>
  fetch(`${api.url}/api/orders`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const GOOD = {
  shopId: 'nairobi',
  customer: { phone: '0712 345 678', name: 'Amina' },
  items: [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }, { productId: 'nairobi-pizza-margherita', quantity: 2, presentationId: 'nairobi-pizza-large', optionIds: ['nairobi-pizza-crust-crust-thin'] }],
  fulfilment: { type: 'delivery', address: { text: 'Kilimani, Nairobi' } },
  note: 'ring twice',
};

describe('POST /api/orders', () => {
  it('validates, upserts the customer and answers 201 with the order', async () => {
    const res = await postOrder(GOOD, ADMIN_TOKEN, { 'idempotency-key': 'shop-order-77' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/admin/orders/NBO-2001');
    const body = await json(res);
    expect(body).toMatchObject({ orderNumber: 'NBO-2001', status: 'CHECKOUT', temporalUrl: 'http://temporal-ui.test:8233/namespaces/default/workflows/order%3ANBO-2001' });

    const customerRef = customerRefFor('254712345678', api.config.customerRefSecret);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({
      shopId: 'nairobi',
      customer: { id: expect.any(String), waId: '254712345678', customerRef, name: 'Amina' },
      items: [
        { retailerId: 'NBO-COFFEE-500', quantity: 1, optionIds: [] },
        { productId: 'nairobi-pizza-margherita', quantity: 2, presentationId: 'nairobi-pizza-large', optionIds: ['nairobi-pizza-crust-crust-thin'] },
      ],
      fulfilment: { fulfilment: 'delivery', address: { text: 'Kilimani, Nairobi' } },
      note: 'ring twice',
      idempotencyKey: 'shop-order-77',
      requestId: expect.any(String),
    });
    const rows = await sql<{ id: string; ref: string; name: string }>(api.db.orm, 'select id, ref, name from customer where shop_id = ? and wa_id = ?', ['nairobi', '254712345678']);
    expect(rows).toEqual([{ id: calls[0]!.customer.id, ref: customerRef, name: 'Amina' }]);

    // Same customer again (international form, no name): same row, name kept.
    expect((await postOrder({ ...GOOD, customer: { phone: '+254712345678' } })).status).toBe(201);
    expect(calls[1]!.customer).toEqual({ id: calls[0]!.customer.id, waId: '254712345678', customerRef, name: 'Amina' });
  });

  it('400 with a clear message for a phone number that is not valid for the shop’s country', async () => {
    for (const phone of ['12345', '0712 34', '+1 202 555 01']) {
      const res = await postOrder({ ...GOOD, customer: { phone } });
      expect(res.status).toBe(400);
      const body = (await json(res)) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('invalid_phone');
      expect(body.error.message).toMatch(/customer\.phone.*KE/);
    }
    expect(calls).toHaveLength(0);
  });

  it('400 for invalid bodies', async () => {
    for (const body of [
      {},
      { ...GOOD, items: [] },
      { ...GOOD, items: [{ quantity: 1 }] },
      { ...GOOD, items: [{ productId: 'a', retailerId: 'b', quantity: 1 }] },
      { ...GOOD, items: [{ productId: 'a', quantity: 0 }] },
      { ...GOOD, items: [{ productId: 'a', quantity: 1.5 }] },
      { ...GOOD, fulfilment: { type: 'delivery' } },
      { ...GOOD, fulfilment: { type: 'teleport' } },
      { ...GOOD, surprise: true },
    ]) {
      const res = await postOrder(body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
    expect(calls).toHaveLength(0);
  });

  it('a shop token may only create orders for its own shop', async () => {
    const res = await postOrder(GOOD, PUNE_TOKEN);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('forbidden');
    const own = await postOrder({ ...GOOD, shopId: 'pune', customer: { phone: '98123 45678' } }, PUNE_TOKEN);
    expect(own.status).toBe(201);
    expect(calls.map((c) => [c.shopId, c.customer.waId])).toEqual([['pune', '919812345678']]);
  });

  it('unknown shop is 404; a refusal from the workflow side is 422', async () => {
    const res = await postOrder({ ...GOOD, shopId: 'atlantis' });
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('unknown_shop');
    answer = async () => {
      throw new CreateOrderRefusedError('Premium Coffee is out of stock', 'out_of_stock');
    };
    const refused = await postOrder(GOOD);
    expect(refused.status).toBe(422);
    expect(await json(refused)).toEqual({ error: { code: 'out_of_stock', message: 'Premium Coffee is out of stock' } });
  });
});

describe('POST /api/orders without createOrder', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(createApp({ config: api.config, orm: api.db.orm, temporal: api.temporal.client, payments: new PaymentProviders(api.config) }));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('503 {error:{code:"unavailable"}}', async () => {
    const res = await fetch(`${server.url}/api/orders`, { method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify(GOOD) });
    expect(res.status).toBe(503);
    expect(await errorCode(res)).toBe('unavailable');
  });
});
