import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { codecRouter, uiOrigins } from '../../lib/codec-server.ts';
import { EncryptionCodec, parseCodecKeys } from '../../lib/data-converter.ts';
import { errorHandler, notFoundHandler } from '../../api/errors.ts';
import { TEST_PAYLOAD_CODEC_KEY } from '../helpers/codec.ts';

const UI = 'http://localhost:8233';
const ADMIN = 'codec-test-admin-token-0123';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The remote codec endpoint as the Temporal UI and `temporal --codec-endpoint` call it. */
describe('codec endpoint (/codec/encode, /codec/decode)', () => {
  const servers: Server[] = [];
  const urls: Record<'open' | 'guarded', string> = { open: '', guarded: '' };
  beforeAll(async () => {
    for (const kind of ['open', 'guarded'] as const) {
      const app = express();
      const codec = new EncryptionCodec(parseCodecKeys(TEST_PAYLOAD_CODEC_KEY));
      app.use('/codec', codecRouter({ codec, uiOrigins: uiOrigins(UI), open: kind === 'open', adminToken: ADMIN }));
      app.use(notFoundHandler);
      app.use(errorHandler);
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      servers.push(server);
      urls[kind] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/codec`;
    }
  });
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', origin: UI, 'x-namespace': 'default', ...headers }, body: JSON.stringify(body) });

  it('round-trips payloads: encode hides the value, decode gives it back; a plain payload decodes as it is', async () => {
    const plain = { metadata: { encoding: b64('json/plain') }, data: b64('"254712345678"') };
    const encoded = await post(`${urls.open}/encode`, { payloads: [plain] });
    expect(encoded.status).toBe(200);
    expect(encoded.headers.get('access-control-allow-origin')).toBe(UI);
    const { payloads } = (await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(payloads[0]!.data, 'base64').toString('latin1')).not.toContain('254712345678');
    const decoded = await post(`${urls.open}/decode`, { payloads: [...payloads, plain] });
    expect(await decoded.json()).toEqual({ payloads: [plain, plain] });
  });

  it('answers CORS only to the Temporal UI origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${urls.open}/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
    const ui = await preflight(UI);
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ui.headers.get('access-control-allow-headers')).toMatch(/X-Namespace/i);
    expect((await preflight('http://127.0.0.1:8233')).headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
    const other = await post(`${urls.open}/decode`, { payloads: [] }, { origin: 'https://evil.example' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('outside the sandbox takes only the admin token; bad input is a 400, never a 5xx', async () => {
    expect((await post(`${urls.guarded}/decode`, { payloads: [] })).status).toBe(401);
    expect((await post(`${urls.guarded}/decode`, { payloads: [] }, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(`${urls.guarded}/decode`, { payloads: [] }, { authorization: `Bearer ${ADMIN}` })).status).toBe(200);
    const forged = { metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('0000000000000000') }, data: b64('x'.repeat(40)) };
    const refused = await post(`${urls.open}/decode`, { payloads: [forged] });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('undecodable');
    expect((await post(`${urls.open}/decode`, { payloads: 'nope' })).status).toBe(400);
    expect((await fetch(`${urls.open}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })).status).toBe(400);
  });
});
