import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NAIROBI } from '../helpers/duka.ts';
import { price } from '../../domain/i18n.ts';
import { Customer, admin, eventually, orderOf, startWorld, waitForPush, type World } from './support.ts';

/**
 * Seed 001's promotions, end to end: an operator starts one through the admin API, the customer finds it under
 * "View promotions", and its discount is a line of its own in the cart, the order summary, the M-Pesa receipt and the
 * read model, and comes off the total the customer is charged.
 */
describe('a promotion, Nairobi', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('promotions');
  });
  afterAll(async () => {
    await w?.stop();
  });

  const kes = (amount: number) => price(amount, 'KES');

  it('appears under "View promotions" and discounts the total: cart, summary, receipt and read model each show its line', async () => {
    const created = await admin(w.duka, 'POST', '/api/admin/shops/nairobi/promotions', { title: 'Coffee week', description: 'Kenyan AA for less', percentOff: 10, productIds: ['nairobi-coffee'] });
    expect(created.status).toBe(201);

    const c = new Customer(w.duka, NAIROBI, '254711000801', 'Akinyi');
    const [menu] = await c.say('hi');
    expect(menu!.ids).toEqual(['menu:shop', 'menu:cart', 'menu:promos', 'menu:help']);
    const [promos] = await c.pick('menu:promos', 'View promotions');
    expect(promos!.text).toContain('Coffee week');
    expect(promos!.text).toContain('10% off');
    expect(promos!.text).toContain('Kenyan AA for less');

    // Two coffees (KES 3,000) and a soap the promotion does not cover (KES 600).
    const [askCoffee] = await c.tap('add:nairobi-coffee');
    expect(askCoffee!.text).toMatch(/How many \*Premium Coffee\*/);
    await c.say('2', 2);
    await c.tap('add:nairobi-soap');
    const [, cart] = await c.say('1', 2);
    expect(cart!.text).toContain(`2 × Premium Coffee — ${kes(300000)}`);
    expect(cart!.text).toContain(`1 × Handmade Soap — ${kes(60000)}`);
    expect(cart!.text).toContain(`🏷️ Coffee week: −${kes(30000)}`);
    expect(cart!.text).toContain(`Subtotal: *${kes(330000)}*`);

    await c.tap('cart:checkout');
    const [summary] = await c.tap('ful:pickup');
    const orderNumber = /[A-Z]{3}-\d+/.exec(summary!.text)![0];
    expect(summary!.text).toContain(`Subtotal: ${kes(360000)}`);
    expect(summary!.text).toContain(`🏷️ Coffee week: −${kes(30000)}`);
    expect(summary!.text).toContain(`Total: ${kes(330000)}`);

    await c.tap('order:confirm');
    const [prompt] = await c.tap('pay:mpesa');
    expect(prompt!.text).toContain(`approve the M-Pesa payment of ${kes(330000)}`);
    const push = await waitForPush(w.providers, c.waId);
    expect(push.amount).toBe(3300);
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKPROMO001' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain(`🏷️ Coffee week: −${kes(30000)}`);
    expect(receipt!.text).toContain(`Total: ${kes(330000)}`);

    const promotionId = created.body.id as string;
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', subtotal: 360000, discount: 30000, total: 330000, discounts: [{ promotionId, title: 'Coffee week', amount: 30000 }] });
    const detail = await eventually(() => admin(w.duka, 'GET', `/api/admin/orders/${orderNumber}`), (r) => r.body.status === 'PAID', 'read model PAID');
    expect(detail.body).toMatchObject({ subtotal: 360000, discount: 30000, total: 330000, paid: 330000, discounts: [{ promotionId, title: 'Coffee week', amount: 30000 }] });

    // The customer's spend is what they paid, after the discount.
    const customers = await admin(w.duka, 'GET', '/api/admin/customers?shop=nairobi');
    const mine = (customers.body.customers as { customerRef: string; spent: unknown; orders: number }[]).find((x) => x.customerRef === w.duka.customerRef(c.waId));
    expect(mine).toMatchObject({ orders: 1, spent: [{ currency: 'KES', amount: 330000 }] });
  });
});
