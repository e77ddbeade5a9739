import * as c from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  FlowCryptoError,
  FlowRequestError,
  SANDBOX_FLOWS_KEY_FILE,
  SANDBOX_FLOWS_PUBLIC_KEY_FILE,
  decryptFlowRequest,
  decryptFlowResponse,
  encryptFlowRequestForTest,
  encryptFlowResponse,
  flipIv,
  flowErrorNotification,
  generateFlowsKeyPair,
  mintFlowToken,
  parseFlowsPrivateKey,
  resolveFlowsKey,
  sandboxFlowsKey,
  verifyFlowToken,
  checkFlowToken,
  FLOW_TOKEN_TTL_MS,
  type FlowRequestBody,
  type FlowsKeyPair,
} from '../../providers/whatsapp/flows.ts';

/**
 * protocols.md §2.3, copied as written: an independent implementation to cross-check ours against (the doc's snippet
 * was itself verified against Meta's WhatsApp-Flows-Tools encryption.js).
 */
function docDecryptFlow(body: FlowRequestBody, privateKey: c.KeyObject) {
  const aesKey = c.privateDecrypt({ key: privateKey, padding: c.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(body.encrypted_aes_key, 'base64'));
  const iv = Buffer.from(body.initial_vector, 'base64');
  const blob = Buffer.from(body.encrypted_flow_data, 'base64');
  const d = c.createDecipheriv('aes-128-gcm', aesKey, iv);
  d.setAuthTag(blob.subarray(blob.length - 16));
  const json = Buffer.concat([d.update(blob.subarray(0, blob.length - 16)), d.final()]).toString('utf8');
  return { request: JSON.parse(json) as unknown, aesKey, iv };
}
function docEncryptFlow(resp: unknown, aesKey: Buffer, iv: Buffer): string {
  const flipped = Buffer.from(iv.map((b) => b ^ 0xff));
  const e = c.createCipheriv('aes-128-gcm', aesKey, flipped);
  return Buffer.concat([e.update(JSON.stringify(resp), 'utf8'), e.final(), e.getAuthTag()]).toString('base64');
}
/** Meta's client side for the response: the JS example flips with `~byte` (Buffer.from keeps the low 8 bits). */
function metaFlip(iv: Buffer): Buffer {
  return Buffer.from([...iv].map((b) => ~b));
}

const SECRET = 'customer-ref-secret-for-tests';
const AES_KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const IV = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', 'hex');
const INIT = { version: '3.0', action: 'INIT', flow_token: 'tok-1' };

let pair: FlowsKeyPair;
let other: FlowsKeyPair;

beforeAll(async () => {
  [pair, other] = await Promise.all([generateFlowsKeyPair(), generateFlowsKeyPair()]);
});

function b64Tamper(b64: string, index: number): string {
  const buf = Buffer.from(b64, 'base64');
  const i = index < 0 ? buf.length + index : index;
  buf[i] = buf[i]! ^ 0x01;
  return buf.toString('base64');
}

describe('decryptFlowRequest / encryptFlowResponse (§2.3)', () => {
  it('round-trips a request and its response', () => {
    const body = encryptFlowRequestForTest(INIT, pair.publicKeyPem, { aesKey: AES_KEY, iv: IV });
    const { payload, aesKey, iv } = decryptFlowRequest(body, pair.privateKeyPem);
    expect(payload).toEqual(INIT);
    expect(aesKey.equals(AES_KEY)).toBe(true);
    expect(iv.equals(IV)).toBe(true);
    const response = { screen: 'CUSTOMISE', data: { product_name: 'Café ☕ Ünïcode' } };
    expect(decryptFlowResponse(encryptFlowResponse(response, aesKey, iv), aesKey, iv)).toEqual(response);
  });

  it('agrees byte for byte with the reference snippet in protocols.md and Meta’s ~byte IV flip', () => {
    const body = encryptFlowRequestForTest({ version: '3.0', action: 'ping' }, pair.publicKeyPem, { aesKey: AES_KEY, iv: IV });
    const reference = docDecryptFlow(body, c.createPrivateKey(pair.privateKeyPem));
    expect(reference.request).toEqual({ version: '3.0', action: 'ping' });
    const response = { version: '3.0', data: { status: 'active' } };
    expect(encryptFlowResponse(response, AES_KEY, IV)).toBe(docEncryptFlow(response, AES_KEY, IV));
    expect(flipIv(IV).equals(metaFlip(IV))).toBe(true);
    expect(flipIv(IV).toString('hex')).toBe('5f5e5d5c5b5a59585756555453525150');
    // Fixed vector: AES-128-GCM(000102…0f, flipped a0a1…af) of {"data":{"status":"active"}}, computed independently.
    const e = c.createCipheriv('aes-128-gcm', AES_KEY, Buffer.from('5f5e5d5c5b5a59585756555453525150', 'hex'));
    const expected = Buffer.concat([e.update('{"data":{"status":"active"}}', 'utf8'), e.final(), e.getAuthTag()]).toString('base64');
    expect(encryptFlowResponse({ data: { status: 'active' } }, AES_KEY, IV)).toBe(expected);
  });

  it('the response is encrypted with the flipped IV, not the request IV', () => {
    const out = Buffer.from(encryptFlowResponse({ a: 1 }, AES_KEY, IV), 'base64');
    const d = c.createDecipheriv('aes-128-gcm', AES_KEY, IV);
    d.setAuthTag(out.subarray(out.length - 16));
    d.update(out.subarray(0, out.length - 16));
    expect(() => d.final()).toThrow();
  });

  it('accepts a KeyObject, a PEM with literal \\n escapes, and Meta’s passphrase-encrypted PKCS#1 key', () => {
    const body = encryptFlowRequestForTest(INIT, pair.publicKeyPem);
    expect(decryptFlowRequest(body, c.createPrivateKey(pair.privateKeyPem)).payload).toEqual(INIT);
    expect(decryptFlowRequest(body, pair.privateKeyPem.replace(/\n/g, '\\n')).payload).toEqual(INIT);
    // keyGenerator.js: PKCS#1, des-ede3-cbc, passphrase.
    const encrypted = c.createPrivateKey(pair.privateKeyPem).export({ type: 'pkcs1', format: 'pem', cipher: 'des-ede3-cbc', passphrase: 'pass-phrase' }).toString();
    expect(encrypted).toMatch(/Proc-Type: 4,ENCRYPTED/);
    expect(decryptFlowRequest(body, encrypted, 'pass-phrase').payload).toEqual(INIT);
    // Without the passphrase that is our configuration problem, not a 421.
    let err: unknown;
    try {
      decryptFlowRequest(body, encrypted);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(FlowCryptoError);
    expect(() => parseFlowsPrivateKey('not a key')).toThrow(/private key cannot be used/);
    expect(() => parseFlowsPrivateKey(c.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).toThrow(/RSA/);
  });

  it('tampered ciphertext, tag, IV or wrapped key → FlowCryptoError', () => {
    const body = encryptFlowRequestForTest(INIT, pair.publicKeyPem);
    const variants: FlowRequestBody[] = [
      { ...body, encrypted_flow_data: b64Tamper(body.encrypted_flow_data, 0) },
      { ...body, encrypted_flow_data: b64Tamper(body.encrypted_flow_data, -1) },
      { ...body, initial_vector: b64Tamper(body.initial_vector, 3) },
      { ...body, encrypted_aes_key: b64Tamper(body.encrypted_aes_key, 10) },
      { ...body, encrypted_flow_data: Buffer.alloc(8).toString('base64') },
    ];
    for (const v of variants) expect(() => decryptFlowRequest(v, pair.privateKeyPem)).toThrow(FlowCryptoError);
  });

  it('a request for another key → FlowCryptoError', () => {
    const body = encryptFlowRequestForTest(INIT, other.publicKeyPem);
    expect(() => decryptFlowRequest(body, pair.privateKeyPem)).toThrow(FlowCryptoError);
  });

  it('an unwrapped key that is not 128 bits → FlowCryptoError', () => {
    const body = encryptFlowRequestForTest(INIT, pair.publicKeyPem);
    const wrapped = c.publicEncrypt({ key: pair.publicKeyPem, padding: c.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, c.randomBytes(32));
    expect(() => decryptFlowRequest({ ...body, encrypted_aes_key: wrapped.toString('base64') }, pair.privateKeyPem)).toThrow(FlowCryptoError);
    // OAEP with SHA-1 (the Node default) is not what the client uses.
    const sha1 = c.publicEncrypt({ key: pair.publicKeyPem, padding: c.constants.RSA_PKCS1_OAEP_PADDING }, AES_KEY);
    expect(() => decryptFlowRequest({ ...body, encrypted_aes_key: sha1.toString('base64') }, pair.privateKeyPem)).toThrow(FlowCryptoError);
  });

  it('a malformed envelope or payload → FlowRequestError', () => {
    const good = encryptFlowRequestForTest(INIT, pair.publicKeyPem);
    for (const body of [null, 'x', [], {}, { ...good, initial_vector: undefined }, { ...good, encrypted_aes_key: 42 }, { ...good, encrypted_flow_data: '%%% not base64 %%%' }]) {
      expect(() => decryptFlowRequest(body, pair.privateKeyPem)).toThrow(FlowRequestError);
    }
    const encryptRaw = (plaintext: string) => {
      const e = c.createCipheriv('aes-128-gcm', AES_KEY, IV);
      const data = Buffer.concat([e.update(plaintext, 'utf8'), e.final(), e.getAuthTag()]);
      return { ...encryptFlowRequestForTest({}, pair.publicKeyPem, { aesKey: AES_KEY, iv: IV }), encrypted_flow_data: data.toString('base64') };
    };
    expect(() => decryptFlowRequest(encryptRaw('{not json'), pair.privateKeyPem)).toThrow(FlowRequestError);
    for (const payload of [{ version: '3.0', action: 'navigate', flow_token: 't' }, { version: '3.0', action: 'INIT' }, { version: '3.0', action: 'data_exchange', flow_token: 't', data: [1] }]) {
      expect(() => decryptFlowRequest(encryptFlowRequestForTest(payload, pair.publicKeyPem), pair.privateKeyPem)).toThrow(FlowRequestError);
    }
    // Unknown fields are kept, not refused.
    const extra = { ...INIT, flow_token_signature: 'a.b.c', something_new: true };
    expect(decryptFlowRequest(encryptFlowRequestForTest(extra, pair.publicKeyPem), pair.privateKeyPem).payload).toEqual(extra);
  });

  it('recognises error notifications', () => {
    expect(flowErrorNotification({ version: '3.0', action: 'data_exchange', flow_token: 't', data: { error: 'invalid-screen-transition', error_message: 'x' } })).toEqual({ error: 'invalid-screen-transition', errorMessage: 'x' });
    expect(flowErrorNotification({ version: '3.0', action: 'INIT', flow_token: 't' })).toBeUndefined();
    expect(flowErrorNotification({ version: '3.0', action: 'ping' })).toBeUndefined();
  });
});

describe('flow tokens', () => {
  const claims = { shopId: 'nairobi', subject: 'nairobi-pizza-margherita', customerRef: '0123456789abcdef0123' };
  const NOW = Date.parse('2026-12-03T12:00:00Z');

  it('verify what was minted, for that customer, product and kind, until it expires', () => {
    const token = mintFlowToken({ ...claims, now: NOW }, SECRET);
    expect(token).toMatch(/^ft1:p:nairobi:nairobi-pizza-margherita:0123456789abcdef0123:[0-9a-z]+:[A-Za-z0-9_-]{21}[AQgw]$/);
    expect(token).not.toMatch(/254\d{9}/);
    expect(verifyFlowToken(token, SECRET, NOW)).toEqual({ kind: 'product', ...claims, expiresAt: NOW + FLOW_TOKEN_TTL_MS });
    const payment = mintFlowToken({ kind: 'payment', shopId: 'harare', subject: 'HRE-1001', customerRef: claims.customerRef, now: NOW }, SECRET);
    expect(verifyFlowToken(payment, SECRET, NOW)?.kind).toBe('payment');
    // Earlier keys still verify (CUSTOMER_REF_SECRET=new,old).
    expect(verifyFlowToken(token, ['a-newer-secret', SECRET], NOW)?.subject).toBe(claims.subject);

    expect(checkFlowToken(token, SECRET, NOW + FLOW_TOKEN_TTL_MS)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyFlowToken(token, SECRET, NOW + FLOW_TOKEN_TTL_MS - 1000)).not.toBeNull();

    const parts = token.split(':');
    const swap = (i: number, v: string) => parts.map((p, j) => (j === i ? v : p)).join(':');
    const mac = parts[6]!;
    const forged = [
      swap(1, 'o'),
      swap(2, 'harare'),
      swap(3, 'nairobi-coffee'),
      swap(4, 'ffffffffffffffffffff'),
      swap(5, (parseInt(parts[5]!, 36) + 3600).toString(36)),
      swap(6, `${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`),
      // Same bytes, other spelling: the last base64url character carries 4 unused bits.
      swap(6, `${mac.slice(0, -1)}${({ A: 'B', Q: 'R', g: 'h', w: 'x' } as Record<string, string>)[mac.at(-1)!]}`),
      parts.slice(0, 6).join(':'),
      `${token}:extra`,
      mintFlowToken({ ...claims, now: NOW }, 'another-secret-entirely'),
      'nairobi:nairobi-pizza-margherita:x:y',
      '',
      'x'.repeat(5000),
    ];
    for (const t of forged) expect(checkFlowToken(t, SECRET, NOW)).toEqual({ ok: false, reason: 'forged' });
  });

  it('refuses ids that would make the token ambiguous or too long for Meta', () => {
    expect(() => mintFlowToken({ ...claims, shopId: 'a:b' }, SECRET)).toThrow();
    expect(() => mintFlowToken({ ...claims, subject: '' }, SECRET)).toThrow();
    expect(() => mintFlowToken({ ...claims, subject: 'x'.repeat(100), customerRef: 'y'.repeat(100) }, SECRET)).toThrow(/200/);
  });
});

describe('endpoint key', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'duka-flows-key-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('sandbox: generated once under the data dir (0600), then reused; concurrent first uses agree', async () => {
    const dir = join(tmp(), 'nested');
    const [a, b] = await Promise.all([sandboxFlowsKey(dir), sandboxFlowsKey(dir)]);
    expect(a.publicKeyPem).toBe(b.publicKeyPem);
    expect(statSync(join(dir, SANDBOX_FLOWS_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, SANDBOX_FLOWS_PUBLIC_KEY_FILE), 'utf8')).toBe(a.publicKeyPem);
    const again = await sandboxFlowsKey(dir);
    expect(again.source).toBe('sandbox-file');
    expect(again.publicKeyPem).toBe(a.publicKeyPem);
    const body = encryptFlowRequestForTest(INIT, readFileSync(join(dir, SANDBOX_FLOWS_PUBLIC_KEY_FILE), 'utf8'));
    expect(decryptFlowRequest(body, again.privateKey).payload).toEqual(INIT);
  });

  it('sandbox: a corrupt key file is replaced', async () => {
    const dir = tmp();
    writeFileSync(join(dir, SANDBOX_FLOWS_KEY_FILE), 'garbage');
    const key = await sandboxFlowsKey(dir);
    expect(key.source).toBe('sandbox-generated');
  });

  it('config key wins; no key outside the sandbox means not configured', async () => {
    const dir = tmp();
    const fromConfig = await resolveFlowsKey({ flowsPrivateKey: pair.privateKeyPem, sandbox: true, dataDir: dir });
    expect(fromConfig?.source).toBe('config');
    expect(fromConfig?.publicKeyPem.trim()).toBe(pair.publicKeyPem.trim());
    expect(await resolveFlowsKey({ flowsPrivateKey: undefined, sandbox: false, dataDir: dir })).toBeUndefined();
    await expect(resolveFlowsKey({ flowsPrivateKey: 'nope', sandbox: true, dataDir: dir })).rejects.toThrow(/private key/);
  });
});
