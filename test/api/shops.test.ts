import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { logger } from '../../lib/logger.ts';
import { openSecrets } from '../../lib/credentials.ts';
import { Shop } from '../../db/entities.ts';
import { ShopDirectory } from '../../api/shops.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { WhatsAppClient } from '../../providers/whatsapp/client.ts';
import { createMessagingActivities } from '../../activities/messaging.ts';
import type { ActivityDeps } from '../../activities/deps.ts';
import type { InitiateInput } from '../../providers/payments/types.ts';
import { ADMIN_TOKEN, bearer, errorCode, json, sql, startApi, testConfig, type ApiHarness } from './support.ts';

/** Back office § shops: create, read, update, deactivate, tokens, write-only credentials, scope, audit. */
const KEY = randomBytes(32).toString('hex');
const SECRETS = {
  paynowKey: 'paynow-key-SECRET-7f3a91',
  waToken: 'wa-token-SECRET-c0ffee',
  waAppSecret: 'wa-app-SECRET-51d2',
  razorpaySecret: 'rzp-key-SECRET-9b1e',
  razorpayWebhook: 'rzp-hook-SECRET-0a7c',
  shopifyToken: 'shpat_SECRET_44e1',
};
const secretValues = Object.values(SECRETS);

let api: ApiHarness;
const logLines: string[] = [];
let restoreLog: () => void;

const send = (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) =>
  fetch(`${api.url}${path}`, { method, headers: { ...bearer(token), 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
const get = (path: string, token = ADMIN_TOKEN) => send('GET', path, undefined, token);

/** Every answer's text, checked for secrets at the end. */
const answers: string[] = [];
async function body(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  answers.push(text);
  return JSON.parse(text) as Record<string, unknown>;
}

const NEW_SHOP = {
  id: 'mutare-solar',
  name: 'Mutare Solar',
  phoneNumberId: '100000000000077',
  displayPhone: '263771000077',
  currency: 'USD',
  country: 'ZW',
  timezone: 'Africa/Harare',
  languages: ['en', 'sw'],
  paymentMethods: ['ecocash', 'razorpay_link', 'cash'],
  deliveryFee: 500,
  taxRateBasisPoints: 1500,
  preparationMinutes: 45,
  pickupAvailable: false,
  menuExtras: [
    { kind: 'faq', title: 'Warranty', reply: 'Two years on every panel.' },
    { kind: 'faq', title: 'Manuals', url: 'https://example.com/manuals' },
    { kind: 'request', title: 'Request installation', prompt: 'Tell us your address and roof type.' },
  ],
  whatsapp: { accessToken: SECRETS.waToken, appSecret: SECRETS.waAppSecret, businessAccountId: '300000000000077' },
  credentials: {
    ecocash: { integrationId: '4242', integrationKey: SECRETS.paynowKey },
    razorpay: { keyId: 'rzp_live_mutare', keySecret: SECRETS.razorpaySecret, webhookSecret: SECRETS.razorpayWebhook },
  },
  shopify: { shopDomain: 'mutare-solar.myshopify.com', accessToken: SECRETS.shopifyToken },
};

beforeAll(async () => {
  api = await startApi({ config: testConfig({ CREDENTIALS_KEY: KEY }) });
  // Every log line of the API, at every level, for the "never logged" check.
  const stream = (logger as unknown as Record<symbol, { write(s: string): boolean }>)[pino.symbols.streamSym]!;
  const original = stream.write.bind(stream);
  const level = logger.level;
  logger.level = 'trace';
  stream.write = (line: string) => {
    logLines.push(line);
    return true;
  };
  restoreLog = () => {
    stream.write = original;
    logger.level = level;
  };
});

afterAll(async () => {
  restoreLog();
  await api.close();
});

describe('shops', () => {
  it('creates a shop: 201 with the shop, credentials sealed in the database and only named in the answer', async () => {
    const res = await send('POST', '/api/admin/shops', NEW_SHOP);
    expect(res.status).toBe(201);
    const shop = await body(res);
    expect(shop).toMatchObject({
      id: 'mutare-solar',
      name: 'Mutare Solar',
      active: true,
      currency: 'USD',
      defaultLanguage: 'en',
      languages: ['en', 'sw'],
      orderPrefix: 'MUT',
      paymentMethods: ['ecocash', 'razorpay_link', 'cash'],
      deliveryFee: 500,
      taxRateBasisPoints: 1500,
      preparationMinutes: 45,
      pickupAvailable: false,
      deliveryAvailable: true,
      menuExtras: NEW_SHOP.menuExtras,
      whatsapp: { businessAccountId: '300000000000077', accessTokenSet: true, appSecretSet: true },
      credentialsSet: ['paynow', 'razorpay'],
      shopify: { shopDomain: 'mutare-solar.myshopify.com', accessTokenSet: true },
    });

    const [row] = await sql<{ credentials: string; provider_settings: unknown }>(api.db.orm, 'select credentials, provider_settings::text from shop where id = ?', ['mutare-solar']);
    for (const secret of secretValues) expect(JSON.stringify(row)).not.toContain(secret);
    const opened = openSecrets(Buffer.from(KEY, 'hex'), 'mutare-solar', row!.credentials);
    expect(opened.payments?.paynow?.integrationKey).toBe(SECRETS.paynowKey);
    expect(opened.whatsapp?.accessToken).toBe(SECRETS.waToken);
    // Sealed to this shop: the same value does not open as another shop's.
    expect(() => openSecrets(Buffer.from(KEY, 'hex'), 'harare', row!.credentials)).toThrow();
  });

  it('reads it back, alone or in the list', async () => {
    const one = await get('/api/admin/shops/mutare-solar');
    expect(one.status).toBe(200);
    expect(await body(one)).toMatchObject({ id: 'mutare-solar', credentialsSet: ['paynow', 'razorpay'] });
    const list = await body(await get('/api/admin/shops'));
    expect((list.shops as { id: string }[]).map((s) => s.id).sort()).toEqual(['harare', 'mutare-solar', 'nairobi', 'pune']);
    expect(await errorCode(await get('/api/admin/shops/nowhere'))).toBe('not_found');
  });

  it('refuses a phoneNumberId another shop has (409), on create and on update', async () => {
    const taken = await send('POST', '/api/admin/shops', { ...NEW_SHOP, id: 'other', phoneNumberId: '100000000000001' });
    expect(taken.status).toBe(409);
    expect(await errorCode(taken)).toBe('phone_number_taken');
    const moved = await send('PATCH', '/api/admin/shops/mutare-solar', { phoneNumberId: '100000000000002' });
    expect(moved.status).toBe(409);
    const again = await send('POST', '/api/admin/shops', NEW_SHOP);
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe('shop_exists');
  });

  it('answers bad input with 400 and what is wrong', async () => {
    const cases: unknown[] = [
      { ...NEW_SHOP, id: 'x1', phoneNumberId: '100000000000091', currency: 'EUR' },
      { ...NEW_SHOP, id: 'x2', phoneNumberId: '100000000000092', timezone: 'Mars/Olympus' },
      { ...NEW_SHOP, id: 'x3', phoneNumberId: '100000000000093', credentials: { cash: { key: 'x' } } },
      { ...NEW_SHOP, id: 'x4', phoneNumberId: '100000000000094', credentials: { mpesa: { consumerKey: 'k' } } },
      { ...NEW_SHOP, id: 'x5', phoneNumberId: '100000000000095', menuExtras: [{ kind: 'faq', title: 'Neither' }] },
      { ...NEW_SHOP, id: 'x6', phoneNumberId: '100000000000096', deliveryAvailable: false },
      { ...NEW_SHOP, id: 'x7', phoneNumberId: '100000000000097', defaultLanguage: 'sw', languages: ['en'] },
      { name: 'No number' },
    ];
    for (const c of cases) {
      const res = await send('POST', '/api/admin/shops', c);
      expect([res.status, await errorCode(res)]).toEqual([400, 'invalid_request']);
    }
    expect((await sql(api.db.orm, "select id from shop where id like 'x_'")).length).toBe(0);
  });

  it('updates fields and replaces one provider\'s credentials, keeping the others', async () => {
    const res = await send('PATCH', '/api/admin/shops/mutare-solar', { name: 'Mutare Solar Ltd', deliveryFee: 700, credentials: { paynow: { integrationId: '4243', integrationKey: `${SECRETS.paynowKey}-2` } } });
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ name: 'Mutare Solar Ltd', deliveryFee: 700, credentialsSet: ['paynow', 'razorpay'] });
    // Per-shop payment credentials reach the providers: the directory's settings and the registry's requests.
    const directory = new ShopDirectory(api.db.orm, { credentialsKey: api.config.credentialsKey });
    const entry = await directory.get('mutare-solar');
    expect(entry?.providerSettings.paynow).toMatchObject({ integrationId: '4243', integrationKey: `${SECRETS.paynowKey}-2` });
    expect(entry?.providerSettings.razorpay?.keyId).toBe('rzp_live_mutare');

    const seen: string[] = [];
    const capture = (async (_url: string | URL | Request, init?: RequestInit) => {
      seen.push(String(new Headers(init?.headers).get('authorization')));
      return new Response(JSON.stringify({ payment_links: [] }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const payments = new PaymentProviders(api.config, capture);
    const shop = await api.db.orm.em.fork().findOneOrFail(Shop, { id: 'mutare-solar' });
    const input = { amount: { amount: 100, currency: 'USD' }, method: 'razorpay_link', context: { reference: 'REF-1' } } as unknown as InitiateInput;
    await payments.forShop(shop, 'razorpay').recoverLost?.(input).catch(() => undefined);
    expect(seen[0]).toBe(`Basic ${Buffer.from(`rzp_live_mutare:${SECRETS.razorpaySecret}`).toString('base64')}`);
    const pune = await api.db.orm.em.fork().findOneOrFail(Shop, { id: 'pune' });
    await payments.forShop(pune, 'razorpay').recoverLost?.(input).catch(() => undefined);
    expect(seen[1]).toBe(`Basic ${Buffer.from(`${api.config.razorpay.keyId}:${api.config.razorpay.keySecret}`).toString('base64')}`);
  });

  it('sends WhatsApp calls with the shop\'s own access token, the environment\'s as fallback', async () => {
    const seen: string[] = [];
    const whatsapp = new WhatsAppClient({
      graphUrl: 'http://graph.test',
      apiVersion: 'v21.0',
      accessToken: 'environment-token',
      ratePerSecond: 80,
      fetch: (async (_url: string | URL | Request, init?: RequestInit) => {
        seen.push(String(new Headers(init?.headers).get('authorization')));
        return new Response('{"success":true}', { status: 200 });
      }) as typeof fetch,
    });
    const activities = createMessagingActivities({ orm: api.db.orm, whatsapp, config: api.config } as ActivityDeps);
    await activities.markRead({ phoneNumberId: NEW_SHOP.phoneNumberId, messageId: 'wamid.1' });
    await activities.markRead({ phoneNumberId: '100000000000001', messageId: 'wamid.2' });
    expect(seen).toEqual([`Bearer ${SECRETS.waToken}`, 'Bearer environment-token']);
  });

  it('removes credentials with null', async () => {
    const res = await send('PATCH', '/api/admin/shops/mutare-solar', { credentials: { razorpay_link: null }, shopify: null });
    expect(await body(res)).toMatchObject({ credentialsSet: ['paynow'], shopify: null });
  });

  it('deactivates with PATCH { active: false }: kept, shown inactive, no longer routed webhooks', async () => {
    const res = await send('PATCH', '/api/admin/shops/mutare-solar', { active: false });
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ id: 'mutare-solar', active: false });
    const directory = new ShopDirectory(api.db.orm, { credentialsKey: api.config.credentialsKey });
    expect(await directory.byPhoneNumberId(NEW_SHOP.phoneNumberId)).toBeUndefined();
    expect((await directory.get('mutare-solar'))?.active).toBe(false);
    const back = await send('PATCH', '/api/admin/shops/mutare-solar', { active: true });
    expect(await body(back)).toMatchObject({ active: true });
  });
});

describe('shop tokens', () => {
  let token: string;
  let tokenId: string;

  it('issues a token shown once; lists it by prefix only', async () => {
    const res = await send('POST', '/api/admin/shops/mutare-solar/tokens', { name: 'till' });
    expect(res.status).toBe(201);
    const issued = await body(res);
    token = issued.token as string;
    tokenId = issued.id as string;
    expect(token).toMatch(/^duka_[A-Za-z0-9_-]{32}$/);
    const list = await body(await get('/api/admin/shops/mutare-solar/tokens'));
    expect(list.tokens).toEqual([{ id: tokenId, name: 'till', prefix: token.slice(0, 12), createdAt: expect.any(String), revokedAt: null }]);
    expect(JSON.stringify(list)).not.toContain(token);
    const [row] = await sql<{ token_hash: string }>(api.db.orm, 'select token_hash from shop_token where id = ?', [tokenId]);
    expect(row!.token_hash).not.toContain(token);
  });

  it('a shop token sees and changes only its shop, and cannot create shops', async () => {
    const list = await body(await get('/api/admin/shops', token));
    expect((list.shops as { id: string }[]).map((s) => s.id)).toEqual(['mutare-solar']);
    expect((await get('/api/admin/shops/mutare-solar', token)).status).toBe(200);
    expect((await get('/api/admin/shops/harare', token)).status).toBe(403);
    expect((await get('/api/admin/shops/harare/tokens', token)).status).toBe(403);
    expect((await send('PATCH', '/api/admin/shops/harare', { name: 'Mine now' }, token)).status).toBe(403);
    expect((await send('POST', '/api/admin/shops/harare/tokens', {}, token)).status).toBe(403);
    const create = await send('POST', '/api/admin/shops', { ...NEW_SHOP, id: 'by-token', phoneNumberId: '100000000000088' }, token);
    expect([create.status, await errorCode(create)]).toEqual([403, 'forbidden']);
    expect((await send('PATCH', '/api/admin/shops/mutare-solar', { active: false }, token)).status).toBe(403);
    const own = await send('PATCH', '/api/admin/shops/mutare-solar', { preparationMinutes: 60 }, token);
    expect(own.status).toBe(200);
    expect(await body(own)).toMatchObject({ preparationMinutes: 60, active: true });
    expect((await get('/api/admin/audit?shop=harare', token)).status).toBe(403);
    expect((await get('/api/admin/orders?shop=harare', token)).status).toBe(403);
  });

  it('a revoked token gets 401 at once', async () => {
    const res = await send('DELETE', `/api/admin/shops/mutare-solar/tokens/${tokenId}`);
    expect(res.status).toBe(200);
    expect(await body(res)).toMatchObject({ id: tokenId, revokedAt: expect.any(String) });
    const after = await get('/api/admin/shops/mutare-solar', token);
    expect([after.status, await errorCode(after)]).toEqual([401, 'unauthorized']);
    expect((await send('DELETE', `/api/admin/shops/harare/tokens/${tokenId}`)).status).toBe(404);
    expect((await send('DELETE', '/api/admin/shops/mutare-solar/tokens/not-a-uuid')).status).toBe(404);
  });
});

describe('audit log', () => {
  it('records who changed what, with diffs that name secrets but never hold them', async () => {
    const res = await get('/api/admin/audit?shop=mutare-solar&limit=50');
    expect(res.status).toBe(200);
    const { entries } = (await body(res)) as { entries: { actor: string; entity: string; action: string; route: string; method: string; diff: Record<string, unknown>; at: string }[] };
    const summary = entries.map((e) => `${e.actor} ${e.method} ${e.entity} ${e.action}`).reverse();
    const tokenId = entries.find((e) => e.action === 'issue')!;
    expect(summary).toEqual([
      'admin POST shop create',
      'admin PATCH shop update',
      'admin PATCH shop update',
      'admin PATCH shop deactivate',
      'admin PATCH shop update',
      'admin POST shop_token issue',
      `${entries.find((e) => e.actor.startsWith('token:'))!.actor} PATCH shop update`,
      'admin DELETE shop_token revoke',
    ]);
    expect(tokenId.route).toBe('/api/admin/shops/:shopId/tokens');
    const rename = entries.find((e) => e.diff.name !== undefined && e.action === 'update')!;
    expect(rename.diff).toMatchObject({ name: { from: 'Mutare Solar', to: 'Mutare Solar Ltd' }, deliveryFee: { from: 500, to: 700 }, secrets: { 'credentials.paynow': 'set' } });
    const byToken = entries.find((e) => e.actor.startsWith('token:'))!;
    expect(byToken.actor).toMatch(/^token:[0-9a-f-]{36}$/);
    expect(byToken.diff).toEqual({ preparationMinutes: { from: 45, to: 60 } });
    // Admin reads across shops; nothing of another shop appears under this filter.
    const all = await body(await get('/api/admin/audit'));
    expect((all.entries as { shopId: string }[]).every((e) => e.shopId === 'mutare-solar')).toBe(true);
  });

  it('no secret is in any answer, audit entry or log line', async () => {
    const audit = await sql(api.db.orm, 'select diff::text from audit_entry');
    const everything = [...answers, ...logLines, JSON.stringify(audit)].join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of secretValues) expect(everything).not.toContain(secret);
  });
});

describe('auth', () => {
  it('still honours the legacy single shop token', async () => {
    const legacy = 'legacy-shop-token-0123456789';
    const { createHash } = await import('node:crypto');
    await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [createHash('sha256').update(legacy).digest('hex'), 'pune']);
    const res = await get('/api/admin/shops', legacy);
    expect((await json(res)).shops).toMatchObject([{ id: 'pune' }]);
  });
});
