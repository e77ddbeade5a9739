import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../../lib/config.ts';
import { verifyMetaSignature } from '../../providers/whatsapp/signature.ts';
import { createSandbox, type Sandbox } from '../../sandbox/index.ts';
import { adminPageRouter } from '../../dashboard/page.ts';
import { createTestDatabase } from '../helpers/db.ts';

/**
 * The sandbox's server side over real HTTP: the Graph API stand-in answers as Meta does and posts signed status
 * webhooks; the page's messages become signed Meta webhooks; bad input is a 400; the simulators are mounted at the
 * providers' default sandbox base URLs. duka's webhook endpoints are replaced by a recorder on the same server.
 */
const NAIROBI = '100000000000001';
const TOKEN = 'sandbox-test-access-token';
const SECRET = 'sandbox-test-app-secret';
const CUSTOMER = '254712000999';

interface Received {
  path: string;
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('sandbox server', () => {
  let server: Server;
  let base: string;
  let config: Config;
  let sandbox: Sandbox;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const received: Received[] = [];
  let webhookStatus = 200;

  const waitFor = async <T>(find: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const graphSend = (body: unknown, token = TOKEN, phoneNumberId = NAIROBI, version = 'v21.0') =>
    post(`/sandbox/graph/${version}/${phoneNumberId}/messages`, body, token ? { authorization: `Bearer ${token}` } : {});

  beforeAll(async () => {
    db = await createTestDatabase('sandbox_server');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    config = loadConfig({
      SANDBOX: 'on',
      PUBLIC_BASE_URL: base,
      WHATSAPP_ACCESS_TOKEN: TOKEN,
      WHATSAPP_APP_SECRET: SECRET,
      CUSTOMER_REF_SECRET: 'sandbox-test-customer-ref',
      TEMPORAL_UI_URL: 'http://temporal-ui.test:8233',
      DATABASE_URL: db.url,
    });
    // Temporal is not needed here: the order panel sees no conversation.
    const notFound = Object.assign(new Error('workflow not found'), { name: 'WorkflowNotFoundError' });
    const temporal = { workflow: { getHandle: () => ({ query: () => Promise.reject(notFound) }) } } as unknown as Client;
    sandbox = createSandbox({ config, orm: db.orm, temporal, statusDelaysMs: [30, 60, 90] });
    const app = express();
    app.post(/^\/webhooks\/.*/, express.raw({ type: () => true }), (req, res) => {
      const raw = req.body as Buffer;
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { form: raw.toString('utf8') };
      }
      received.push({ path: req.path, raw, headers: req.headers, body });
      res.status(webhookStatus).json({ ok: webhookStatus === 200 });
    });
    app.use('/sandbox', sandbox.router);
    app.use('/admin', adminPageRouter());
    server.on('request', app);
    // The Graph stand-in knows the shops once they are loaded.
    await fetch(`${base}/sandbox/api/shops`);
  }, 60_000);

  afterAll(async () => {
    await sandbox?.close();
    await new Promise<void>((resolve) => {
      server?.close(() => resolve());
      server?.closeAllConnections();
    });
    await db?.drop();
  });

  beforeEach(() => {
    received.length = 0;
    webhookStatus = 200;
  });

  describe('Graph API stand-in', () => {
    it("answers a send like Meta, then posts signed sent → delivered → read statuses to duka's webhook", async () => {
      const res = await graphSend({ messaging_product: 'whatsapp', recipient_type: 'individual', to: CUSTOMER, type: 'text', text: { body: 'Karibu! ☕' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body.messaging_product).toBe('whatsapp');
      expect(body.contacts).toEqual([{ input: CUSTOMER, wa_id: CUSTOMER }]);
      const wamid = body.messages[0].id as string;
      expect(wamid).toMatch(/^wamid\./);

      const statuses = await waitFor(() => (received.length >= 3 ? received.slice(0, 3) : undefined), 'three status webhooks');
      for (const r of statuses) {
        expect(r.path).toBe('/webhooks/whatsapp');
        expect(verifyMetaSignature(r.raw, r.headers['x-hub-signature-256'] as string, SECRET)).toBe(true);
        expect(verifyMetaSignature(r.raw, r.headers['x-hub-signature-256'] as string, 'another-secret')).toBe(false);
        const value = (r.body as Json).entry[0].changes[0].value;
        expect((r.body as Json).object).toBe('whatsapp_business_account');
        expect(value.metadata.phone_number_id).toBe(NAIROBI);
        expect(value.statuses[0]).toMatchObject({ id: wamid, recipient_id: CUSTOMER });
      }
      expect(statuses.map((r) => (r.body as Json).entry[0].changes[0].value.statuses[0].status)).toEqual(['sent', 'delivered', 'read']);

      const history = (await (await fetch(`${base}/sandbox/api/chat?phoneNumberId=${NAIROBI}&from=${CUSTOMER}`)).json()) as Json;
      expect(history.entries.find((e: Json) => e.id === wamid)).toMatchObject({ direction: 'out', status: 'read' });
      expect(sandbox.statusDeliveries.filter((d) => d.messageId === wamid).map((d) => d.httpStatus)).toEqual([200, 200, 200]);
    });

    it('refuses what Meta refuses, in Meta\'s error shape', async () => {
      const text = { messaging_product: 'whatsapp', to: CUSTOMER, type: 'text', text: { body: 'hi' } };
      const none = await graphSend(text, '');
      expect(none.status).toBe(401);
      expect(((await none.json()) as Json).error).toMatchObject({ code: 190, type: 'OAuthException' });
      const wrong = await graphSend(text, 'not-the-token');
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as Json).error.code).toBe(190);

      const fourButtons = { messaging_product: 'whatsapp', to: CUSTOMER, type: 'interactive', interactive: { type: 'button', body: { text: 'x' }, action: { buttons: [1, 2, 3, 4].map((n) => ({ type: 'reply', reply: { id: `b${n}`, title: `B${n}` } })) } } };
      const invalid = await graphSend(fourButtons);
      expect(invalid.status).toBe(400);
      expect(((await invalid.json()) as Json).error).toMatchObject({ code: 131009, error_data: { details: expect.stringContaining('buttons') } });

      const unknownNumber = await graphSend(text, TOKEN, '999999999');
      expect(unknownNumber.status).toBe(400);
      expect(((await unknownNumber.json()) as Json).error.code).toBe(100);
      const badVersion = await graphSend(text, TOKEN, NAIROBI, 'latest');
      expect(((await badVersion.json()) as Json).error.code).toBe(2500);
      const malformed = await post(`/sandbox/graph/v21.0/${NAIROBI}/messages`, '{"to":', { authorization: `Bearer ${TOKEN}` });
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as Json).error.code).toBe(100);
      await new Promise((r) => setTimeout(r, 150));
      expect(received).toHaveLength(0);
    });

    it("takes read receipts: the customer's messages turn read", async () => {
      const sent = (await (await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'text', text: 'read me' } })).json()) as Json;
      const res = await graphSend({ messaging_product: 'whatsapp', status: 'read', message_id: sent.id, typing_indicator: { type: 'text' } });
      expect(await res.json()).toEqual({ success: true });
      const history = (await (await fetch(`${base}/sandbox/api/chat?phoneNumberId=${NAIROBI}&from=${CUSTOMER}`)).json()) as Json;
      expect(history.entries.find((e: Json) => e.id === sent.id).status).toBe('read');
    });
  });

  describe('the page sends as the customer', () => {
    it('posts a signed Meta webhook, non-ASCII escaped as Meta does, and reports it delivered', async () => {
      const text = 'Habari 👋 café';
      const res = await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, name: 'Wanjiru', message: { type: 'text', text } });
      expect(res.status).toBe(200);
      const answer = (await res.json()) as Json;
      expect(answer).toMatchObject({ status: 'delivered', httpStatus: 200 });
      const hooks = received.filter((r) => r.raw.toString('utf8').includes(answer.id as string));
      expect(hooks).toHaveLength(1);
      const [hook] = hooks as [Received];
      expect(verifyMetaSignature(hook.raw, hook.headers['x-hub-signature-256'] as string, SECRET)).toBe(true);
      expect(hook.raw.toString('utf8')).toMatch(/^[\x20-\x7e]*$/);
      expect(hook.raw.toString('utf8')).toContain('\\ud83d\\udc4b');
      const value = (hook.body as Json).entry[0].changes[0].value;
      expect(value.metadata).toEqual({ display_phone_number: '254700000001', phone_number_id: NAIROBI });
      expect(value.contacts).toEqual([{ profile: { name: 'Wanjiru' }, wa_id: CUSTOMER }]);
      expect(value.messages[0]).toMatchObject({ id: answer.id, from: CUSTOMER, type: 'text', text: { body: text } });
    });

    it('builds replies, locations and catalog orders as Meta would', async () => {
      await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'button_reply', id: 'menu:shop', title: 'Shop', contextId: 'wamid.ctx1' } });
      await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'list_reply', id: 'cat:x', title: 'Pizza', description: 'Made to order' } });
      await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'location', latitude: -1.28, longitude: 36.81, name: 'Office' } });
      await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'order', catalogId: '900000000000001', items: [{ retailerId: 'NBO-COFFEE-500', quantity: 2, itemPrice: 1500, currency: 'KES' }] } });
      const messages = received.map((r) => (r.body as Json).entry[0].changes[0].value.messages[0]);
      expect(messages[0]).toMatchObject({ context: { id: 'wamid.ctx1' }, type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'menu:shop', title: 'Shop' } } });
      expect(messages[1].interactive).toEqual({ type: 'list_reply', list_reply: { id: 'cat:x', title: 'Pizza', description: 'Made to order' } });
      expect(messages[2]).toMatchObject({ type: 'location', location: { latitude: -1.28, longitude: 36.81, name: 'Office' } });
      expect(messages[3].order).toEqual({ catalog_id: '900000000000001', product_items: [{ product_retailer_id: 'NBO-COFFEE-500', quantity: 2, item_price: 1500, currency: 'KES' }] });
    });

    it("shows duka's refusal on the message", async () => {
      webhookStatus = 401;
      const answer = (await (await post('/sandbox/api/send', { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'text', text: 'refused' } })).json()) as Json;
      expect(answer).toMatchObject({ status: 'failed', httpStatus: 401 });
      expect(answer.error).toContain('401');
    });

    it('answers 400 to bad input and sends nothing', async () => {
      const cases: unknown[] = [
        {},
        { phoneNumberId: NAIROBI, from: CUSTOMER },
        { phoneNumberId: NAIROBI, from: '+254 712', message: { type: 'text', text: 'hi' } },
        { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'text', text: '' } },
        { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'video', link: 'x' } },
        { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'location', latitude: 91, longitude: 0 } },
        { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'order', catalogId: '1', items: [] } },
        { phoneNumberId: NAIROBI, from: CUSTOMER, message: { type: 'text', text: 'hi', extra: true } },
      ];
      for (const body of cases) {
        const res = await post('/sandbox/api/send', body);
        expect(res.status).toBe(400);
        expect(((await res.json()) as Json).error.code).toBe('invalid_request');
      }
      const unknownShop = await post('/sandbox/api/send', { phoneNumberId: '123456789', from: CUSTOMER, message: { type: 'text', text: 'hi' } });
      expect(unknownShop.status).toBe(400);
      expect(((await unknownShop.json()) as Json).error.code).toBe('unknown_shop');
      const malformed = await post('/sandbox/api/send', '{"phoneNumberId":');
      expect(malformed.status).toBe(400);
      expect(((await malformed.json()) as Json).error.code).toBe('invalid_json');
      expect((await fetch(`${base}/sandbox/api/chat?phoneNumberId=x&from=y`)).status).toBe(400);
      expect(received).toHaveLength(0);
    });
  });

  it("pushes a chat's messages to its page over server-sent events", async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/sandbox/api/events?phoneNumberId=${NAIROBI}&from=${CUSTOMER}`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    await graphSend({ messaging_product: 'whatsapp', to: CUSTOMER, type: 'text', text: { body: 'over SSE' } });
    await graphSend({ messaging_product: 'whatsapp', to: '254712000111', type: 'text', text: { body: 'another chat' } });
    const until = Date.now() + 5_000;
    while (!text.includes('event: status') && Date.now() < until) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    expect(text).toContain('event: message');
    expect(text).toContain('over SSE');
    expect(text).not.toContain('another chat');
  });

  describe('payment simulators', () => {
    it("serves Daraja at the default M-Pesa base URL; the phone's PIN sends the callback", async () => {
      const mpesa = `${base}/sandbox/mpesa`;
      const oauth = await fetch(`${mpesa}/oauth/v1/generate?grant_type=client_credentials`, { headers: { authorization: `Basic ${Buffer.from(`${config.mpesa.consumerKey}:${config.mpesa.consumerSecret}`).toString('base64')}` } });
      const { access_token: token } = (await oauth.json()) as Json;
      const timestamp = '20260101120000';
      const push = await post('/sandbox/mpesa/mpesa/stkpush/v1/processrequest', {
        BusinessShortCode: config.mpesa.shortcode,
        Password: Buffer.from(`${config.mpesa.shortcode}${config.mpesa.passkey}${timestamp}`).toString('base64'),
        Timestamp: timestamp,
        TransactionType: 'CustomerPayBillOnline',
        Amount: 1500,
        PartyA: CUSTOMER,
        PartyB: config.mpesa.shortcode,
        PhoneNumber: CUSTOMER,
        CallBackURL: `${base}/webhooks/mpesa/secret-token`,
        AccountReference: 'NBO1001',
        TransactionDesc: 'Duka',
      }, { authorization: `Bearer ${token}` });
      const { CheckoutRequestID: id } = (await push.json()) as Json;
      const state = (await (await fetch(`${base}/sandbox/api/simulators`)).json()) as Json;
      expect(state.prompts).toContainEqual(expect.objectContaining({ provider: 'mpesa', id, phone: CUSTOMER, amount: 1500 }));

      expect((await post(`/sandbox/api/simulators/mpesa/${id}/pin`, { pin: '12' })).status).toBe(400);
      expect((await post('/sandbox/api/simulators/mpesa/ws_CO_nope/pin', { pin: '1234' })).status).toBe(404);
      const ok = await post(`/sandbox/api/simulators/mpesa/${id}/pin`, { pin: '1234' });
      expect(await ok.json()).toMatchObject({ resultCode: 0 });
      const callback = await waitFor(() => received.find((r) => r.path === '/webhooks/mpesa/secret-token'), 'the Daraja callback');
      expect((callback.body as Json).Body.stkCallback).toMatchObject({ CheckoutRequestID: id, ResultCode: 0 });
    });

    it('toggles misbehaviour per provider, refusing toggles a provider cannot have', async () => {
      const drop = await post('/sandbox/api/simulators/mpesa/behaviour', { drop: true, delay: true });
      expect(await drop.json()).toMatchObject({ provider: 'mpesa', toggles: { drop: true, delay: true, fail: false } });
      expect(sandbox.simulators.mpesa.control.behaviour()).toMatchObject({ dropCallbacks: true, callbackDelayMs: 8000 });
      await post('/sandbox/api/simulators/mpesa/behaviour', { drop: false, delay: false });
      expect(sandbox.simulators.mpesa.control.behaviour()).toMatchObject({ dropCallbacks: false, callbackDelayMs: 0 });

      await post('/sandbox/api/simulators/omari/behaviour', { fail: true });
      expect(sandbox.simulators.omari.control.behaviour().declineWith).toMatchObject({ stage: 'request' });
      await post('/sandbox/api/simulators/omari/behaviour', { fail: false });
      expect((await post('/sandbox/api/simulators/omari/behaviour', { delay: true })).status).toBe(400);
      expect((await post('/sandbox/api/simulators/razorpay/behaviour', { sideways: true })).status).toBe(400);
      expect((await post('/sandbox/api/simulators/stripe/behaviour', { down: true })).status).toBe(404);

      await post('/sandbox/api/simulators/paynow/behaviour', { down: true });
      expect((await post('/sandbox/paynow/interface/remotetransaction', 'x')).status).toBe(503);
      await post('/sandbox/api/simulators/paynow/behaviour', { down: false });
    });
  });

  it('serves product pictures and the pages', async () => {
    const svg = await fetch(`${base}/sandbox/images/nairobi-pizza-margherita.svg`);
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toContain('image/svg+xml');
    expect(await svg.text()).toContain('Margherita Pizza');
    expect((await fetch(`${base}/sandbox/images/nope.svg`)).status).toBe(404);
    expect((await fetch(`${base}/sandbox/images/..%2Fsecret.svg`)).status).toBe(404);

    const bare = await fetch(`${base}/sandbox`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/sandbox/');
    const adminBare = await fetch(`${base}/admin?x=1`, { redirect: 'manual' });
    expect(adminBare.headers.get('location')).toBe('/admin/?x=1');

    const dist = mkdtempSync(join(tmpdir(), 'duka-web-'));
    const app = express();
    app.use('/admin', adminPageRouter({ dist }));
    const other = app.listen(0, '127.0.0.1');
    await new Promise((r) => other.once('listening', r));
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/admin/`;
    try {
      const missing = await fetch(url);
      expect(missing.status).toBe(503);
      expect(await missing.text()).toContain('not built');
      writeFileSync(join(dist, 'index.html'), '<!doctype html><title>admin</title>');
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get('referrer-policy')).toBe('no-referrer');
      expect(await page.text()).toContain('<title>admin</title>');
    } finally {
      other.close();
    }
  });

  it('the order panel: no conversation yet, and 404 for a number no shop has', async () => {
    const panel = (await (await fetch(`${base}/sandbox/api/conversation?phoneNumberId=${NAIROBI}&from=${CUSTOMER}`)).json()) as Json;
    expect(panel).toMatchObject({ shopId: 'nairobi', conversation: null, orderNumber: null, order: null, temporalUrl: null });
    expect((await fetch(`${base}/sandbox/api/conversation?phoneNumberId=123456789&from=${CUSTOMER}`)).status).toBe(404);
  });
});
