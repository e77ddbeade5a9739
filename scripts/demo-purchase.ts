import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

/**
 * Plays a whole purchase against a running duka (`npm start`) exactly as Meta would: signed webhooks for a customer
 * in Nairobi who buys two coffees and pays cash at pickup. Then prints the order from the admin API.
 *   npm run demo                      (BASE_URL, APP_SECRET, ADMIN_TOKEN, CUSTOMER override the defaults)
 */
const base = process.env.BASE_URL ?? 'http://localhost:3000';
const secret = process.env.APP_SECRET ?? process.env.WHATSAPP_APP_SECRET ?? 'sandbox-not-secret';
const customer = process.env.CUSTOMER ?? `2547${String(Date.now()).slice(-8)}`;
const token = process.env.ADMIN_TOKEN ?? (existsSync('.data/admin-token') ? readFileSync('.data/admin-token', 'utf8').trim() : '');

type Msg = Record<string, unknown>;
const text = (body: string): Msg => ({ type: 'text', text: { body } });
const button = (id: string): Msg => ({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title: id.slice(0, 20) } } });
const row = (id: string): Msg => ({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id, title: id.slice(0, 24) } } });

async function send(label: string, message: Msg) {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '254700000001', phone_number_id: '100000000000001' },
      contacts: [{ profile: { name: 'Demo Customer' }, wa_id: customer }],
      messages: [{ from: customer, id: `wamid.demo-${randomBytes(6).toString('hex')}`, timestamp: String(Math.floor(Date.now() / 1000)), ...message }],
    } }] }],
  });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const res = await fetch(`${base}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });
  console.log(`customer: ${label.padEnd(28)} → ${res.status}`);
  if (!res.ok) throw new Error(await res.text());
  await new Promise((r) => setTimeout(r, 1200));
}

await send('hi', text('hi'));
await send('[Shop]', button('menu:shop'));
await send('Coffee & Pantry', row('cat:nairobi-pantry'));
await send('Premium Coffee', row('prod:nairobi-coffee'));
await send('[Add to cart]', button('add:nairobi-coffee'));
await send('2', text('2'));
await send('[Checkout]', button('cart:checkout'));
await send('[Pickup]', button('ful:pickup'));
await send('[Confirm]', button('order:confirm'));
await send('[Pay at pickup]', button('pay:cash'));

if (token) {
  const res = await fetch(`${base}/api/admin/orders?shop=nairobi&limit=1`, { headers: { authorization: `Bearer ${token}` } });
  const list = (await res.json()) as { orders?: { orderNumber?: string; number?: string }[] };
  const latest = list.orders?.[0];
  const number = latest?.orderNumber ?? latest?.number;
  if (number) {
    const detail = await fetch(`${base}/api/admin/orders/${number}`, { headers: { authorization: `Bearer ${token}` } });
    console.log(JSON.stringify(await detail.json(), null, 2));
  }
}
