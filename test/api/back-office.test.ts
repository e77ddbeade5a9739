import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_TOKEN, bearer, errorCode, json, sql, startApi, type ApiHarness } from './support.ts';
import { createPaymentActivities } from '../../activities/payments.ts';
import { createPromotionActivities } from '../../activities/promotions.ts';
import { createCatalogActivities } from '../../activities/catalog.ts';
import type { ActivityDeps } from '../../activities/deps.ts';

/** Back office, part 4 (issue 9): customers with their spend, bookings with balance and payment status, promotions. */
let api: ApiHarness;
const NAIROBI_TOKEN = 'shop-token-nairobi-back-office-01';
const HARARE_TOKEN = 'shop-token-harare-back-office-01';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

const call = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { ...bearer(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

beforeAll(async () => {
  api = await startApi();
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [sha(NAIROBI_TOKEN), 'nairobi']);
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [sha(HARARE_TOKEN), 'harare']);
});
afterAll(async () => {
  await api?.close();
});

describe('GET /api/admin/customers', () => {
  const customers: Record<string, string> = {};
  beforeAll(async () => {
    const add = async (shopId: string, ref: string, waId: string, name: string, createdAt: string) => {
      const id = randomUUID();
      await sql(api.db.orm, 'insert into customer (id, shop_id, wa_id, ref, name, created_at) values (?, ?, ?, ?, ?, ?)', [id, shopId, waId, ref, name, createdAt]);
      customers[ref] = id;
    };
    await add('nairobi', 'cust-amina', '254712000101', 'Amina', '2026-02-01T10:00:00Z');
    await add('nairobi', 'cust-otieno', '254712000102', 'Otieno', '2026-02-02T10:00:00Z');
    await add('harare', 'cust-tendai', '263772000101', 'Tendai', '2026-02-03T10:00:00Z');
    const order = async (number: string, shopId: string, ref: string, status: string, total: number, paid: number, currency: string, createdAt: string) =>
      sql(
        api.db.orm,
        'insert into orders (id, number, shop_id, customer_id, status, payment_status, currency, workflow_id, subtotal, total, paid_amount, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [randomUUID(), number, shopId, customers[ref], status, paid > 0 ? 'SUCCEEDED' : 'NONE', currency, `order:${number}`, total, total, paid, createdAt, createdAt],
      );
    // Amina: two paid orders (one partly refunded: paid_amount is what is left), one cash order not yet paid, one cart.
    await order('BO-1001', 'nairobi', 'cust-amina', 'COMPLETED', 150000, 150000, 'KES', '2026-02-05T10:00:00Z');
    await order('BO-1002', 'nairobi', 'cust-amina', 'PAID', 80000, 30000, 'KES', '2026-02-06T10:00:00Z');
    await order('BO-1003', 'nairobi', 'cust-amina', 'CONFIRMED', 60000, 0, 'KES', '2026-02-07T10:00:00Z');
    await order('BO-1004', 'nairobi', 'cust-amina', 'CART', 90000, 0, 'KES', '2026-02-08T10:00:00Z');
    await order('BO-1005', 'harare', 'cust-tendai', 'PREPARING', 799, 799, 'USD', '2026-02-09T10:00:00Z');
  });

  it('lists each customer with order count, spend per currency and last order; phone numbers only for ADMIN_TOKEN', async () => {
    const res = await call('GET', '/api/admin/customers?shop=nairobi');
    expect(res.status).toBe(200);
    const body = (await json(res)) as { customers: Record<string, unknown>[]; nextCursor: string | null };
    expect(body.customers.map((c) => c.customerRef)).toEqual(['cust-otieno', 'cust-amina']);
    const amina = body.customers[1]!;
    expect(amina).toMatchObject({
      name: 'Amina',
      shopId: 'nairobi',
      phone: '+254712000101',
      orders: 3,
      spent: [{ currency: 'KES', amount: 180000 }],
      lastOrder: { orderNumber: 'BO-1003', status: 'CONFIRMED', total: 60000, currency: 'KES', createdAt: '2026-02-07T10:00:00.000Z' },
    });
    expect(body.customers[0]).toMatchObject({ customerRef: 'cust-otieno', orders: 0, spent: [], lastOrder: null });

    const asShop = await call('GET', '/api/admin/customers', undefined, NAIROBI_TOKEN);
    expect(asShop.status).toBe(200);
    const shopBody = (await json(asShop)) as { customers: Record<string, unknown>[] };
    expect(shopBody.customers.map((c) => c.customerRef)).toEqual(['cust-otieno', 'cust-amina']);
    expect(JSON.stringify(shopBody)).not.toContain('254712000101');
    expect(shopBody.customers.every((c) => !('phone' in c))).toBe(true);
  });

  it('admin sees every shop; a shop token asking for another shop is 403', async () => {
    const all = (await json(await call('GET', '/api/admin/customers'))) as { customers: { customerRef: string; spent: unknown }[] };
    expect(all.customers.find((c) => c.customerRef === 'cust-tendai')?.spent).toEqual([{ currency: 'USD', amount: 799 }]);
    const res = await call('GET', '/api/admin/customers?shop=harare', undefined, NAIROBI_TOKEN);
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('forbidden');
  });

  it('pages with a cursor like /api/admin/orders, and refuses a forged cursor or a bad limit with 400', async () => {
    const first = (await json(await call('GET', '/api/admin/customers?limit=2'))) as { customers: { customerRef: string }[]; nextCursor: string };
    expect(first.customers.map((c) => c.customerRef)).toEqual(['cust-tendai', 'cust-otieno']);
    const second = (await json(await call('GET', `/api/admin/customers?limit=2&cursor=${first.nextCursor}`))) as { customers: { customerRef: string }[]; nextCursor: string | null };
    expect(second.customers.map((c) => c.customerRef)).toEqual(['cust-amina']);
    expect(second.nextCursor).toBeNull();
    for (const q of ['cursor=bm9wZQ', 'limit=0', 'limit=abc', 'shop=no%20such']) {
      const res = await call('GET', `/api/admin/customers?${q}`);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
  });
});

describe('bookings', () => {
  const base = '/api/admin/shops/harare/bookings';

  it('creates a booking and answers it with balance and payment status; the seeded one is listed', async () => {
    const res = await call('POST', base, { reference: 'BK-OPS-0001', customerName: 'Rudo Moyo', total: 20000 });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ reference: 'BK-OPS-0001', customerName: 'Rudo Moyo', description: 'BK-OPS-0001', total: 20000, paid: 0, balance: 20000, paymentStatus: 'unpaid', currency: 'USD' });
    const list = (await json(await call('GET', base))) as { bookings: { reference: string; paymentStatus: string; balance: number }[] };
    expect(list.bookings.map((b) => b.reference)).toEqual(expect.arrayContaining(['BK-OPS-0001', 'BK-DEMO-0001']));
    expect(list.bookings.find((b) => b.reference === 'BK-DEMO-0001')).toMatchObject({ paymentStatus: 'unpaid', balance: 15000 });
  });

  it('PATCH corrects total and paid: partly_paid, then paid; reads back ignoring case', async () => {
    await call('POST', base, { reference: 'BK-OPS-0002', total: 10000, paid: 2500 });
    const partly = await call('PATCH', `${base}/bk-ops-0002`, { total: 12000, customerName: 'Farai' });
    expect(partly.status).toBe(200);
    expect(await json(partly)).toMatchObject({ reference: 'BK-OPS-0002', total: 12000, paid: 2500, balance: 9500, paymentStatus: 'partly_paid', customerName: 'Farai' });
    const paid = await call('PATCH', `${base}/BK-OPS-0002`, { paid: 12000 });
    expect(await json(paid)).toMatchObject({ balance: 0, paymentStatus: 'paid' });
    expect(await json(await call('GET', `${base}/Bk-Ops-0002`))).toMatchObject({ reference: 'BK-OPS-0002', paymentStatus: 'paid', payments: [] });
  });

  it('each confirmed payment credits the booking: balance and status follow', async () => {
    await call('POST', base, { reference: 'BK-OPS-0003', customerName: 'Chipo', total: 15000 });
    const [booking] = await sql<{ id: string }>(api.db.orm, "select id from booking where reference = 'BK-OPS-0003'");
    const payments = createPaymentActivities({ orm: api.db.orm, payments: { forShop: () => null }, config: api.config } as unknown as ActivityDeps);
    const pay = async (reference: string, amount: number) => {
      await sql(
        api.db.orm,
        "insert into payment (id, reference, idempotency_key, booking_id, shop_id, provider, method, status, amount, currency, data, created_at, updated_at) values (?, ?, ?, ?, 'harare', 'paynow', 'ecocash', 'pending', ?, 'USD', '{}', now(), now())",
        [randomUUID(), reference, `idem-${reference}`, booking!.id, amount],
      );
      await payments.recordPaymentResult({ reference, status: 'succeeded', transactionReference: `txn-${reference}`, failureReason: null });
    };
    await pay('bo-pay-1', 5000);
    expect(await json(await call('GET', `${base}/BK-OPS-0003`))).toMatchObject({ paid: 5000, balance: 10000, paymentStatus: 'partly_paid', payments: [{ reference: 'bo-pay-1', status: 'succeeded', amount: 5000 }] });
    await pay('bo-pay-2', 10000);
    expect(await json(await call('GET', `${base}/BK-OPS-0003`))).toMatchObject({ paid: 15000, balance: 0, paymentStatus: 'paid' });
  });

  it('refuses bad input with 400, a taken reference with 409, an unknown one with 404', async () => {
    for (const body of [
      {},
      { reference: 'BK-X', total: -1 },
      { reference: 'BK-X', total: 10.5 },
      { reference: 'no spaces', total: 100 },
      { reference: 'BK-X', total: 100, paid: 200 },
      { reference: 'BK-X', total: 100, extra: true },
    ]) {
      const res = await call('POST', base, body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
    const taken = await call('POST', base, { reference: 'bk-demo-0001', total: 100 });
    expect(taken.status).toBe(409);
    const over = await call('PATCH', `${base}/BK-OPS-0001`, { paid: 999999 });
    expect(over.status).toBe(400);
    expect((await call('PATCH', `${base}/BK-OPS-0001`, {})).status).toBe(400);
    expect((await call('GET', `${base}/BK-NOPE-1`)).status).toBe(404);
    expect((await call('GET', '/api/admin/shops/nowhere/bookings')).status).toBe(404);
  });

  it("a shop token sees and changes only its own shop's bookings", async () => {
    expect((await call('GET', base, undefined, HARARE_TOKEN)).status).toBe(200);
    expect((await call('GET', base, undefined, NAIROBI_TOKEN)).status).toBe(403);
    expect((await call('PATCH', `${base}/BK-OPS-0001`, { total: 1 }, NAIROBI_TOKEN)).status).toBe(403);
    expect((await call('POST', base, { reference: 'BK-NBO-1', total: 100 }, NAIROBI_TOKEN)).status).toBe(403);
    const own = await call('POST', '/api/admin/shops/nairobi/bookings', { reference: 'BK-NBO-1', total: 100 }, NAIROBI_TOKEN);
    expect(own.status).toBe(201);
    expect(await json(own)).toMatchObject({ currency: 'KES' });
  });

  it('audits every change by who made it, without the customer name', async () => {
    const entries = await sql<{ action: string; actor: string; shop_id: string; diff: Record<string, unknown> }>(
      api.db.orm,
      "select e.action, e.actor, e.shop_id, e.diff from audit_entry e join booking b on b.id::text = e.entity_id where e.entity = 'booking' and b.reference = 'BK-OPS-0002' order by e.at",
    );
    expect(entries.map((e) => e.action)).toEqual(['create', 'update', 'update']);
    expect(entries[1]!.diff).toMatchObject({ total: { from: 10000, to: 12000 }, customerName: { from: null, to: '[set]' } });
    expect(JSON.stringify(entries)).not.toContain('Farai');
    const [nbo] = await sql<{ actor: string }>(api.db.orm, "select e.actor from audit_entry e join booking b on b.id::text = e.entity_id where b.reference = 'BK-NBO-1'");
    expect(nbo!.actor).toMatch(/^token:/);
  });
});

describe('promotions', () => {
  const base = '/api/admin/shops/nairobi/promotions';
  const catalog = () => createCatalogActivities({ orm: api.db.orm, config: api.config } as unknown as ActivityDeps);
  const running = () => createPromotionActivities({ orm: api.db.orm } as unknown as ActivityDeps).activePromotions({ shopId: 'nairobi' });

  it('creates, lists, changes and deletes a promotion; the order side sees it while it runs', async () => {
    expect((await catalog().getShop('nairobi')).hasPromotions).toBeUndefined();
    const created = await call('POST', base, { title: 'Coffee week', description: 'Kenyan AA for less', percentOff: 10, productIds: ['nairobi-coffee'] });
    expect(created.status).toBe(201);
    const promo = (await json(created)) as { id: string };
    expect(promo).toMatchObject({ shopId: 'nairobi', title: 'Coffee week', percentOff: 10, amountOff: null, productIds: ['nairobi-coffee'], categoryIds: [], active: true, running: true, startsAt: null, endsAt: null });
    expect((await catalog().getShop('nairobi')).hasPromotions).toBe(true);
    expect(await running()).toEqual([{ id: promo.id, title: 'Coffee week', description: 'Kenyan AA for less', percentOff: 10, productIds: ['nairobi-coffee'] }]);

    const list = (await json(await call('GET', base))) as { promotions: { id: string }[] };
    expect(list.promotions.map((p) => p.id)).toEqual([promo.id]);

    // Switching to an amount clears the percentage; a category scope is resolved to its products for the order.
    const changed = await call('PATCH', `${base}/${promo.id}`, { amountOff: 20000, productIds: [], categoryIds: ['nairobi-care'] });
    expect(changed.status).toBe(200);
    expect(await json(changed)).toMatchObject({ percentOff: null, amountOff: 20000, categoryIds: ['nairobi-care'] });
    expect(await running()).toEqual([expect.objectContaining({ amountOff: 20000, productIds: ['nairobi-soap'] })]);

    const paused = await call('PATCH', `${base}/${promo.id}`, { active: false });
    expect(await json(paused)).toMatchObject({ active: false, running: false });
    expect(await running()).toEqual([]);
    expect((await catalog().getShop('nairobi')).hasPromotions).toBeUndefined();

    expect((await call('DELETE', `${base}/${promo.id}`)).status).toBe(204);
    expect((await call('DELETE', `${base}/${promo.id}`)).status).toBe(404);
    expect(((await json(await call('GET', base))) as { promotions: unknown[] }).promotions).toEqual([]);

    // Every change is in the audit log, with who made it.
    const entries = await sql<{ action: string; actor: string; diff: Record<string, unknown> }>(api.db.orm, "select action, actor, diff from audit_entry where entity = 'promotion' and entity_id = ? order by at", [promo.id]);
    expect(entries.map((e) => e.action)).toEqual(['create', 'update', 'update', 'delete']);
    expect(entries.every((e) => e.actor === 'admin')).toBe(true);
    expect(entries[1]!.diff).toMatchObject({ percentOff: { from: 10, to: null }, amountOff: { from: null, to: 20000 } });
  });

  it('runs only between its dates', async () => {
    const day = 24 * 3600_000;
    const future = (await json(await call('POST', base, { title: 'Next week', amountOff: 5000, startsAt: new Date(Date.now() + day).toISOString() }))) as { id: string; running: boolean };
    const past = (await json(await call('POST', base, { title: 'Last week', amountOff: 5000, endsAt: new Date(Date.now() - day).toISOString() }))) as { id: string; running: boolean };
    expect([future.running, past.running]).toEqual([false, false]);
    expect(await running()).toEqual([]);
    await call('PATCH', `${base}/${future.id}`, { startsAt: null, endsAt: new Date(Date.now() + day).toISOString() });
    expect((await running()).map((p) => p.id)).toEqual([future.id]);
    for (const p of [future, past]) await call('DELETE', `${base}/${p.id}`);
  });

  it('refuses bad promotions with a clear 4xx', async () => {
    const cases: [unknown, number, string][] = [
      [{ title: 'No discount' }, 400, 'invalid_request'],
      [{ title: 'Both', percentOff: 10, amountOff: 100 }, 400, 'invalid_request'],
      [{ title: 'Too much', percentOff: 101 }, 400, 'invalid_request'],
      [{ title: 'Fraction', percentOff: 12.5 }, 400, 'invalid_request'],
      [{ title: 'Nothing off', amountOff: 0 }, 400, 'invalid_request'],
      [{ title: '', percentOff: 10 }, 400, 'invalid_request'],
      [{ title: 'Bad date', percentOff: 10, startsAt: 'tomorrow' }, 400, 'invalid_request'],
      [{ title: 'Backwards', percentOff: 10, startsAt: '2026-03-02T00:00:00Z', endsAt: '2026-03-01T00:00:00Z' }, 400, 'invalid_request'],
      [{ title: 'Extra', percentOff: 10, colour: 'red' }, 400, 'invalid_request'],
      [{ title: 'Not ours', percentOff: 10, productIds: ['harare-maize'] }, 422, 'unknown_product'],
      [{ title: 'No such category', percentOff: 10, categoryIds: ['nope'] }, 422, 'unknown_category'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call('POST', base, body);
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
      expect(await errorCode(res)).toBe(code);
    }
    const bad = await fetch(`${api.url}${base}`, { method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: '{"title":' });
    expect(bad.status).toBe(400);
    expect((await call('PATCH', `${base}/not-a-uuid`, { active: false })).status).toBe(400);
    expect((await call('PATCH', `${base}/${randomUUID()}`, { active: false })).status).toBe(404);
  });

  it("a shop token manages only its own shop's promotions; another shop's promotion is not found through its path", async () => {
    const harare = (await json(await call('POST', '/api/admin/shops/harare/promotions', { title: 'Maize deal', amountOff: 100, productIds: ['harare-maize'] }, HARARE_TOKEN))) as { id: string };
    expect(harare.id).toBeDefined();
    expect((await call('GET', '/api/admin/shops/harare/promotions', undefined, NAIROBI_TOKEN)).status).toBe(403);
    expect((await call('POST', '/api/admin/shops/harare/promotions', { title: 'x', percentOff: 5 }, NAIROBI_TOKEN)).status).toBe(403);
    expect((await call('DELETE', `/api/admin/shops/harare/promotions/${harare.id}`, undefined, NAIROBI_TOKEN)).status).toBe(403);
    expect((await call('PATCH', `/api/admin/shops/nairobi/promotions/${harare.id}`, { active: false }, NAIROBI_TOKEN)).status).toBe(404);
    expect((await call('GET', '/api/admin/shops/nairobi/promotions', undefined, NAIROBI_TOKEN)).status).toBe(200);
    expect((await call('DELETE', `/api/admin/shops/harare/promotions/${harare.id}`, undefined, HARARE_TOKEN)).status).toBe(204);
  });
});

describe('bookings and promotions lists page like GET /api/admin/orders', () => {
  // Pune's own rows, made at known times: two of them in the same microsecond (the id breaks the tie).
  const times = ['2026-03-01T10:00:00Z', '2026-03-02T10:00:00Z', '2026-03-02T10:00:00Z', '2026-03-03T10:00:00Z', '2026-03-04T10:00:00Z'];
  const lists = [
    { kind: 'bookings', table: 'booking', key: 'reference', create: (i: number) => ({ reference: `PG-${i}`, total: 1000 + i }) },
    { kind: 'promotions', table: 'promotion', key: 'id', create: (i: number) => ({ title: `Page ${i}`, percentOff: 5 }) },
  ] as const;

  it.each(lists)('$kind: limit and cursor walk every row once, newest first; a forged cursor or a bad limit is 400', async ({ kind, table, key, create }) => {
    const base = `/api/admin/shops/pune/${kind}`;
    const made: { key: string; id: string; at: string }[] = [];
    for (const [i, at] of times.entries()) {
      const row = (await json(await call('POST', base, create(i)))) as Record<string, string>;
      const id = table === 'booking' ? ((await sql<{ id: string }>(api.db.orm, 'select id from booking where shop_id = ? and reference = ?', ['pune', row.reference]))[0]!.id) : row.id!;
      await sql(api.db.orm, `update ${table} set created_at = ? where id = ?`, [at, id]);
      made.push({ key: row[key]!, id, at });
    }
    const newestFirst = [...made].sort((a, b) => b.at.localeCompare(a.at) || b.id.localeCompare(a.id)).map((r) => r.key);

    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await call('GET', `${base}?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await json(res)) as Record<string, unknown> & { nextCursor: string | null };
      const rows = page[kind] as Record<string, string>[];
      seen.push(...rows.map((r) => r[key]!));
      pages.push(rows.length);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 10);
    expect(seen.filter((k) => newestFirst.includes(k))).toEqual(newestFirst);
    expect(new Set(seen).size).toBe(seen.length);
    // Five rows (and any the shop had) two at a time: at least three pages, each full but the last.
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.slice(0, -1).every((n) => n === 2)).toBe(true);

    // Without a limit: the first 50, and the same shape (the rows and nextCursor).
    const whole = (await json(await call('GET', base))) as Record<string, unknown>;
    expect(Object.keys(whole).sort()).toEqual([kind, 'nextCursor'].sort());
    for (const q of ['cursor=bm9wZQ', 'limit=0', 'limit=201', 'limit=abc']) {
      const res = await call('GET', `${base}?${q}`);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
  });
});
