import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { ADMIN_TOKEN, CATALOGS } from '../payments-e2e/support.ts';

/**
 * Seed 002: the customer hears of every status an operator sets, in their language, on the real order workflow
 * (signed webhooks to a placed order, then the admin API), and by the approved template once the 24-hour window has closed.
 */
describe('status updates to the customer', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'status_updates' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const COFFEE = [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }];

  async function operator(orderNumber: string, action: 'status' | 'cancel', body: Record<string, unknown>, idempotencyKey?: string): Promise<number> {
    const res = await fetch(`${duka.baseUrl}/api/admin/orders/${orderNumber}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
      body: JSON.stringify(body),
    });
    await res.body?.cancel();
    return res.status;
  }

  /** Catalog cart → checkout → delivery (with an address) or pickup → cash: the order is CONFIRMED. */
  async function placedCashOrder(c: Customer, fulfilment: 'delivery' | 'pickup'): Promise<string> {
    await c.sendCart(CATALOGS.nairobi, COFFEE);
    await c.tap('cart:checkout');
    const [summary] = fulfilment === 'pickup' ? await c.tap('ful:pickup') : (await c.tap('ful:delivery'), await c.say('Kenyatta Avenue 12, Nairobi CBD'));
    const orderNumber = /NBO-\d+/.exec(summary!.text)?.[0];
    if (!orderNumber) throw new Error(`no order number in ${summary!.text}`);
    await c.tap('order:confirm');
    const [confirmed] = await c.tap('pay:cash');
    expect(confirmed!.text).toContain(orderNumber);
    return orderNumber;
  }

  /** The operator sets `status`; the customer's next message is returned. */
  async function advance(c: Customer, orderNumber: string, status: string): Promise<string> {
    expect(await operator(orderNumber, 'status', { status })).toBe(200);
    const [told] = await c.next();
    return told!.text;
  }

  it('tells an English customer of PREPARING, OUT_FOR_DELIVERY and COMPLETED on a delivery order', async () => {
    const c = new Customer(duka, NAIROBI, '254712346001', 'Achieng');
    await c.say('hi');
    const orderNumber = await placedCashOrder(c, 'delivery');
    expect(await advance(c, orderNumber, 'PREPARING')).toBe(`Order ${orderNumber}: we are preparing your order 👩‍🍳`);
    expect(await advance(c, orderNumber, 'OUT_FOR_DELIVERY')).toBe(`Order ${orderNumber}: your order is on its way 🛵`);
    expect(await advance(c, orderNumber, 'COMPLETED')).toBe(`Order ${orderNumber}: completed. Thank you! 🙏`);
  });

  it('tells a Swahili customer of PREPARING, READY_FOR_PICKUP and COMPLETED on a pickup order, in Swahili', async () => {
    const c = new Customer(duka, NAIROBI, '254712346002', 'Baraka');
    const [menu] = await c.say('Habari');
    expect(menu!.text).toContain('Karibu');
    const orderNumber = await placedCashOrder(c, 'pickup');
    expect(await advance(c, orderNumber, 'PREPARING')).toBe(`Oda ${orderNumber}: tunaandaa oda yako 👩‍🍳`);
    expect(await advance(c, orderNumber, 'READY_FOR_PICKUP')).toBe(`Oda ${orderNumber}: oda yako iko tayari kuchukuliwa 🛍`);
    expect(await advance(c, orderNumber, 'COMPLETED')).toBe(`Oda ${orderNumber}: imekamilika. Asante! 🙏`);
  });

  // Two guards keep this to one message: the Idempotency-Key as update id, and a status already set is answered, not re-run.
  it('tells the customer once when an operator\'s request is retried', async () => {
    const c = new Customer(duka, NAIROBI, '254712346005');
    await c.say('hi');
    const orderNumber = await placedCashOrder(c, 'pickup');
    expect(await operator(orderNumber, 'status', { status: 'PREPARING' }, `prep-${orderNumber}`)).toBe(200);
    expect(await operator(orderNumber, 'status', { status: 'PREPARING' }, `prep-${orderNumber}`)).toBe(200);
    expect(await operator(orderNumber, 'status', { status: 'READY_FOR_PICKUP' })).toBe(200);
    // Everything the customer got after the confirmation, once the last status has arrived: no second "preparing".
    const told = await c.next(2);
    expect(told.map((m) => m.text)).toEqual([`Order ${orderNumber}: we are preparing your order 👩‍🍳`, `Order ${orderNumber}: your order is ready for pickup 🛍`]);
  });

  it('tells the customer when the shop cancels the order', async () => {
    const c = new Customer(duka, NAIROBI, '254712346003');
    await c.say('hi');
    const orderNumber = await placedCashOrder(c, 'pickup');
    expect(await operator(orderNumber, 'cancel', { reason: 'out of stock' })).toBe(200);
    const [told] = await c.next();
    expect(told!.text).toBe(`Order ${orderNumber} has been cancelled.`);
  });

  it('uses the order_update template in the customer\'s language once the 24-hour window has closed, for every status and a cancel', async () => {
    const c = new Customer(duka, NAIROBI, '254712346004');
    await c.say('Habari');
    const orderNumber = await placedCashOrder(c, 'delivery');
    // The customer last wrote 25 hours ago: the window opens with their last inbound message.
    const ref = duka.customerRef(c.waId);
    const conn = duka.orm.em.fork().getConnection();
    await conn.execute(`update message set created_at = now() - interval '25 hours' where customer_ref = ? and direction = 'in'`, [ref]);
    await conn.execute(`update customer set last_message_at = now() - interval '25 hours' where ref = ?`, [ref]);

    const template = async (status: string) => {
      expect(await operator(orderNumber, 'status', { status })).toBe(200);
      const [told] = await c.next();
      return told!.raw.body;
    };
    const expected = (text: string) => ({
      type: 'template',
      template: { name: 'order_update', language: { code: 'sw' }, components: [{ type: 'body', parameters: [{ type: 'text', text: orderNumber }, { type: 'text', text }] }] },
    });
    expect(await template('PREPARING')).toMatchObject(expected('tunaandaa oda yako 👩‍🍳'));
    expect(await template('OUT_FOR_DELIVERY')).toMatchObject(expected('oda yako iko njiani 🛵'));
    expect(await operator(orderNumber, 'cancel', { reason: 'rider had an accident' })).toBe(200);
    const [cancelled] = await c.next();
    expect(cancelled!.raw.body).toMatchObject(expected('imeghairiwa.'));
  });
});
