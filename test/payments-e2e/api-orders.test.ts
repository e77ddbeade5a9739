import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NAIROBI } from '../helpers/duka.ts';
import { Customer, admin, orderRow, eventually, startWorld, type World } from './support.ts';

/**
 * `POST /api/orders` is one durable step: the request's key claims the order number first, then one update-with-start
 * carries the whole order. The shop system's retries, even at the same instant, make one order and one message.
 */
describe('POST /api/orders, exactly once', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('api_orders');
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('two identical requests racing with one Idempotency-Key create one order, and the customer hears of it once', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000031', 'Wanjiru');
    const request = { shopId: 'nairobi', customer: { phone: '0711 000 031', name: 'Wanjiru' }, items: [{ productId: 'nairobi-coffee', quantity: 1 }, { productId: 'nairobi-honey', quantity: 2 }] };
    const [a, b] = await Promise.all([0, 1].map(() => admin(w.duka, 'POST', '/api/orders', request, { 'idempotency-key': 'pos-race-1' })));
    expect([a!.status, b!.status]).toEqual([201, 201]);
    expect(a!.body.orderNumber).toBe(b!.body.orderNumber);
    const orderNumber = a!.body.orderNumber as string;
    expect(a!.body).toMatchObject({ status: 'CHECKOUT', total: 310000, items: [{ quantity: 1 }, { quantity: 2 }] });

    const [summary, methods] = await c.next(2);
    expect(summary!.text).toContain(orderNumber);
    expect(methods!.ids).toContain('pay:mpesa');
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'CHECKOUT', 'row')).total).toBe(310000);
    const rows = await w.duka.orm.em.fork().getConnection().execute<{ n: number }[]>(
      "select count(*)::int as n from orders o join customer c on c.id = o.customer_id where c.ref = ? and o.source = 'api'",
      [w.duka.customerRef(c.waId)],
    );
    expect(rows[0]!.n).toBe(1);
    // A third try later answers the same order without telling the customer again.
    const again = await admin(w.duka, 'POST', '/api/orders', request, { 'idempotency-key': 'pos-race-1' });
    expect(again.body.orderNumber).toBe(orderNumber);
    const third = await admin(w.duka, 'POST', '/api/orders', { ...request, items: [{ productId: 'nairobi-soap', quantity: 1 }] }, { 'idempotency-key': 'pos-race-2' });
    expect(third.body.orderNumber).not.toBe(orderNumber);
    // The third order's two messages arrive after the first order's: had a retry told the customer again, it would be
    // among these four.
    await c.next(2);
    expect(w.duka.graph.sent.filter((m) => m.to === c.waId)).toHaveLength(4);
  });

  it('refuses an unknown product with 422 and starts nothing', async () => {
    const res = await admin(w.duka, 'POST', '/api/orders', { shopId: 'nairobi', customer: { phone: '0711 000 032' }, items: [{ retailerId: 'NO-SUCH', quantity: 1 }] }, { 'idempotency-key': 'pos-bad-1' });
    expect(res.status).toBe(422);
  });
});
