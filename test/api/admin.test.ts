import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ADMIN_TOKEN, bearer, errorCode, json, sql, startApi, type ApiHarness } from './support.ts';

let api: ApiHarness;
const NAIROBI_TOKEN = 'shop-token-nairobi-0123456789';
const HARARE_TOKEN = 'shop-token-harare-0123456789';

interface OrderFixture {
  number: string;
  shopId: string;
  status: string;
  paymentStatus?: string;
  total: number;
  currency: string;
  createdAt: string;
  customerRef?: string;
}

async function addCustomer(shopId: string, ref: string, waId: string) {
  const id = randomUUID();
  await sql(api.db.orm, 'insert into customer (id, shop_id, wa_id, ref, name, created_at) values (?, ?, ?, ?, ?, now())', [id, shopId, waId, ref, 'Test']);
  return id;
}

async function addOrder(o: OrderFixture, customerId: string | null = null) {
  const id = randomUUID();
  await sql(
    api.db.orm,
    'insert into orders (id, number, shop_id, customer_id, status, payment_status, currency, workflow_id, subtotal, total, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [id, o.number, o.shopId, customerId, o.status, o.paymentStatus ?? 'NONE', o.currency, `order:${o.number}`, o.total, o.total, o.createdAt, o.createdAt],
  );
  return id;
}

const post = (path: string, body: unknown, token = ADMIN_TOKEN) =>
  fetch(`${api.url}${path}`, { method: 'POST', headers: { ...bearer(token), 'content-type': 'application/json' }, body: JSON.stringify(body) });
const get = (path: string, token = ADMIN_TOKEN) => fetch(`${api.url}${path}`, { headers: bearer(token) });

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

beforeAll(async () => {
  api = await startApi();
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [sha(NAIROBI_TOKEN), 'nairobi']);
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [sha(HARARE_TOKEN), 'harare']);
  const c1 = await addCustomer('nairobi', 'ref-nbo-1', '254712000001');
  await addCustomer('nairobi', 'ref-nbo-2', '254712000002');
  await addCustomer('harare', 'ref-hre-1', '263772000001');
  // Nairobi: 1 completed cash (revenue), 1 paid (revenue), 1 awaiting payment, 1 cancelled-but-paid (no revenue), 1 cart.
  const paidId = await addOrder({ number: 'NBO-1001', shopId: 'nairobi', status: 'COMPLETED', paymentStatus: 'NONE', total: 150000, currency: 'KES', createdAt: '2026-01-01T10:00:00Z' }, c1);
  await addOrder({ number: 'NBO-1002', shopId: 'nairobi', status: 'PAID', paymentStatus: 'SUCCEEDED', total: 80000, currency: 'KES', createdAt: '2026-01-02T10:00:00Z' }, c1);
  await addOrder({ number: 'NBO-1003', shopId: 'nairobi', status: 'AWAITING_PAYMENT', paymentStatus: 'PENDING', total: 60000, currency: 'KES', createdAt: '2026-01-03T10:00:00Z' }, c1);
  await addOrder({ number: 'NBO-1004', shopId: 'nairobi', status: 'CANCELLED', paymentStatus: 'SUCCEEDED', total: 99999, currency: 'KES', createdAt: '2026-01-04T10:00:00Z' });
  await addOrder({ number: 'NBO-1005', shopId: 'nairobi', status: 'CART', total: 0, currency: 'KES', createdAt: '2026-01-04T10:00:00Z' });
  // Harare: one paid order.
  await addOrder({ number: 'HRE-1001', shopId: 'harare', status: 'PREPARING', paymentStatus: 'SUCCEEDED', total: 799, currency: 'USD', createdAt: '2026-01-05T10:00:00Z' });

  await sql(
    api.db.orm,
    "insert into order_item (id, order_id, line_id, product_id, retailer_id, name, quantity, unit_price, options, line_total, position) values (?, ?, 'l1', 'nairobi-coffee', 'NBO-COFFEE-500', 'Premium Coffee', 1, 150000, '[]', 150000, 0)",
    [randomUUID(), paidId],
  );
  await sql(
    api.db.orm,
    "insert into payment (id, reference, idempotency_key, order_id, shop_id, provider, method, status, amount, currency, data, created_at, updated_at) values (?, 'ref-cash-1', 'idem-cash-1', ?, 'nairobi', 'cash', 'cash', 'succeeded', 150000, 'KES', '{}', now(), now())",
    [randomUUID(), paidId],
  );
  for (const [i, type] of ['created', 'placed', 'completed'].entries()) {
    await sql(api.db.orm, "insert into order_event (id, order_id, key, type, detail, at) values (?, ?, ?, ?, '{}', ?)", [randomUUID(), paidId, `NBO-1001:${i}`, type, `2026-01-01T10:0${i}:00Z`]);
  }
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => api.temporal.reset());

describe('bearer auth', () => {
  it('401 without a token, with a malformed header, or with a wrong token', async () => {
    for (const headers of [{}, { authorization: ADMIN_TOKEN }, { authorization: 'Basic abc' }, bearer('wrong-token-wrong-token')] as Record<string, string>[]) {
      const res = await fetch(`${api.url}/api/admin/stats`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await errorCode(res)).toBe('unauthorized');
    }
  });

  it('401 on /api/orders as well', async () => {
    const res = await fetch(`${api.url}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
  });
});

describe('GET /api/admin/stats', () => {
  it('counts orders, revenue per currency and customers across shops for the admin', async () => {
    const res = await get('/api/admin/stats');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.orders).toMatchObject({ total: 6, completed: 1, pending: 3 });
    expect(body.revenue).toEqual([
      { currency: 'KES', amount: 230000 },
      { currency: 'USD', amount: 799 },
    ]);
    expect(body.customers).toBe(3);
  });

  it('?shop= narrows; a shop token sees only its shop and may not ask for another', async () => {
    const byAdmin = await json(await get('/api/admin/stats?shop=harare'));
    expect(byAdmin).toMatchObject({ orders: { total: 1, completed: 0, pending: 1 }, revenue: [{ currency: 'USD', amount: 799 }], customers: 1 });
    const byShop = await json(await get('/api/admin/stats', NAIROBI_TOKEN));
    expect(byShop).toMatchObject({ orders: { total: 5, completed: 1, pending: 2 }, revenue: [{ currency: 'KES', amount: 230000 }], customers: 2 });
    const other = await get('/api/admin/stats?shop=harare', NAIROBI_TOKEN);
    expect(other.status).toBe(403);
    expect(await errorCode(other)).toBe('forbidden');
  });
});

describe('GET /api/admin/orders', () => {
  it('lists newest first from the database, pages with a cursor', async () => {
    const first = await json(await get('/api/admin/orders?limit=4'));
    const numbers = (first.orders as { orderNumber: string }[]).map((o) => o.orderNumber);
    expect(numbers).toHaveLength(4);
    expect(numbers[0]).toBe('HRE-1001');
    expect(typeof first.nextCursor).toBe('string');
    const second = await json(await get(`/api/admin/orders?limit=4&cursor=${first.nextCursor as string}`));
    const rest = (second.orders as { orderNumber: string }[]).map((o) => o.orderNumber);
    expect(rest).toEqual(['NBO-1002', 'NBO-1001']);
    expect(second.nextCursor).toBeNull();
    expect(new Set([...numbers, ...rest]).size).toBe(6);
    expect(api.temporal.callCount).toBe(0);
  });

  it('filters by status and shop; a shop token is pinned to its shop', async () => {
    const paid = await json(await get('/api/admin/orders?status=PAID,PREPARING'));
    expect((paid.orders as { orderNumber: string }[]).map((o) => o.orderNumber)).toEqual(['HRE-1001', 'NBO-1002']);
    const harare = await json(await get('/api/admin/orders?shop=harare'));
    expect((harare.orders as { orderNumber: string }[]).map((o) => o.orderNumber)).toEqual(['HRE-1001']);
    const mine = await json(await get('/api/admin/orders', HARARE_TOKEN));
    expect((mine.orders as { orderNumber: string }[]).map((o) => o.orderNumber)).toEqual(['HRE-1001']);
    expect((await get('/api/admin/orders?shop=nairobi', HARARE_TOKEN)).status).toBe(403);
  });

  it('400 on bad query values', async () => {
    for (const q of ['status=SHIPPED', 'limit=0', 'limit=1000', 'limit=abc', 'cursor=garbage', 'shop=a%20b']) {
      const res = await get(`/api/admin/orders?${q}`);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
  });
});

describe('GET /api/admin/orders/:orderNumber', () => {
  it('returns items, payments, timeline, workflow id, Temporal link and the live query', async () => {
    api.temporal.on.query = async () => ({ orderNumber: 'NBO-1001', status: 'COMPLETED' });
    const res = await get('/api/admin/orders/NBO-1001');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      orderNumber: 'NBO-1001',
      shopId: 'nairobi',
      customerRef: 'ref-nbo-1',
      status: 'COMPLETED',
      total: 150000,
      currency: 'KES',
      workflowId: 'order:NBO-1001',
      temporalUrl: 'http://temporal-ui.test:8233/namespaces/default/workflows/order%3ANBO-1001',
      live: { orderNumber: 'NBO-1001', status: 'COMPLETED' },
    });
    expect(body.items).toEqual([expect.objectContaining({ lineId: 'l1', name: 'Premium Coffee', quantity: 1, unitPrice: 150000, lineTotal: 150000 })]);
    expect(body.payments).toEqual([expect.objectContaining({ reference: 'ref-cash-1', provider: 'cash', status: 'succeeded', amount: 150000 })]);
    expect((body.timeline as { type: string }[]).map((t) => t.type)).toEqual(['created', 'placed', 'completed']);
    expect(api.temporal.queries).toEqual([{ workflowId: 'order:NBO-1001', name: 'order', args: [] }]);
    expect(JSON.stringify(body)).not.toContain('254712000001');
  });

  it('live is null when the workflow does not answer', async () => {
    api.temporal.on.query = async () => {
      throw new Error('no worker');
    };
    expect((await json(await get('/api/admin/orders/NBO-1002'))).live).toBeNull();
  });

  it('404 for an unknown order and for another shop’s order', async () => {
    expect(await errorCode(await get('/api/admin/orders/NBO-9999'))).toBe('not_found');
    const res = await get('/api/admin/orders/NBO-1001', HARARE_TOKEN);
    expect(res.status).toBe(404);
    expect((await get('/api/admin/orders/NBO-1001', NAIROBI_TOKEN)).status).toBe(200);
  });
});

describe('operator actions', () => {
  it('status runs the advanceStatus update and returns the order', async () => {
    api.temporal.on.update = async () => ({ orderNumber: 'NBO-1002', status: 'PREPARING' });
    const res = await post('/api/admin/orders/NBO-1002/status', { status: 'PREPARING', note: 'kitchen' });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ orderNumber: 'NBO-1002', live: { status: 'PREPARING' } });
    expect(api.temporal.updates).toEqual([{ workflowId: 'order:NBO-1002', name: 'advanceStatus', args: [{ status: 'PREPARING', note: 'kitchen' }], options: { args: [{ status: 'PREPARING', note: 'kitchen' }] } }]);
  });

  it('cancel, refund, mark-refunded and retry-payment run their updates', async () => {
    api.temporal.on.update = async (call) => ({ orderNumber: 'NBO-1003', status: call.name });
    expect((await post('/api/admin/orders/NBO-1003/cancel', { reason: 'customer called' })).status).toBe(200);
    expect((await post('/api/admin/orders/NBO-1003/refund', {})).status).toBe(200);
    expect((await post('/api/admin/orders/NBO-1003/retry-payment', { method: 'mpesa' })).status).toBe(200);
    expect((await post('/api/admin/orders/NBO-1003/mark-refunded', { note: 'M-Pesa reversal QK12AB', amount: 50000 })).status).toBe(200);
    expect((await post('/api/admin/orders/NBO-1003/mark-refunded', {})).status).toBe(400);
    const empty = await fetch(`${api.url}/api/admin/orders/NBO-1003/cancel`, { method: 'POST', headers: bearer(ADMIN_TOKEN) });
    expect(empty.status).toBe(200);
    expect(api.temporal.updates.map((u) => [u.name, u.args[0]])).toEqual([
      ['cancelOrder', { reason: 'customer called' }],
      ['refundOrder', {}],
      ['retryPayment', { method: 'mpesa' }],
      ['markRefunded', { note: 'M-Pesa reversal QK12AB', amount: 50000 }],
      ['cancelOrder', {}],
    ]);
  });

  it('Idempotency-Key becomes the update id', async () => {
    await fetch(`${api.url}/api/admin/orders/NBO-1003/cancel`, { method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'idempotency-key': 'op-42' } });
    expect(api.temporal.updates[0]?.options).toMatchObject({ updateId: 'op-42' });
  });

  it('a validator refusal is 409 with its message', async () => {
    api.temporal.on.update = async () => {
      throw new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ message: 'an order cannot go from COMPLETED to PREPARING' }));
    };
    const res = await post('/api/admin/orders/NBO-1001/status', { status: 'PREPARING' });
    expect(res.status).toBe(409);
    expect(await json(res)).toEqual({ error: { code: 'conflict', message: 'an order cannot go from COMPLETED to PREPARING' } });
  });

  it('a finished workflow is 409, Temporal down is 503', async () => {
    api.temporal.on.update = async (call) => {
      throw new WorkflowNotFoundError('workflow execution already completed', call.workflowId, undefined);
    };
    const closed = await post('/api/admin/orders/NBO-1001/refund', {});
    expect(closed.status).toBe(409);
    expect(await errorCode(closed)).toBe('order_closed');
    api.temporal.on.update = async () => {
      throw new Error('14 UNAVAILABLE');
    };
    const down = await post('/api/admin/orders/NBO-1001/refund', {});
    expect(down.status).toBe(503);
  });

  it('400 for bad bodies; nothing reaches the workflow', async () => {
    for (const [path, body] of [
      ['status', { status: 'SHIPPED' }],
      ['status', {}],
      ['status', { status: 'PREPARING', extra: 1 }],
      ['cancel', { reason: 42 }],
      ['retry-payment', { method: 'bitcoin' }],
    ] as const) {
      const res = await post(`/api/admin/orders/NBO-1002/${path}`, body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
    expect(api.temporal.callCount).toBe(0);
  });

  it('a shop token cannot act on another shop’s order', async () => {
    const res = await post('/api/admin/orders/NBO-1002/cancel', {}, HARARE_TOKEN);
    expect(res.status).toBe(404);
    expect(api.temporal.callCount).toBe(0);
  });
});

describe('POST /api/admin/conversations/:shopId/:customerRef/handover', () => {
  it('signals the conversation', async () => {
    const res = await post('/api/admin/conversations/nairobi/ref-nbo-1/handover', { minutes: 45 });
    expect(res.status).toBe(202);
    expect(api.temporal.signals).toEqual([{ workflowId: 'conversation:nairobi:ref-nbo-1', name: 'handover', args: [{ minutes: 45 }] }]);
    expect((await post('/api/admin/conversations/nairobi/ref-nbo-1/handover', { resume: true }, NAIROBI_TOKEN)).status).toBe(202);
    expect(api.temporal.signals[1]?.args).toEqual([{ resume: true }]);
  });

  it('404 without a conversation, 403 for another shop, 400 for bad input', async () => {
    api.temporal.on.signal = async (call) => {
      throw new WorkflowNotFoundError('not found', call.workflowId, undefined);
    };
    expect((await post('/api/admin/conversations/nairobi/ref-none/handover', {})).status).toBe(404);
    expect((await post('/api/admin/conversations/nairobi/ref-nbo-1/handover', {}, HARARE_TOKEN)).status).toBe(403);
    for (const body of [{ minutes: 0 }, { minutes: 'ten' }, { minutes: 5, resume: true }]) {
      expect((await post('/api/admin/conversations/nairobi/ref-nbo-1/handover', body)).status).toBe(400);
    }
  });
});
