import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ADMIN_TOKEN, bearer, errorCode, json, startApi, type ApiHarness } from './support.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => api.temporal.reset());

describe('health and readiness', () => {
  it('GET /health answers 200 {status:"ok"}', async () => {
    const res = await fetch(`${api.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /ready is 200 when PostgreSQL and Temporal answer', async () => {
    const res = await fetch(`${api.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok' } });
  });

  it('GET /ready is 503 naming Temporal when it fails', async () => {
    api.temporal.on.systemInfo = async () => {
      throw new Error('14 UNAVAILABLE: connection refused');
    };
    const res = await fetch(`${api.url}/ready`);
    expect(res.status).toBe(503);
    const body = await json(res);
    expect(body.checks).toEqual({ database: 'ok', temporal: 'failed' });
    expect(body.error).toMatchObject({ code: 'not_ready' });
    expect(String((body.error as { message: string }).message)).toMatch(/temporal/);
  });

  it('GET /ready is 503 when Temporal does not answer within 2 s', async () => {
    api.temporal.on.systemInfo = () => new Promise(() => {});
    const started = Date.now();
    const res = await fetch(`${api.url}/ready`);
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect((await json(res)).checks).toEqual({ database: 'ok', temporal: 'failed' });
  });
});

describe('request ids', () => {
  it('echoes a plain incoming x-request-id', async () => {
    const res = await fetch(`${api.url}/health`, { headers: { 'x-request-id': 'lb-1234' } });
    expect(res.headers.get('x-request-id')).toBe('lb-1234');
  });

  it('makes one when absent or unsafe', async () => {
    const a = await fetch(`${api.url}/health`);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const b = await fetch(`${api.url}/health`, { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(b.headers.get('x-request-id')).not.toBe('bad id with spaces');
  });
});

describe('error shape', () => {
  it('unknown routes are 404 JSON', async () => {
    const res = await fetch(`${api.url}/nope`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await errorCode(res)).toBe('not_found');
  });

  it('malformed JSON is 400, never 5xx, and reaches no workflow', async () => {
    const res = await fetch(`${api.url}/api/admin/orders/NBO-1/cancel`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: '{"reason": ',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_json');
    expect(api.temporal.callCount).toBe(0);
  });

  it('a body over 1 MB is 413 on JSON routes', async () => {
    const res = await fetch(`${api.url}/api/orders`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('payload_too_large');
  });

  it('a body over 1 MB is 413 on webhooks too', async () => {
    for (const path of ['/webhooks/whatsapp', '/webhooks/razorpay', '/webhooks/paynow']) {
      const res = await fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1024 * 1024 + 10) });
      expect(res.status).toBe(413);
      expect(await errorCode(res)).toBe('payload_too_large');
    }
    expect(api.temporal.callCount).toBe(0);
  });

  it('a JSON body that is not an object is 400', async () => {
    const res = await fetch(`${api.url}/api/orders`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' },
      body: '"just a string"',
    });
    expect(res.status).toBe(400);
    await errorCode(res);
  });

  it('a wrong content type is a 400 validation error, not a crash', async () => {
    const res = await fetch(`${api.url}/api/orders`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_request');
  });

  it('a malformed percent-encoding in a path parameter is 400', async () => {
    const res = await fetch(`${api.url}/api/admin/orders/%E0%A4%A`, { headers: bearer(ADMIN_TOKEN) });
    expect(res.status).toBe(400);
    await errorCode(res);
  });

  it('repeated query parameters are 400, not a crash', async () => {
    const res = await fetch(`${api.url}/api/admin/orders?limit=1&limit=2&status=PAID&status=CART`, { headers: bearer(ADMIN_TOKEN) });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_request');
  });

  it('an unsupported content encoding is 415', async () => {
    const res = await fetch(`${api.url}/api/orders`, {
      method: 'POST',
      headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json', 'content-encoding': 'br-nope' },
      body: '{}',
    });
    expect(res.status).toBe(415);
    await errorCode(res);
  });
});
