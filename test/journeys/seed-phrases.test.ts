import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, HARARE, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { orderOf } from '../payments-e2e/support.ts';
import { Order } from '../../db/entities.ts';

const NOT_UNDERSTOOD = /didn't get that|sijaelewa/;

/**
 * Issue 11: what the seeds' customers type, word for word, sent as signed WhatsApp webhooks to duka on the real
 * Temporal server and PostgreSQL; every reply is what the fake Graph API received.
 */
describe('seed phrases, word for word, from signed webhooks', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'seed-phrases' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('greets on "hi", "hello", "Hi" and "menu" (seeds 000, 001) and shows the products on "Show me your menu", "show menu" and the menu buttons typed (seeds 000, 001, 002)', async () => {
    const c = new Customer(duka, NAIROBI, '254712110001', 'Amina');
    for (const phrase of ['hi', 'hello', 'Hi', 'menu']) {
      const [menu] = await c.say(phrase);
      expect([phrase, menu!.ids]).toEqual([phrase, ['menu:shop', 'menu:cart', 'menu:help']]);
    }
    for (const phrase of ['Show me your menu', 'show menu', 'Show me the menu', 'View Products', 'Shop Products', 'Add More', 'shwo menu']) {
      const [categories] = await c.say(phrase);
      expect([phrase, categories!.ids]).toEqual([phrase, expect.arrayContaining(['cat:nairobi-pantry', 'cat:nairobi-pizza'])]);
    }
    const [help] = await c.say('Help');
    expect(help!.text).toContain('*menu*');
  });

  it('starts paying a booking on "pay", "payment", "make payment", "omari payment" and "Mobile Payment", and stops on "cancel", "stop", "quit", "abort" (seed 003)', async () => {
    const c = new Customer(duka, HARARE, '263772110002');
    const triggers = ['pay', 'payment', 'make payment', 'omari payment', 'Mobile Payment', 'Make Payment.', 'paymnet'];
    const stops = ['cancel', 'stop', 'quit', 'abort', 'cancel', 'stop', 'quit'];
    for (const [i, trigger] of triggers.entries()) {
      const [ask] = await c.say(trigger);
      expect([trigger, ask!.text]).toEqual([trigger, expect.stringMatching(/booking reference/)]);
      const [stopped] = await c.say(stops[i]!);
      expect([stops[i], stopped!.text]).toEqual([stops[i], expect.stringMatching(/stopped/)]);
    }
  });

  it('understands the same in Swahili', async () => {
    const c = new Customer(duka, HARARE, '263772110003');
    const [menu] = await c.say('habari');
    expect(menu!.text).toMatch(/Karibu/);
    const [categories] = await c.say('nionyeshe menyu');
    expect(categories!.ids).toEqual(expect.arrayContaining(['cat:harare-groceries']));
    const [ask] = await c.say('malipo');
    expect(ask!.text).toMatch(/namba ya booking/);
    const [stopped] = await c.say('ghairi');
    expect(stopped!.text).not.toMatch(NOT_UNDERSTOOD);
    const [empty] = await c.say('kikapu changu');
    expect(empty!.text).toMatch(/tupu/);
  });

  it('walks a cart by typed button titles: "Show my cart", "Checkout", "Delivery", "skip" twice (the shop will call), then an honest "Clear Cart" once placed', async () => {
    const c = new Customer(duka, NAIROBI, '254712110004');
    await c.sendCart('900000000000001', [{ retailerId: 'NBO-COFFEE-500', quantity: 2 }]);
    const [cart] = await c.say('Show my cart');
    expect(cart!.text).toContain('2 × Premium Coffee');
    const [how] = await c.say('Checkout');
    expect(how!.ids).toEqual(['ful:delivery', 'ful:pickup', 'order:cancel']);
    const [askAddress] = await c.say('Delivery');
    expect(askAddress!.text).toMatch(/reply \*skip\*/);
    const [again] = await c.say('skip');
    expect(again!.text).toMatch(/We need an address/);
    const [willCall, summary] = await c.say('skip', 2);
    expect(willCall!.text).toMatch(/the shop will call you/);
    expect(summary!.text).toContain('Delivery to: the shop will call you for the address');
    const orderNumber = /NBO-\d+/.exec(summary!.text)![0];
    const order = await orderOf(duka, orderNumber);
    expect(order.fulfilment).toBe('delivery');
    expect(order.address).toMatchObject({ byPhone: true });
    expect(order.timeline.map((e) => e.type)).toContain('address_by_phone');

    const [methods] = await c.tap('order:confirm');
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);
    expect(methods!.text).toMatch(/another number/);
    const [confirmed] = await c.tap('pay:cash');
    expect(confirmed!.text).toContain('confirmed');
    const [clear] = await c.say('Clear Cart');
    expect(clear!.text).toBe(`Order ${orderNumber} is already placed, so its items can't change now. Type *cancel* to cancel it, or *menu* to start a new order.`);
    const [clearButton] = await c.tap('cart:clear');
    expect(clearButton!.text).toMatch(/already placed/);
    expect((await orderOf(duka, orderNumber)).items).toHaveLength(1);
    const row = await duka.orm.em.fork().findOneOrFail(Order, { number: orderNumber });
    expect(row.address).toMatchObject({ byPhone: true });
  });

  it('asks for the address once more on "skip" and takes the address typed then', async () => {
    const c = new Customer(duka, NAIROBI, '254712110005');
    await c.sendCart('900000000000001', [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }]);
    await c.tap('cart:checkout');
    await c.tap('ful:delivery');
    const [again] = await c.say('Skip');
    expect(again!.text).toMatch(/We need an address/);
    const [summary] = await c.say('Shop 4, Moi Avenue, Nairobi');
    expect(summary!.text).toContain('Delivery to: Shop 4, Moi Avenue, Nairobi');
  });

  it('says "not found" for an unknown product, and why a checkout was refused', async () => {
    const c = new Customer(duka, NAIROBI, '254712110006');
    const [notFound, categories] = await c.pick('prod:nairobi-no-such-thing', 'Gone', 2);
    expect(notFound!.text).toBe('Sorry, product not found.');
    expect(categories!.ids).toEqual(expect.arrayContaining(['cat:nairobi-pantry']));
    const [notFound2] = await c.tap('add:nairobi-no-such-thing', 'Add', 2);
    expect(notFound2!.text).toBe('Sorry, product not found.');

    const [empty] = await c.say('clear cart');
    expect(empty!.text).toBe('Your cart is already empty.');

    await c.sendCart('900000000000001', [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }]);
    await c.tap('cart:checkout');
    const [summary] = await c.tap('ful:pickup');
    const orderNumber = /NBO-\d+/.exec(summary!.text)![0];
    // A method this shop does not offer (an old button, a forged reply): the order refuses and the customer is told why.
    const [gone, methods] = await c.tap('pay:razorpay_link', 'Pay online', 2);
    expect(gone!.text).toMatch(/Pay online \(UPI\/card\) is not available at this shop/);
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);
    // A method typed as its button reads.
    const [confirmed] = await c.say('Pay at pickup');
    expect(confirmed!.text).toContain(`Order *${orderNumber}* confirmed`);
    // The payment button again once the order is confirmed.
    const [placed] = await c.tap('pay:mpesa');
    expect(placed!.text).toMatch(new RegExp(`Order ${orderNumber} is already placed`));
    expect((await orderOf(duka, orderNumber)).status).toBe('CONFIRMED');
  });
});
