import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Customer, type Seen } from '../helpers/chat.ts';
import { NAIROBI } from '../helpers/duka.ts';
import { buildInboundWebhook, textMessage } from '../fakes/graph-api.ts';
import { ADMIN_TOKEN, activeOrderNumber, eventually, orderOf, startWorld, waitForPush, type World } from '../payments-e2e/support.ts';

/**
 * Issue 9's "done when", as one owner would live it: a shop opened through the admin API alone (its own WhatsApp
 * number and access token), its catalog entered with the shop's own token, sold over signed webhooks on real Temporal
 * and PostgreSQL; stock, price changes, a promotion and the token's scope seen from outside. The migrate-holds-no-shop
 * and SANDBOX-off checks run as processes in test/ops/production-mode.test.ts.
 */
describe('an owner opens a shop through the admin API and sells on WhatsApp', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('owner_walkthrough', { CREDENTIALS_KEY: randomBytes(32).toString('hex') });
  });
  afterAll(async () => {
    await w?.stop();
  });

  const SHOP = 'kisumu-lakeside';
  const NUMBER = '100000000000091';
  const OWN_TOKEN = 'kisumu-own-whatsapp-token';
  const OWN_APP_SECRET = 'kisumu-own-meta-app-secret';

  async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(`${w.duka.baseUrl}/api/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }
  const asAdmin = (method: string, path: string, body?: unknown) => call(method, path, ADMIN_TOKEN, body);

  /** The id of the row or button whose title is `title`, from what the customer was shown. */
  function idOf(seen: Seen, title: RegExp): string {
    const i = (seen.raw.body as { interactive?: Record<string, any> }).interactive; // eslint-disable-line @typescript-eslint/no-explicit-any
    const rows: { id: string; title: string }[] =
      i?.type === 'list'
        ? i.action.sections.flatMap((s: { rows: { id: string; title: string }[] }) => s.rows)
        : i?.type === 'button'
          ? i.action.buttons.map((b: { reply: { id: string; title: string } }) => b.reply)
          : [];
    const row = rows.find((r) => title.test(r.title));
    if (!row) throw new Error(`no ${title} among ${JSON.stringify(rows.map((r) => r.title))}`);
    return row.id;
  }
  const stockOf = async (productId: string) =>
    (await w.duka.orm.em.fork().getConnection().execute<{ stock: number | null; stock_reserved: number }[]>('select stock, stock_reserved from product where id = ?', [productId]))[0]!;

  it('opens the shop, enters a pizza with sizes, add-ons, a photo and stock 1, sells it once, re-prices it in an open chat and runs a promotion', async () => {
    // The shop, with its own WhatsApp Business number and token: Meta accepts only that token for this number.
    w.duka.graph.ownNumber(NUMBER, OWN_TOKEN);
    const opened = await asAdmin('POST', '/shops', {
      id: SHOP,
      name: 'Kisumu Lakeside Pizza',
      phoneNumberId: NUMBER,
      displayPhone: '254700000091',
      currency: 'KES',
      country: 'KE',
      timezone: 'Africa/Nairobi',
      paymentMethods: ['mpesa', 'cash'],
      deliveryFee: 15000,
      preparationMinutes: 25,
      whatsapp: { accessToken: OWN_TOKEN, appSecret: OWN_APP_SECRET, businessAccountId: '300000000000091' },
    });
    expect(`${opened.status} ${JSON.stringify(opened.body)}`).toMatch(/^201 /);
    expect(JSON.stringify(opened.body)).not.toContain(OWN_TOKEN);
    expect((await asAdmin('POST', '/shops', { id: 'kisumu-copy', phoneNumberId: NUMBER, name: 'Copy', currency: 'KES', country: 'KE', timezone: 'Africa/Nairobi', paymentMethods: ['cash'], displayPhone: '254700000092' })).status).toBe(409);

    // The owner's own token, shown once; from here on the owner works with it.
    const issued = await asAdmin('POST', `/shops/${SHOP}/tokens`, { name: 'owner phone' });
    expect(issued.status).toBe(201);
    const token = issued.body.token as string;
    const owner = (method: string, path: string, body?: unknown) => call(method, path, token, body);

    // A shop token sees its shop only, and cannot open shops.
    expect((await owner('GET', `/shops/${SHOP}`)).status).toBe(200);
    expect((await owner('GET', '/shops/nairobi')).status).toBe(403);
    expect((await owner('GET', '/shops/nairobi/products')).status).toBe(403);
    expect((await owner('GET', '/orders?shop=nairobi')).status).toBe(403);
    expect((await owner('POST', '/shops', { name: 'Mine too' })).status).toBe(403);
    const shops = await owner('GET', '/shops');
    expect(shops.status).toBe(200);
    expect((shops.body.shops as { id: string }[]).map((s) => s.id)).toEqual([SHOP]);

    // Catalog: a category and a pizza with sizes, add-ons, a photo and one left.
    const category = await owner('POST', `/shops/${SHOP}/categories`, { name: 'Pizza' });
    expect(category.status).toBe(201);
    const refused = await owner('POST', `/shops/${SHOP}/products`, { retailerId: 'KSM-BAD', name: 'No price' });
    expect(refused.status).toBe(400);
    const created = await owner('POST', `/shops/${SHOP}/products`, {
      retailerId: 'KSM-PIZZA-TILAPIA',
      name: 'Tilapia Pizza',
      description: 'Fresh from the lake',
      price: 120000,
      categoryId: category.body.id,
      imageUrl: 'https://images.example.com/tilapia-pizza.jpg',
      stock: 1,
      presentations: [
        { name: 'Medium', price: 120000 },
        { name: 'Large', price: 150000 },
      ],
      modifierGroups: [{ name: 'Add-ons', minSelect: 0, maxSelect: 2, options: [{ name: 'Extra cheese', priceDelta: 15000 }, { name: 'Chilli', priceDelta: 0 }] }],
    });
    expect(created.status).toBe(201);
    const pizza = created.body.id as string;
    const sizes = created.body.presentations as { id: string; name: string }[];

    // Two customers open the shop; each sees the pizza with its photo.
    const amina = new Customer(w.duka, NUMBER, '254711091001', 'Amina');
    const brian = new Customer(w.duka, NUMBER, '254711091002', 'Brian');
    const [menu] = await amina.say('hi');
    expect(menu!.text).toContain('Kisumu Lakeside Pizza');
    const [categories] = await amina.tap('menu:shop');
    const [list] = await amina.pick(idOf(categories!, /Pizza/));
    expect(list!.ids).toContain(`prod:${pizza}`);
    const [card] = await amina.pick(`prod:${pizza}`);
    expect(JSON.stringify(card!.raw.body)).toContain('https://images.example.com/tilapia-pizza.jpg');

    // Amina: large with extra cheese, pickup, M-Pesa.
    const [sizeChoice] = await amina.tap(`add:${pizza}`);
    const [addons] = await amina.pick(idOf(sizeChoice!, /Large/));
    const [more] = await amina.pick(idOf(addons!, /Extra cheese/));
    const [quantity] = await amina.pick(idOf(more!, /Done/i));
    expect(quantity!.text).toContain('KES 1,650');
    await amina.say('1', 2);
    await amina.tap('cart:checkout');
    await amina.tap('ful:pickup');
    const [methods] = await amina.tap('order:confirm');
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);

    // Brian chooses a medium one and reaches the payment choice too, before Amina pays.
    await brian.say('hi');
    const [brianSizes] = await brian.tap(`add:${pizza}`);
    const [brianAddons] = await brian.pick(idOf(brianSizes!, /Medium/));
    const [brianQuantity] = await brian.pick(idOf(brianAddons!, /No thanks|Done/i));
    expect(brianQuantity!.text).toContain('KES 1,200');
    await brian.say('1', 2);
    await brian.tap('cart:checkout');
    await brian.tap('ful:pickup');
    await brian.tap('order:confirm');

    const [prompt] = await amina.tap('pay:mpesa');
    expect(prompt!.text).toMatch(/approve the M-Pesa payment of KES 1,650/);
    const push = await waitForPush(w.providers, amina.waId);
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'KSM1PAID01' });
    const [receipt] = await amina.next();
    expect(receipt!.text).toContain('KSM1PAID01');
    const aminaOrder = await activeOrderNumber(w.duka, amina, SHOP).catch(() => /[A-Z]{3}-\d+/.exec(receipt!.text)![0]);
    expect((await orderOf(w.duka, aminaOrder)).status).toBe('PAID');
    expect(await stockOf(pizza)).toEqual({ stock: 0, stock_reserved: 0 });

    // Brian cannot have it: told plainly, nothing placed, and it has left the list.
    const [soldOut] = await brian.tap('pay:cash');
    expect(soldOut!.text).toContain('Sorry, Tilapia Pizza is sold out.');
    expect(soldOut!.text).toContain('not placed');
    const [emptyList] = await new Customer(w.duka, NUMBER, '254711091003').pick(`cat:${category.body.id as string}`);
    expect(emptyList!.ids).not.toContain(`prod:${pizza}`);

    // The owner bakes five more and lowers the price; Brian's open conversation shows it at his next message, and the
    // order he had in hand is re-priced when he places it.
    const patched = await owner('PATCH', `/shops/${SHOP}/products/${pizza}`, { stock: 5, price: 110000, presentations: sizes.map((x) => ({ id: x.id, name: x.name, price: x.name === 'Medium' ? 110000 : 140000 })) });
    expect(patched.status).toBe(200);
    const [card2] = await brian.pick(`prod:${pizza}`);
    expect(card2!.text).toContain('KES 1,100');
    expect(card2!.text).not.toContain('KES 1,200');
    await brian.tap('order:confirm');
    const [repriced, summary] = await brian.tap('pay:cash', 'Cash', 2);
    expect(repriced!.text).toContain('new total is *KES 1,100*');
    await brian.tap(idOf(summary!, /Confirm/i));
    const [confirmed] = await brian.tap('pay:cash');
    expect(confirmed!.text).toContain('confirmed');
    const brianOrder = /[A-Z]{3}-\d+/.exec(confirmed!.text)![0];
    expect(await orderOf(w.duka, brianOrder)).toMatchObject({ status: 'CONFIRMED', total: 110000 });
    expect(await stockOf(pizza)).toEqual({ stock: 4, stock_reserved: 0 });

    // A promotion: in the menu, and its discount on its own line and in the total.
    const promotion = await owner('POST', `/shops/${SHOP}/promotions`, { title: 'Lake week', percentOff: 10, productIds: [pizza] });
    expect(promotion.status).toBe(201);
    const chebet = new Customer(w.duka, NUMBER, '254711091004', 'Chebet');
    const [promoMenu] = await chebet.say('hi');
    expect(promoMenu!.ids).toContain('menu:promos');
    const [promos] = await chebet.pick('menu:promos', 'View promotions');
    expect(promos!.text).toContain('Lake week');
    const [chebetSizes] = await chebet.tap(`add:${pizza}`);
    const [chebetAddons] = await chebet.pick(idOf(chebetSizes!, /Large/));
    await chebet.pick(idOf(chebetAddons!, /No thanks|Done/i));
    const [, cart] = await chebet.say('1', 2);
    expect(cart!.text).toContain('🏷️ Lake week: −KES 140');
    await chebet.tap('cart:checkout');
    const [chebetSummary] = await chebet.tap('ful:pickup');
    expect(chebetSummary!.text).toContain('Total: KES 1,260');
    await chebet.tap('order:confirm');
    const [chebetConfirmed] = await chebet.tap('pay:cash');
    const chebetOrder = /[A-Z]{3}-\d+/.exec(chebetConfirmed!.text)![0];
    expect(await orderOf(w.duka, chebetOrder)).toMatchObject({ status: 'CONFIRMED', subtotal: 140000, discount: 14000, total: 126000 });

    // The owner's lists hold this shop's three orders and customers, and nothing of another shop.
    const orders = await eventually(() => owner('GET', '/orders'), (r) => (r.body.orders as unknown[] | undefined)?.length === 3, 'three orders in the read model');
    expect(new Set((orders.body.orders as { shopId: string }[]).map((o) => o.shopId))).toEqual(new Set([SHOP]));
    const customers = await owner('GET', '/customers');
    expect((customers.body.customers as unknown[]).length).toBe(4);
    expect(JSON.stringify(customers.body)).not.toContain('254711091001');

    // Every message of this shop went out under its own WhatsApp token (the Graph stand-in refuses any other).
    expect(w.duka.graph.sent.filter((s) => s.phoneNumberId === NUMBER).length).toBeGreaterThan(30);
    // And the read receipts (the API sends them on hand-off), with the same token.
    expect(w.duka.graph.reads.filter((r) => r.phoneNumberId === NUMBER).length).toBeGreaterThan(10);
  });

  it("takes webhooks signed with the shop's own Meta app secret for its number only", async () => {
    const post = (phoneNumberId: string, appSecret: string, id: string) => {
      const built = buildInboundWebhook({ phoneNumberId, appSecret, messages: [textMessage('254711091009', 'hi', id)] });
      return fetch(`${w.duka.baseUrl}/webhooks/whatsapp`, { method: 'POST', headers: built.headers, body: built.raw });
    };
    const c = new Customer(w.duka, NUMBER, '254711091009');
    expect((await post(NUMBER, OWN_APP_SECRET, 'wamid.own-app-1')).status).toBe(200);
    const [menu] = await c.next();
    expect(menu!.text).toContain('Kisumu Lakeside Pizza');
    // Its secret cannot speak for a number on duka's app, nor can a made-up one.
    expect((await post(NAIROBI, OWN_APP_SECRET, 'wamid.own-app-2')).status).toBe(401);
    expect((await post(NUMBER, 'not-the-secret', 'wamid.own-app-3')).status).toBe(401);
  });
});
