import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGhalaSimulator } from '../../sandbox/providers/ghala.ts';
import { createMpesaSimulator } from '../../sandbox/providers/mpesa.ts';

// The simulators' Bearer checks (sandbox/providers/bearer.ts): each refuses in its provider's own error shape.

let server: Server;
let url: string;

beforeAll(async () => {
  const app = express();
  app.use('/ghala', createGhalaSimulator({ apiKey: 'ghala-key', webhookSecret: 's', webhookUrl: 'http://127.0.0.1:9/none', signatureScheme: 'hex' }).router);
  app.use('/mpesa', createMpesaSimulator({ consumerKey: 'ck', consumerSecret: 'cs', shortcode: '174379', passkey: 'pk', tokenLifetimeSeconds: 1 }).router);
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function call(path: string, authorization?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${path}`, {
    method: path.includes('stkpush') ? 'POST' : 'GET',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    ...(path.includes('stkpush') ? { body: '{}' } : {}),
  });
  return { status: res.status, body: await res.json() };
}

describe('Ghala simulator', () => {
  test.each([undefined, 'Bearer wrong-key', 'Basic ghala-key', 'Bearer ghala-key extra'])('refuses authorization %s with 401', async (authorization) => {
    expect(await call('/ghala/v1/orders', authorization)).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'Invalid API key' } } });
  });

  test('takes its API key', async () => {
    expect(await call('/ghala/v1/orders', 'Bearer ghala-key')).toEqual({ status: 200, body: { data: [] } });
  });
});

describe('M-Pesa simulator', () => {
  const stk = '/mpesa/mpesa/stkpush/v1/processrequest';

  test('no Bearer header: Invalid Authentication Header; an unknown token: Invalid Access Token', async () => {
    for (const authorization of [undefined, 'Basic abc']) {
      expect(await call(stk, authorization)).toMatchObject({ status: 401, body: { errorCode: '404.001.04', errorMessage: 'Invalid Authentication Header' } });
    }
    expect(await call(stk, 'Bearer not-issued')).toMatchObject({ status: 401, body: { errorCode: '404.001.03', errorMessage: 'Invalid Access Token' } });
  });

  test('an issued token passes until it expires', async () => {
    const basic = `Basic ${Buffer.from('ck:cs').toString('base64')}`;
    const { body } = await call('/mpesa/oauth/v1/generate?grant_type=client_credentials', basic);
    const token = (body as { access_token: string }).access_token;
    // Past the check, the empty body is refused for what it lacks, not for the token.
    expect(await call(stk, `Bearer ${token}`)).toMatchObject({ status: 400, body: { errorMessage: 'Bad Request - Invalid BusinessShortCode' } });
    // The token lives 1 s (tokenLifetimeSeconds above): past that, the same token is refused.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await call(stk, `Bearer ${token}`)).toMatchObject({ status: 401, body: { errorCode: '404.001.03' } });
  });
});
