import type http from 'node:http';
import { createHash, createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { signMetaPayload } from '../../providers/whatsapp/signature.ts';
import { AUTH_FAILURES, MAX_REFUSAL_BYTES, SERVER_LIMITS } from '../../api/limits.ts';
import { APP_SECRET, ADMIN_TOKEN, bearer, errorCode, sql, startApi, type ApiHarness } from './support.ts';

/**
 * The causes of 5xx and endless retries found by sending hostile requests in bulk (issue 12): each is refused at the
 * edge with a 4xx, or degraded to something duka can store, and nothing reaches PostgreSQL that it would refuse.
 */
const NAIROBI = '100000000000001';
const CUSTOMER = '254712345678';
const RAZORPAY_SECRET = 'razorpay-secret-for-tests';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => api.temporal.reset());

function webhook(value: Record<string, unknown>): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: NAIROBI }, ...value } }] }],
  });
}

const postSigned = (raw: string) =>
  fetch(`${api.url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, APP_SECRET) }, body: raw });

const text = (id: string, body: string, extra: Record<string, unknown> = {}) => ({ from: CUSTOMER, id, timestamp: '1764000000', type: 'text', text: { body }, ...extra });

async function messageRows(wamid: string) {
  return sql<{ status: string; payload: unknown }>(api.db.orm, 'select status, payload from message where wa_message_id = ?', [wamid]);
}

describe('NUL characters', () => {
  it('a signed WhatsApp message with \\u0000 in its text is handed off without it (was a 503 from the jsonb insert)', async () => {
    const raw = webhook({ contacts: [{ wa_id: CUSTOMER, profile: { name: 'NAME' } }], messages: [text('wamid.NUL-1', 'TEXT')] })
      .replace('NAME', 'Ami\\u0000na')
      .replace('TEXT', 'hi\\u0000 there\\u0000');
    const res = await postSigned(raw);
    expect(res.status).toBe(200);
    expect(api.temporal.signalWithStarts).toHaveLength(1);
    const message = api.temporal.signalWithStarts[0]!.options.signalArgs[0] as { content: { text: string }; contactName: string };
    expect(message.content.text).toBe('hi there');
    expect(message.contactName).toBe('Amina');
    expect(await messageRows('wamid.NUL-1')).toHaveLength(1);
  });

  it('a NUL in a path or query is 400 before any lookup', async () => {
    for (const path of ['/paid/abc%00def', '/api/admin/orders?status=%00', '/webhooks/mpesa/tok%00en', '/api/admin/orders/NBO%001001']) {
      const res = await fetch(`${api.url}${path}`, { method: path.startsWith('/webhooks') ? 'POST' : 'GET', headers: bearer(ADMIN_TOKEN) });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_url');
    }
  });

  it('an admin JSON body loses its NULs (keys too)', async () => {
    const res = await fetch(`${api.url}/api/admin/shops/nairobi/categories`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: '{"na\\u0000me":"Te\\u0000as","description":"Hot\\u0000 drinks"}',
    });
    expect([res.status, await res.text()]).toEqual([201, expect.stringContaining('"name":"Teas"')]);
  });

  it('a payment callback holding NUL is 400 and stores nothing', async () => {
    const before = await sql<{ n: string }>(api.db.orm, 'select count(*) as n from payment_event');
    for (const [path, body, type] of [
      ['/webhooks/paynow', 'reference=NBO-1%00&status=Paid&hash=x', 'application/x-www-form-urlencoded'],
      ['/webhooks/razorpay', '{"event":"payment_link.paid","payload":{"payment_link":{"entity":{"reference_id":"a\\u0000"}}}}', 'application/json'],
      ['/webhooks/mpesa/sometoken', '{"Body":{"stkCallback":{"MerchantRequestID":"\u0000"}}}', 'application/json'],
    ] as const) {
      const res = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
      expect([path, res.status, await res.text()]).toEqual([path, 400, expect.stringContaining('NUL')]);
    }
    expect(await sql<{ n: string }>(api.db.orm, 'select count(*) as n from payment_event')).toEqual(before);
  });
});

describe('signed WhatsApp input duka cannot store', () => {
  it('a status longer than 255 characters, or with a timestamp that is no date, is dropped and answered 200', async () => {
    const raw = webhook({
      statuses: [
        { id: 'wamid.S-1', status: 'x'.repeat(300), timestamp: '1764000000', recipient_id: CUSTOMER },
        { id: 'wamid.S-2', status: 'read', timestamp: '99999999999999999999', recipient_id: CUSTOMER },
      ],
    });
    expect((await postSigned(raw)).status).toBe(200);
  });

  it('a message with a timestamp that is no date, or a sender or id over 255 characters, is dropped; the rest of the batch goes on', async () => {
    const raw = webhook({
      messages: [
        text('wamid.T-1', 'hi', { timestamp: '1e999' }),
        text('wamid.T-2', 'hi', { timestamp: 99999999999999 }),
        text('wamid.T-3', 'hi', { from: '2'.repeat(300) }),
        text(`wamid.${'4'.repeat(300)}`, 'hi'),
        text('wamid.T-5', 'the good one'),
      ],
    });
    expect((await postSigned(raw)).status).toBe(200);
    expect(api.temporal.signalWithStarts.map((c) => (c.options.signalArgs[0] as { id: string }).id)).toEqual(['wamid.T-5']);
  });

  it('a body nested 5,000 deep is 400; an nfm_reply whose response_json nests 5,000 deep becomes an empty flow answer', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const res = await postSigned(webhook({ messages: [text('wamid.D-1', 'hi', { extra: 'PLACEHOLDER' })] }).replace('"PLACEHOLDER"', deep));
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_json');

    const nfm = text('wamid.D-2', '', { type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow', response_json: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}` } } });
    expect((await postSigned(webhook({ messages: [nfm] }))).status).toBe(200);
    expect(api.temporal.signalWithStarts[0]!.options.signalArgs[0]).toMatchObject({ content: { kind: 'flow', response: {} } });
  });
});

describe('API input', () => {
  it('an admin list cursor that decodes to a date that does not exist is 400', async () => {
    const cursor = Buffer.from(JSON.stringify(['2026-13-45T99:00:00.000000Z', '00000000-0000-4000-8000-000000000000'])).toString('base64url');
    const feb30 = Buffer.from(JSON.stringify(['2026-02-30T10:00:00.000000Z', '00000000-0000-4000-8000-000000000000'])).toString('base64url');
    for (const c of [cursor, feb30]) {
      const res = await fetch(`${api.url}/api/admin/orders?cursor=${c}`, { headers: bearer(ADMIN_TOKEN) });
      expect(res.status).toBe(400);
    }
  });

  it('a JSON body nested deeper than the limit is 400', async () => {
    const res = await fetch(`${api.url}/api/admin/shops/nairobi/categories`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: `{"name":"x","description":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_json');
  });
});

describe('refusal records are bounded', () => {
  it('a forged Razorpay delivery is refused before its reference is looked up, and stored cut to 4 KB', async () => {
    const raw = JSON.stringify({ event: 'payment_link.paid', payload: { payment_link: { entity: { reference_id: 'NBO-none', padding: 'p'.repeat(60_000) } } } });
    const wrong = createHmac('sha256', 'not-the-secret').update(raw).digest('hex');
    const res = await fetch(`${api.url}/webhooks/razorpay`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-razorpay-signature': wrong }, body: raw });
    expect(res.status).toBe(403);
    const rows = await sql<{ len: number }>(api.db.orm, "select length(raw) as len from payment_event where provider = 'razorpay' and security order by received_at desc limit 1");
    expect(rows[0]!.len).toBeLessThan(MAX_REFUSAL_BYTES + 100);
    // A genuine signature with the same body still gets past the check.
    const good = createHmac('sha256', RAZORPAY_SECRET).update(raw).digest('hex');
    const ok = await fetch(`${api.url}/webhooks/razorpay`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-razorpay-signature': good }, body: raw });
    expect(ok.status).toBeLessThan(500);
    expect(ok.status).not.toBe(403);
  });

  it('forged M-Pesa callbacks add at most 60 rows a minute, then are only counted', async () => {
    const count = async () => Number((await sql<{ n: string }>(api.db.orm, "select count(*) as n from payment_event where provider = 'mpesa'"))[0]!.n);
    const before = await count();
    const body = JSON.stringify({ Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: 0, padding: 'x'.repeat(60_000) } } });
    const statuses = new Set<number>();
    for (let i = 0; i < 80; i++) {
      const token = createHash('sha256').update(String(i)).digest('hex');
      const res = await fetch(`${api.url}/webhooks/mpesa/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      statuses.add(res.status);
    }
    expect([...statuses].every((s) => s >= 400 && s < 500)).toBe(true);
    const added = (await count()) - before;
    // The budget is per minute: a run that crosses a minute boundary may store up to two minutes' worth.
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThanOrEqual(60 * 2);
    expect(added).toBeLessThan(80);
    const sizes = await sql<{ len: number }>(api.db.orm, "select max(length(raw)) as len from payment_event where provider = 'mpesa'");
    expect(sizes[0]!.len).toBeLessThan(MAX_REFUSAL_BYTES + 100);
  });
});

describe('the HTTP server', () => {
  it('every listen of the app has request and header timeouts', async () => {
    const server = await new Promise<http.Server>((resolve) => {
      const s = api.server.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      expect(server.requestTimeout).toBe(SERVER_LIMITS.requestTimeout);
      expect(server.headersTimeout).toBe(SERVER_LIMITS.headersTimeout);
      expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('admin authentication failures', () => {
  let own: ApiHarness;
  beforeAll(async () => {
    own = await startApi();
  });
  afterAll(async () => {
    await own?.close();
  });

  it('are limited per client: past the limit, 429 with Retry-After, even for a good token', async () => {
    for (let i = 0; i < AUTH_FAILURES.limit; i++) {
      const res = await fetch(`${own.url}/api/admin/orders`, { headers: bearer(`wrong-${i}`) });
      expect(res.status).toBe(401);
    }
    const limited = await fetch(`${own.url}/api/admin/orders`, { headers: bearer('wrong-again') });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await errorCode(limited)).toBe('too_many_requests');
    expect((await fetch(`${own.url}/api/admin/orders`, { headers: bearer(ADMIN_TOKEN) })).status).toBe(429);
  });

  it('a client that only uses a good token is never limited', async () => {
    const fresh = await startApi();
    try {
      for (let i = 0; i < AUTH_FAILURES.limit + 5; i++) expect((await fetch(`${fresh.url}/api/admin/orders`, { headers: bearer(ADMIN_TOKEN) })).status).toBe(200);
    } finally {
      await fresh.close();
    }
  });
});
