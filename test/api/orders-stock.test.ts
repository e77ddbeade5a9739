import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { eventually } from '../payments-e2e/support.ts';

/**
 * `POST /api/orders` against stock, on the real worker, Temporal and PostgreSQL: the order holds its units when it is
 * created (the same reservation the chat's checkout makes, activities/stock.ts), so a sold-out product, more units
 * than are left, or the loser of a race for the last unit is refused there and then, not at the customer's payment tap.
 */
describe('POST /api/orders and stock', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'api_orders_stock' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const post = async (body: unknown, key: string) => {
    const res = await fetch(`${duka.baseUrl}/api/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${duka.config.adminToken}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const order = (phone: string, productId: string, quantity: number) => ({ shopId: 'nairobi', customer: { phone }, items: [{ productId, quantity }], fulfilment: { type: 'pickup' } });
  const rows = async <T>(query: string, params: unknown[]) => duka.orm.em.fork().getConnection().execute<T[]>(query, params);
  const stockOf = async (productId: string) => (await rows<{ stock: number | null; stock_reserved: number }>('select stock, stock_reserved from product where id = ?', [productId]))[0]!;
  /** Orders of this customer that anyone can see in the lists, with what they hold. */
  const ordersOf = async (waId: string) =>
    rows<{ order_number: string; status: string }>('select o.number as order_number, o.status from orders o join customer c on c.id = o.customer_id where c.wa_id = ? order by o.number', [waId]);
  const messagesTo = (waId: string) => duka.graph.sent.filter((m) => m.to === waId);
  let seq = 0;
  const newProduct = async (stock: number) => {
    seq += 1;
    const res = await fetch(`${duka.baseUrl}/api/admin/shops/nairobi/products`, {
      method: 'POST',
      headers: { authorization: `Bearer ${duka.config.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ retailerId: `NBO-STOCK-${seq}`, name: `Stock Jar ${seq}`, price: 25000, categoryId: 'nairobi-pantry', stock }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string; name: string });
  };

  it('refuses a sold-out product with 422 naming it, and nothing is held or sent', async () => {
    const jar = await newProduct(0);
    const res = await post(order('0711 200 001', jar.id, 1), 'stock-sold-out');
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ error: { code: 'out_of_stock', message: `${jar.name} is sold out (0 left)` } });
    expect(await stockOf(jar.id)).toEqual({ stock: 0, stock_reserved: 0 });
    expect((await ordersOf('254711200001')).filter((o) => o.status !== 'CANCELLED')).toEqual([]);
    expect(messagesTo('254711200001')).toEqual([]);
  });

  it('refuses more units than are left with 422 naming the product and what is left', async () => {
    const jar = await newProduct(2);
    const res = await post(order('0711 200 002', jar.id, 3), 'stock-too-many');
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ error: { code: 'out_of_stock', message: `only 2 ${jar.name} left (3 asked)` } });
    expect(await stockOf(jar.id)).toEqual({ stock: 2, stock_reserved: 0 });
    expect((await ordersOf('254711200002')).filter((o) => o.status !== 'CANCELLED')).toEqual([]);
    expect(messagesTo('254711200002')).toEqual([]);
  });

  it('two orders racing for the last unit: one 201 holding it, one 422', async () => {
    const jar = await newProduct(1);
    const answers = await Promise.all([post(order('0711 200 003', jar.id, 1), 'stock-race-a'), post(order('0711 200 004', jar.id, 1), 'stock-race-b')]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 422]);
    const refused = answers.find((a) => a.status === 422)!;
    expect(refused.body).toEqual({ error: { code: 'out_of_stock', message: `${jar.name} is sold out (0 left)` } });
    const won = answers.find((a) => a.status === 201)!;
    expect(won.body).toMatchObject({ status: 'CHECKOUT', items: [{ productId: jar.id, quantity: 1 }] });
    expect(await stockOf(jar.id)).toEqual({ stock: 1, stock_reserved: 1 });
    const held = await rows<{ order_number: string; quantity: number; state: string }>('select order_number, quantity, state from stock_reservation where product_id = ?', [jar.id]);
    expect(held).toEqual([{ order_number: won.body.orderNumber, quantity: 1, state: 'reserved' }]);
  });

  it('an order that fits is 201, holds its units, and the customer is offered payment', async () => {
    const jar = await newProduct(5);
    const c = new Customer(duka, NAIROBI, '254711200005');
    const res = await post(order('0711 200 005', jar.id, 3), 'stock-fits');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'CHECKOUT', total: 75000, items: [{ productId: jar.id, quantity: 3 }] });
    expect(await stockOf(jar.id)).toEqual({ stock: 5, stock_reserved: 3 });
    // The same request again answers the same order and holds nothing more.
    const again = await post(order('0711 200 005', jar.id, 3), 'stock-fits');
    expect(again.body.orderNumber).toBe(res.body.orderNumber);
    expect(await stockOf(jar.id)).toEqual({ stock: 5, stock_reserved: 3 });

    // The customer pays cash at pickup: the order is placed with the units it holds (its own hold is not counted as
    // sold), and they are taken from the shelf.
    const [summary, methods] = await c.next(2);
    expect(summary!.text).toContain(res.body.orderNumber);
    expect(methods!.ids).toContain('pay:cash');
    const [confirmed] = await c.tap('pay:cash');
    expect(confirmed!.text).toContain(`Order *${res.body.orderNumber}* confirmed`);
    await eventually(() => stockOf(jar.id), (s) => s.stock === 2 && s.stock_reserved === 0, 'the units taken');
  });

  it('the OpenAPI document names the refusal', async () => {
    const doc = (await (await fetch(`${duka.baseUrl}/api/openapi.json`)).json()) as { paths: Record<string, { post: { responses: Record<string, { description: string }> } }> };
    const responses = doc.paths['/api/orders']!.post.responses;
    expect(Object.keys(responses)).toEqual(expect.arrayContaining(['201', '422']));
    expect(responses['422']!.description).toMatch(/out_of_stock.*names it and what is left/);
  });
});
