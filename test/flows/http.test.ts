import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createApp } from '../../api/app.ts';
import { flowsRouter } from '../../api/routes/flows.ts';
import { ConfigError, loadConfig, type Config } from '../../lib/config.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { signMetaPayload } from '../../providers/whatsapp/signature.ts';
import {
  SANDBOX_FLOWS_PUBLIC_KEY_FILE,
  decryptFlowResponse,
  encryptFlowRequestForTest,
  generateFlowsKeyPair,
  mintFlowToken,
  type FlowsKeyPair,
} from '../../providers/whatsapp/flows.ts';
import { APP_SECRET, errorCode, sql, startApi, startServer, testConfig, type ApiHarness, type TestServer } from '../api/support.ts';

const PIZZA = 'nairobi-pizza-margherita';
const CUSTOMER = 'a1b2c3d4e5f6a7b8c9d0';
const mint = (productId: string, extra: { shopId?: string; secret?: string; now?: number } = {}) =>
  mintFlowToken({ shopId: extra.shopId ?? 'nairobi', subject: productId, customerRef: CUSTOMER, ...(extra.now ? { now: extra.now } : {}) }, extra.secret ?? api.config.customerRefSecret);

let pair: FlowsKeyPair;
let other: FlowsKeyPair;
let api: ApiHarness;
let token: string;

beforeAll(async () => {
  [pair, other] = await Promise.all([generateFlowsKeyPair(), generateFlowsKeyPair()]);
  api = await startApi({ config: testConfig({ WHATSAPP_FLOWS_PRIVATE_KEY: pair.privateKeyPem }) });
  token = mint(PIZZA);
});
afterAll(async () => {
  await api?.close();
});

interface Sent {
  res: Response;
  status: number;
  /** The decrypted answer (200 and 427), else undefined. */
  answer: Record<string, unknown> | undefined;
  text: string;
}

async function send(
  payload: unknown,
  options: { url?: string; publicKeyPem?: string; raw?: string; signature?: string | null; secret?: string } = {},
): Promise<Sent> {
  const aesKey = randomBytes(16);
  const iv = randomBytes(16);
  const raw = options.raw ?? JSON.stringify(encryptFlowRequestForTest(payload, options.publicKeyPem ?? pair.publicKeyPem, { aesKey, iv }));
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const signature = options.signature === undefined ? signMetaPayload(raw, options.secret ?? APP_SECRET) : options.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const res = await fetch(`${options.url ?? api.url}/flows/whatsapp`, { method: 'POST', headers, body: raw });
  const text = await res.text();
  let answer: Record<string, unknown> | undefined;
  if (res.status === 200 || res.status === 427) answer = decryptFlowResponse(text, aesKey, iv) as Record<string, unknown>;
  return { res, status: res.status, answer, text };
}

const errorOf = (sent: Sent) => (JSON.parse(sent.text) as { error: { code: string; message: string } }).error;
const action = (a: string, extra: Record<string, unknown> = {}) => ({ version: '3.0', action: a, flow_token: token, ...extra });
const exchange = (screen: string, data: Record<string, unknown>, flowToken = token) => ({ version: '3.0', action: 'data_exchange', screen, data, flow_token: flowToken });

describe('POST /flows/whatsapp: transport', () => {
  it('answers the health check (ping) with an encrypted text/plain body', async () => {
    const sent = await send({ version: '3.0', action: 'ping' });
    expect(sent.status).toBe(200);
    expect(sent.res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(sent.text).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(sent.answer).toEqual({ version: '3.0', data: { status: 'active' } });
  });

  it('432 for a missing or wrong X-Hub-Signature-256 (§2.2), before any decryption', async () => {
    for (const signature of [null, 'sha256=zz', signMetaPayload('other bytes', APP_SECRET)]) {
      const sent = await send({ version: '3.0', action: 'ping' }, { signature });
      expect(sent.status).toBe(432);
      expect(errorOf(sent).code).toBe('invalid_signature');
    }
    expect((await send({ version: '3.0', action: 'ping' }, { secret: 'another-app-secret' })).status).toBe(432);
  });

  it('421 when the request was encrypted for another key, or was tampered with (§2.6)', async () => {
    const wrongKey = await send({ version: '3.0', action: 'ping' }, { publicKeyPem: other.publicKeyPem });
    expect(wrongKey.status).toBe(421);
    expect(errorOf(wrongKey).code).toBe('decryption_failed');

    const body = encryptFlowRequestForTest({ version: '3.0', action: 'ping' }, pair.publicKeyPem);
    const blob = Buffer.from(body.encrypted_flow_data, 'base64');
    blob[0] = blob[0]! ^ 0x80;
    const tampered = await send(null, { raw: JSON.stringify({ ...body, encrypted_flow_data: blob.toString('base64') }) });
    expect(tampered.status).toBe(421);
  });

  it('400 JSON errors for malformed requests, never 500', async () => {
    const good = encryptFlowRequestForTest({ version: '3.0', action: 'ping' }, pair.publicKeyPem);
    for (const raw of ['{not json', '[]', '{}', JSON.stringify({ ...good, initial_vector: 7 }), JSON.stringify({ ...good, encrypted_aes_key: '!!!' })]) {
      const sent = await send(null, { raw });
      expect(sent.status).toBe(400);
      expect(['invalid_json', 'invalid_request']).toContain(errorOf(sent).code);
    }
    // Decrypts fine, but is not a Flows request.
    for (const payload of [{ version: '3.0', action: 'navigate', flow_token: token }, { version: '3.0', action: 'INIT' }, 'just a string']) {
      const sent = await send(payload);
      expect(sent.status).toBe(400);
      expect(errorOf(sent).code).toBe('invalid_request');
    }
    const unknownScreen = await send(exchange('NOPE', {}));
    expect(unknownScreen.status).toBe(400);
    expect(errorOf(unknownScreen).code).toBe('unknown_screen');
    const badData = await send(exchange('CUSTOMISE', { presentation_id: 42, group_1: { x: 1 } }));
    expect(badData.status).toBe(400);
    expect(errorOf(badData).code).toBe('invalid_request');
  });

  it('only POST is served; other methods get the JSON 404', async () => {
    const res = await fetch(`${api.url}/flows/whatsapp`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('not_found');
  });
});

describe('POST /flows/whatsapp: product customisation', () => {
  it('INIT returns the Nairobi pizza’s sizes and modifier groups from the database', async () => {
    const sent = await send(action('INIT'));
    expect(sent.status).toBe(200);
    expect(sent.answer?.screen).toBe('CUSTOMISE');
    const data = sent.answer?.data as Record<string, unknown>;
    expect(data).toMatchObject({ product_id: PIZZA, product_name: 'Margherita Pizza', has_sizes: true, price_from: 'KES 900' });
    expect(data.sizes).toEqual([
      { id: 'nairobi-pizza-small', title: 'Small', description: 'KES 900' },
      { id: 'nairobi-pizza-medium', title: 'Medium', description: 'KES 1,200' },
      { id: 'nairobi-pizza-large', title: 'Large', description: 'KES 1,500' },
    ]);
    expect(data).toMatchObject({ group_1_visible: true, group_1_id: 'nairobi-pizza-crust', group_1_name: 'Crust', group_1_label: 'Crust (choose 1)', group_1_required: true, group_1_min: 1, group_1_max: 1 });
    expect(data.group_1_options).toEqual([{ id: 'nairobi-pizza-crust-crust-thin', title: 'Thin' }, { id: 'nairobi-pizza-crust-crust-thick', title: 'Thick', description: '+KES 50' }]);
    expect(data).toMatchObject({ group_2_visible: true, group_2_name: 'Add-ons', group_2_label: 'Add-ons (up to 3)', group_2_required: false, group_2_min: 0, group_2_max: 3 });
    expect((data.group_2_options as { id: string }[]).map((o) => o.id)).toEqual(['nairobi-pizza-addons-addon-cheese', 'nairobi-pizza-addons-addon-mushroom', 'nairobi-pizza-addons-addon-olives', 'nairobi-pizza-addons-addon-pepperoni']);
    expect(data).toMatchObject({ group_3_visible: false, group_3_options: [], group_4_visible: false });
    expect(data.error_message).toBeUndefined();
    // Seed 002: the first size is picked already; the photo (base64 for the Image component) when it can be fetched.
    expect(data.default_size).toBe('nairobi-pizza-small');
    expect(typeof data.has_image).toBe('boolean');
    expect(Buffer.from(String(data.product_image), 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('answers every data field the committed Flow JSON declares, with its type', async () => {
    const flow = JSON.parse(readFileSync(new URL('../../flows/customise-product.json', import.meta.url), 'utf8')) as { screens: { id: string; data: Record<string, { type: string }> }[] };
    const init = (await send(action('INIT'))).answer?.data as Record<string, unknown>;
    const summary = (await send(exchange('CUSTOMISE', { presentation_id: 'nairobi-pizza-large', group_1: ['nairobi-pizza-crust-crust-thin'] }))).answer?.data as Record<string, unknown>;
    const typeOf = (v: unknown) => (Array.isArray(v) ? 'array' : typeof v);
    for (const [screen, data] of [['CUSTOMISE', init], ['SUMMARY', summary]] as const) {
      const declared = flow.screens.find((s) => s.id === screen)!.data;
      for (const [key, schema] of Object.entries(declared)) expect([screen, key, typeOf(data[key])]).toEqual([screen, key, schema.type]);
    }
  });

  it('BACK shows the customise screen again', async () => {
    const sent = await send(action('BACK', { screen: 'SUMMARY' }));
    expect(sent.status).toBe(200);
    expect(sent.answer?.screen).toBe('CUSTOMISE');
  });

  it('data_exchange prices the choice from the database: Medium + thick crust + extra cheese = KES 1,400', async () => {
    const sent = await send(exchange('CUSTOMISE', { presentation_id: 'nairobi-pizza-medium', group_1: 'nairobi-pizza-crust-crust-thick', group_2: ['nairobi-pizza-addons-addon-cheese'] }));
    expect(sent.status).toBe(200);
    expect(sent.answer?.screen).toBe('SUMMARY');
    const data = sent.answer?.data as Record<string, unknown>;
    expect(data).toMatchObject({
      item_name: 'Margherita Pizza (Medium)',
      total: 'KES 1,400',
      total_amount: 140000,
      currency: 'KES',
      presentation_id: 'nairobi-pizza-medium',
      option_ids: ['nairobi-pizza-crust-crust-thick', 'nairobi-pizza-addons-addon-cheese'],
      note: 'Price includes tax. Delivery, if any, is added at checkout.',
    });
    expect(data.lines).toEqual([
      { id: 'nairobi-pizza-medium', label: 'Margherita Pizza (Medium)', amount: 120000, display: 'KES 1,200' },
      { id: 'nairobi-pizza-crust-crust-thick', label: 'Crust: Thick', amount: 5000, display: '+KES 50' },
      { id: 'nairobi-pizza-addons-addon-cheese', label: 'Add-ons: Extra cheese', amount: 15000, display: '+KES 150' },
    ]);
    expect(data.breakdown).toBe('Margherita Pizza (Medium): KES 1,200\nCrust: Thick: +KES 50\nAdd-ons: Extra cheese: +KES 150\nTotal: KES 1,400');
  });

  it('reads the price from the database as it is now, not from a cached copy', async () => {
    await sql(api.db.orm, 'update presentation set price = ? where id = ?', [130000, 'nairobi-pizza-medium']);
    try {
      const sent = await send(exchange('CUSTOMISE', { presentation_id: 'nairobi-pizza-medium', option_ids: ['nairobi-pizza-crust-crust-thin'] }));
      expect((sent.answer?.data as Record<string, unknown>).total_amount).toBe(130000);
    } finally {
      await sql(api.db.orm, 'update presentation set price = ? where id = ?', [120000, 'nairobi-pizza-medium']);
    }
  });

  it('a choice that breaks the rules goes back to the customise screen with an error_message', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ group_1: 'nairobi-pizza-crust-crust-thin' }, /size/],
      [{ presentation_id: 'nairobi-pizza-large' }, /Crust: choose 1/],
      [{ presentation_id: 'nairobi-pizza-large', group_1: ['nairobi-pizza-crust-crust-thin', 'nairobi-pizza-crust-crust-thick'] }, /Crust: choose 1/],
      [{ presentation_id: 'nairobi-pizza-large', group_1: 'nairobi-pizza-crust-crust-thin', group_2: ['nairobi-pizza-addons-addon-cheese', 'nairobi-pizza-addons-addon-mushroom', 'nairobi-pizza-addons-addon-olives', 'nairobi-pizza-addons-addon-pepperoni'] }, /Add-ons: choose 0–3/],
      [{ presentation_id: 'nairobi-pizza-large', group_1: 'nairobi-pizza-crust-crust-thin', option_ids: ['harare-maize'] }, /unknown option/],
      // Another product's size.
      [{ presentation_id: 'no-such-size', group_1: 'nairobi-pizza-crust-crust-thin' }, /size/],
    ];
    for (const [data, message] of cases) {
      const sent = await send(exchange('CUSTOMISE', data));
      expect(sent.status).toBe(200);
      expect(sent.answer?.screen).toBe('CUSTOMISE');
      expect(String((sent.answer?.data as Record<string, unknown>).error_message)).toMatch(message);
    }
  });

  it('confirming the summary finishes the flow with the choice in extension_message_response.params', async () => {
    const sent = await send(exchange('SUMMARY', { presentation_id: 'nairobi-pizza-large', option_ids: ['nairobi-pizza-addons-addon-pepperoni', 'nairobi-pizza-crust-crust-thin'] }));
    expect(sent.status).toBe(200);
    expect(sent.answer).toEqual({
      version: '3.0',
      screen: 'SUCCESS',
      data: {
        extension_message_response: {
          params: { flow_token: token, productId: PIZZA, presentationId: 'nairobi-pizza-large', optionIds: ['nairobi-pizza-crust-crust-thin', 'nairobi-pizza-addons-addon-pepperoni'] },
        },
      },
    });
  });

  it('a summary whose choice no longer holds goes back to the customise screen', async () => {
    const sent = await send(exchange('SUMMARY', { presentation_id: 'nairobi-pizza-large', option_ids: ['nairobi-pizza-crust-crust-thin', 'nairobi-pizza-crust-crust-thick'] }));
    expect(sent.answer?.screen).toBe('CUSTOMISE');
    expect((sent.answer?.data as Record<string, unknown>).error_message).toMatch(/Crust/);
  });

  it('a product without sizes or options: INIT and a one-tap confirm', async () => {
    const coffee = mint('nairobi-coffee');
    const init = await send({ ...action('INIT'), flow_token: coffee });
    expect(init.answer?.data).toMatchObject({ has_sizes: false, sizes: [], price_from: 'KES 1,500', group_1_visible: false });
    const done = await send(exchange('SUMMARY', {}, coffee));
    expect((done.answer?.data as { extension_message_response: unknown }).extension_message_response).toEqual({
      params: { flow_token: coffee, productId: 'nairobi-coffee', optionIds: [] },
    });
  });

  it('a forged or foreign flow token gets 427 with an encrypted error_msg, for every action', async () => {
    const parts = token.split(':');
    const forged = [
      mint(PIZZA, { secret: 'not-the-secret-of-this-shop' }),
      [...parts.slice(0, 3), 'nairobi-coffee', ...parts.slice(4)].join(':'),
      [...parts.slice(0, 2), 'harare', ...parts.slice(3)].join(':'),
      'nairobi:nairobi-pizza-margherita',
      'anything',
    ];
    for (const t of forged) {
      for (const payload of [{ ...action('INIT'), flow_token: t }, exchange('CUSTOMISE', { presentation_id: 'nairobi-pizza-small', group_1: 'nairobi-pizza-crust-crust-thin' }, t), exchange('SUMMARY', {}, t)]) {
        const sent = await send(payload);
        expect(sent.status).toBe(427);
        expect(sent.answer).toEqual({ error_msg: expect.stringMatching(/no longer valid/) });
      }
    }
    // Validly signed, but the product is not this shop's.
    const foreign = await send({ ...action('INIT'), flow_token: mint(PIZZA, { shopId: 'harare' }) });
    expect(foreign.status).toBe(427);
    expect(foreign.answer?.error_msg).toMatch(/no longer available/);
  });

  it('a stale token (past its expiry) gets 427 and the customer is asked to start again', async () => {
    const stale = mint(PIZZA, { now: Date.now() - 25 * 3600_000 });
    for (const payload of [{ ...action('INIT'), flow_token: stale }, exchange('SUMMARY', { presentation_id: 'nairobi-pizza-large', option_ids: ['nairobi-pizza-crust-crust-thin'] }, stale)]) {
      const sent = await send(payload);
      expect(sent.status).toBe(427);
      expect(sent.answer?.error_msg).toMatch(/expired/);
    }
  });

  it('427 when the product has been withdrawn since the flow was sent', async () => {
    await sql(api.db.orm, 'update product set available = false where id = ?', ['nairobi-honey']);
    const honey = mint('nairobi-honey');
    const sent = await send({ ...action('INIT'), flow_token: honey });
    expect(sent.status).toBe(427);
    expect(sent.answer?.error_msg).toMatch(/no longer available/);
  });

  it('acknowledges error notifications', async () => {
    const sent = await send(exchange('SUMMARY', { error: 'invalid-screen-data', error_message: 'total_amount should be a string' }));
    expect(sent.status).toBe(200);
    expect(sent.answer).toEqual({ version: '3.0', data: { acknowledged: true } });
  });
});

describe('POST /flows/whatsapp: endpoint key', () => {
  const servers: TestServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  async function serve(config: Config): Promise<string> {
    const server = await startServer(createApp({ config, orm: api.db.orm, temporal: api.temporal.client, payments: new PaymentProviders(config) }));
    servers.push(server);
    return server.url;
  }

  it('sandbox without WHATSAPP_FLOWS_PRIVATE_KEY: a key pair is generated under the data dir on first use and kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'duka-flows-http-'));
    dirs.push(dir);
    const url = await serve(testConfig({ DUKA_DATA_DIR: dir }));
    // The client does not know the key yet: 421, which is what makes Meta's client re-fetch it.
    expect((await send({ version: '3.0', action: 'ping' }, { url })).status).toBe(421);
    const publicKeyPem = readFileSync(join(dir, SANDBOX_FLOWS_PUBLIC_KEY_FILE), 'utf8');
    const ping = await send({ version: '3.0', action: 'ping' }, { url, publicKeyPem });
    expect(ping.answer).toEqual({ version: '3.0', data: { status: 'active' } });
    // A restarted app on the same data dir uses the same key.
    const again = await serve(testConfig({ DUKA_DATA_DIR: dir }));
    expect((await send({ version: '3.0', action: 'ping' }, { url: again, publicKeyPem })).status).toBe(200);
  });

  it('503 when Flows has no key outside the sandbox', async () => {
    const config = loadConfig({
      SANDBOX: 'off',
      WHATSAPP_ACCESS_TOKEN: 'token',
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'verify',
      CUSTOMER_REF_SECRET: 'customer-ref-secret-for-tests',
    });
    const sent = await send({ version: '3.0', action: 'ping' }, { url: await serve(config) });
    expect(sent.status).toBe(503);
    expect(errorOf(sent).code).toBe('flows_not_configured');
  });

  it('a WHATSAPP_FLOWS_PRIVATE_KEY that cannot be parsed stops startup with a ConfigError', () => {
    expect(() => flowsRouter({ config: testConfig({ WHATSAPP_FLOWS_PRIVATE_KEY: 'not a pem' }), orm: api.db.orm })).toThrow(ConfigError);
  });
});
