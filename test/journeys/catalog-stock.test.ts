import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer, type Seen } from '../helpers/chat.ts';
import { orderQuery, type OrderView } from '../../workflows/definitions.ts';

/**
 * The back office and the chat together, on real Temporal and PostgreSQL: a change made through the admin API is what
 * the next customer message shows, also in an open conversation; an order re-prices its cart when it is placed; and a
 * product with one unit left is sold once, whoever asks second is told.
 */
describe('catalog changes and stock, seen by customers', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'catalog_stock' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${duka.baseUrl}/api/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${duka.config.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return text ? (JSON.parse(text) as Record<string, any>) : {}; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const listed = (s: Seen) => JSON.stringify(s.raw.body);
  const orderOf = (orderNumber: string): Promise<OrderView> => duka.client.workflow.getHandle(`order:${orderNumber}`).query(orderQuery);
  const stockOf = async (productId: string) =>
    (await duka.orm.em.getConnection().execute<{ stock: number | null; stock_reserved: number }[]>('select stock, stock_reserved from product where id = ?', [productId]))[0]!;

  async function toCheckout(c: Customer, productId: string): Promise<void> {
    await c.tap(`add:${productId}`);
    await c.say('1', 2);
    await c.tap('cart:checkout');
    const [summary] = await c.tap('ful:pickup');
    expect(summary!.ids).toContain('order:confirm');
    const [methods] = await c.tap('order:confirm');
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);
  }

  it('shows a price change and a new product in an open conversation at the next message, and re-prices the cart when it is placed', async () => {
    const c = new Customer(duka, NAIROBI, '254712399101', 'Akinyi');
    await c.say('hi');
    await c.tap('menu:shop');
    const [before] = await c.pick('cat:nairobi-pantry');
    expect(listed(before!)).toContain('KES 800');

    await admin('PATCH', '/shops/nairobi/products/nairobi-honey', { price: 95000 });
    const jam = await admin('POST', '/shops/nairobi/products', { retailerId: 'NBO-JAM-1', name: 'Mango Jam', price: 30000, categoryId: 'nairobi-pantry', stock: 10 });
    const [after] = await c.pick('cat:nairobi-pantry');
    expect(listed(after!)).toContain('KES 950');
    expect(after!.ids).toContain(`prod:${jam.id}`);
    const [card] = await c.pick('prod:nairobi-honey');
    expect(card!.text).toContain('KES 950');

    // In the cart at 950; the shop raises it again before the customer pays.
    await toCheckout(c, 'nairobi-honey');
    await admin('PATCH', '/shops/nairobi/products/nairobi-honey', { price: 99000 });
    const [changed, summary] = await c.tap('pay:cash', 'Cash', 2);
    expect(changed!.text).toContain('new total is *KES 990*');
    expect(summary!.ids).toEqual(['order:confirm', 'order:edit', 'order:cancel']);
    const orderNumber = /NBO-\d+/.exec(JSON.stringify(duka.graph.sent.filter((s) => s.to === c.waId).map((s) => s.body)))?.[0];
    await c.tap('order:confirm');
    const [confirmed] = await c.tap('pay:cash');
    expect(confirmed!.text).toContain('confirmed');
    const number = /NBO-\d+/.exec(confirmed!.text)?.[0] ?? orderNumber!;
    const order = await orderOf(number);
    expect(order.status).toBe('CONFIRMED');
    expect(order.items.map((l) => [l.name, l.unitPrice])).toEqual([['Organic Honey', 99000]]);
    expect(order.total).toBe(99000);
  });

  it('sells the last unit once: of two customers placing at the same time one is confirmed, the other told; a cancel gives it back', async () => {
    const last = await admin('POST', '/shops/nairobi/products', { retailerId: 'NBO-LAST-1', name: 'Last Loaf', price: 25000, categoryId: 'nairobi-pantry', stock: 1 });
    const a = new Customer(duka, NAIROBI, '254712399002', 'Baraka');
    const b = new Customer(duka, NAIROBI, '254712399003', 'Chebet');
    await Promise.all([a.say('hi'), b.say('hi')]);
    await Promise.all([toCheckout(a, last.id), toCheckout(b, last.id)]);

    const [seenA, seenB] = await Promise.all([a.tap('pay:cash'), b.tap('pay:cash')]);
    const texts = [seenA![0]!.text, seenB![0]!.text];
    const winner = texts.findIndex((t) => t.includes('confirmed'));
    expect(winner).toBeGreaterThanOrEqual(0);
    const loserText = texts[1 - winner]!;
    expect(loserText).toContain('Sorry, Last Loaf is sold out.');
    expect(loserText).toContain('not placed');
    expect(await stockOf(last.id)).toEqual({ stock: 0, stock_reserved: 0 });
    const [winnerCustomer, loser] = winner === 0 ? [a, b] : [b, a];

    // Sold out: it leaves the list another customer sees.
    const [list] = await new Customer(duka, NAIROBI, '254712399004').pick('cat:nairobi-pantry');
    expect(list!.ids).not.toContain(`prod:${last.id}`);

    // The shop cancels the confirmed order: the unit is back on the shelf, and the customer who was refused gets it.
    const winnerNumber = /NBO-\d+/.exec(texts[winner]!)![0];
    await admin('POST', `/orders/${winnerNumber}/cancel`, { reason: 'customer changed their mind' });
    await winnerCustomer.next(1);
    expect(await stockOf(last.id)).toEqual({ stock: 1, stock_reserved: 0 });
    await loser.tap('order:confirm');
    const [confirmed] = await loser.tap('pay:cash');
    expect(confirmed!.text).toContain('confirmed');
    expect(await stockOf(last.id)).toEqual({ stock: 0, stock_reserved: 0 });
  });
});
