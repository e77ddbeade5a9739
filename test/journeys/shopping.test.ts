import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, HARARE, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { handoverSignal, orderQuery, type OrderView } from '../../workflows/definitions.ts';
import { Order } from '../../db/entities.ts';
import { flowReply, textMessage } from '../fakes/graph-api.ts';
import { mintFlowToken } from '../../providers/whatsapp/flows.ts';

let seq = 0;
const textMessageFor = (waId: string, text: string) => textMessage(waId, text, `wamid.restart-${waId}-${(seq += 1)}`);

async function orderOf(duka: Duka, orderNumber: string): Promise<OrderView> {
  return duka.client.workflow.getHandle(`order:${orderNumber}`).query(orderQuery);
}

describe('shopping over WhatsApp, through the webhook, on real Temporal and PostgreSQL', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'shopping' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('greets, browses, adds two coffees and a customised pizza, delivers to an address and confirms cash on delivery', async () => {
    const c = new Customer(duka, NAIROBI, '254712345001', 'Wanjiru');
    const [menu] = await c.say('hi');
    expect(menu!.ids).toEqual(['menu:shop', 'menu:cart', 'menu:help']);

    const [categories] = await c.tap('menu:shop');
    expect(categories!.ids).toEqual(expect.arrayContaining(['cat:nairobi-pantry', 'cat:nairobi-pizza', 'catalog:open']));

    const [products] = await c.pick('cat:nairobi-pantry');
    expect(products!.ids).toEqual(['prod:nairobi-coffee', 'prod:nairobi-honey']);

    const [card] = await c.pick('prod:nairobi-coffee');
    expect(card!.text).toContain('Premium Coffee');
    expect(card!.text).toContain('KES 1,500');
    expect(card!.ids).toContain('add:nairobi-coffee');

    const [ask] = await c.tap('add:nairobi-coffee');
    expect(ask!.text).toMatch(/How many/);
    const [added, cart1] = await c.say('2', 2);
    expect(added!.text).toContain('Added 2 × Premium Coffee');
    expect(cart1!.text).toContain('KES 3,000');

    await c.pick('cat:nairobi-pizza');
    await c.pick('prod:nairobi-pizza-margherita');
    const [sizes] = await c.tap('add:nairobi-pizza-margherita');
    expect(sizes!.ids).toEqual(['size:nairobi-pizza-small', 'size:nairobi-pizza-medium', 'size:nairobi-pizza-large']);
    const [crust] = await c.pick('size:nairobi-pizza-large');
    expect(crust!.ids).toEqual(['opt:nairobi-pizza-crust-crust-thin', 'opt:nairobi-pizza-crust-crust-thick']);
    const [addons] = await c.tap('opt:nairobi-pizza-crust-crust-thick');
    expect(addons!.ids).toContain('opt:nairobi-pizza-addons-addon-cheese');
    const [addons2] = await c.pick('opt:nairobi-pizza-addons-addon-cheese');
    expect(addons2!.text).toContain('Extra cheese');
    const [quantity] = await c.pick('opt:done');
    // 1,500 large + 50 thick crust + 150 cheese = 1,700 each
    expect(quantity!.text).toContain('KES 1,700');
    const [, cart2] = await c.say('1', 2);
    expect(cart2!.text).toContain('KES 4,700');
    expect(cart2!.ids).toEqual(['cart:checkout', 'cart:more', 'cart:clear']);

    const [how] = await c.tap('cart:checkout');
    expect(how!.ids).toEqual(['ful:delivery', 'ful:pickup', 'order:cancel']);
    const [askAddress] = await c.tap('ful:delivery');
    expect(askAddress!.text).toMatch(/address/);
    const [tooShort] = await c.say('abc');
    expect(tooShort!.text).toMatch(/too short/);
    const [summary] = await c.say('Kenyatta Avenue 12, Nairobi CBD');
    expect(summary!.text).toContain('Delivery: KES 200');
    expect(summary!.text).toContain('Total: KES 4,900');
    expect(summary!.ids).toEqual(['order:confirm', 'order:edit', 'order:cancel']);

    const [methods] = await c.tap('order:confirm');
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);
    const [confirmed] = await c.tap('pay:cash');
    const orderNumber = /NBO-\d+/.exec(confirmed!.text)?.[0];
    expect(confirmed!.text).toContain('confirmed');
    expect(orderNumber).toBeDefined();

    const order = await orderOf(duka, orderNumber!);
    expect(order.status).toBe('CONFIRMED');
    expect(order.total).toBe(490000);
    expect(order.items.map((i) => [i.name, i.quantity, i.unitPrice])).toEqual([
      ['Premium Coffee', 2, 150000],
      ['Margherita Pizza (Large)', 1, 170000],
    ]);
    const row = await duka.orm.em.fork().findOneOrFail(Order, { number: orderNumber! }, { populate: ['items'] });
    expect(row.status).toBe('CONFIRMED');
    expect(row.items).toHaveLength(2);
    expect(row.address).toEqual({ text: 'Kenyatta Avenue 12, Nairobi CBD' });

    const described = await duka.client.workflow.getHandle(`order:${orderNumber}`).describe();
    expect(described.typedSearchAttributes.get({ name: 'OrderStatus', type: 'KEYWORD' } as never)).toBe('CONFIRMED');
  });

  it('turns a native catalog cart into the order, re-priced, naming what it cannot sell', async () => {
    const c = new Customer(duka, HARARE, '263772000101');
    const [unknown, cart] = await c.sendCart('900000000000002', [
      { retailerId: 'SKU-MAIZE-10KG', quantity: 2, itemPrice: 0.01, currency: 'USD' },
      { retailerId: 'SKU-OIL-2L', quantity: '1', itemPrice: '4.5', currency: 'USD' },
      { retailerId: 'SKU-NOT-REAL', quantity: 1 },
    ], 2);
    expect(unknown!.text).toContain('SKU-NOT-REAL');
    expect(cart!.text).toContain('USD 20.48');
  });

  it('sends the customer back to the menu after two invalid quantities', async () => {
    const c = new Customer(duka, NAIROBI, '254712345002');
    await c.say('hello');
    await c.tap('add:nairobi-honey');
    const [first] = await c.say('lots');
    expect(first!.text).toMatch(/number from 1 to 30/);
    const [second, menu] = await c.say('0', 2);
    expect(second!.text).toMatch(/start again/);
    expect(menu!.ids).toEqual(['menu:shop', 'menu:cart', 'menu:help']);
  });

  it('cancels the order when the customer says stop during checkout', async () => {
    const c = new Customer(duka, NAIROBI, '254712345003');
    await c.say('menu');
    await c.tap('add:nairobi-soap');
    await c.say('3', 2);
    await c.tap('cart:checkout');
    const [cancelled] = await c.say('cancel');
    expect(cancelled!.text).toMatch(/cancelled/);
    const rows = await duka.orm.em.fork().find(Order, { customer: { ref: duka.customerRef('254712345003') } });
    expect(rows.map((r) => r.status)).toEqual(['CANCELLED']);
  });

  it('speaks Swahili to a customer who greets in Swahili', async () => {
    const c = new Customer(duka, NAIROBI, '254712345004');
    const [menu] = await c.say('Habari');
    expect(menu!.text).toContain('Karibu');
    expect(menu!.raw.body).toMatchObject({ interactive: { action: { buttons: [{ reply: { title: 'Nunua' } }, {}, {}] } } });
  });

  it('loses nothing when the worker stops mid-journey: messages wait in Temporal and are answered after the restart', async () => {
    const c = new Customer(duka, NAIROBI, '254712345005');
    await c.say('hi');
    await c.tap('add:nairobi-coffee');
    await duka.stopWorker();
    const res = await duka.deliver(NAIROBI, [textMessageFor(c.waId, '1')], { name: c.name });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    await duka.startWorker();
    const [added, cart] = await c.next(2, 20_000);
    expect(added!.text).toContain('Added 1 × Premium Coffee');
    expect(cart!.text).toContain('KES 1,500');
  });

  it('stays silent while shop staff have taken over, then answers again', async () => {
    const c = new Customer(duka, NAIROBI, '254712345006');
    await c.say('hi');
    await duka.client.workflow.getHandle(duka.conversationId('nairobi', c.waId)).signal(handoverSignal, { minutes: 30 });
    await duka.deliver(NAIROBI, [textMessageFor(c.waId, 'is my order ready?')], { name: c.name });
    await expect(c.next(1, 1500)).rejects.toThrow(/expected 1 message/);
    await duka.client.workflow.getHandle(duka.conversationId('nairobi', c.waId)).signal(handoverSignal, { resume: true });
    const [menu] = await c.say('menu');
    expect(menu!.ids).toContain('menu:shop');
  });

  it('adds what a completed customisation Flow chose, re-priced by the order', async () => {
    const c = new Customer(duka, NAIROBI, '254712345007');
    await c.say('hi');
    const [quantity] = await c.raw(flowReply(c.waId, { flow_token: mintFlowToken({ shopId: 'nairobi', subject: 'nairobi-pizza-margherita', customerRef: duka.customerRef(c.waId) }, duka.config.customerRefSecret), productId: 'nairobi-pizza-margherita', presentationId: 'nairobi-pizza-medium', optionIds: ['nairobi-pizza-crust-crust-thin', 'nairobi-pizza-addons-addon-olives'] }, 'wamid.flow-1'));
    expect(quantity!.text).toContain('KES 1,300');
    const [, cart] = await c.say('2', 2);
    expect(cart!.text).toContain('KES 2,600');
  });

  it('lets the customer switch language from the help menu, and remembers it', async () => {
    const c = new Customer(duka, NAIROBI, '254712345008');
    await c.say('hello');
    const [help] = await c.tap('menu:help');
    expect(help!.ids).toEqual(['menu:shop', 'menu:cart', 'menu:lang']);
    const [set, menu] = await c.tap('menu:lang', 'Kiswahili', 2);
    expect(set!.text).toBe('Lugha imewekwa Kiswahili.');
    expect(menu!.text).toContain('Karibu');
    const [categories] = await c.tap('menu:shop');
    expect(categories!.text).toBe('Chagua aina:');
  });
});
