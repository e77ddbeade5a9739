import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { signMetaPayload, verifyMetaSignature } from '../../providers/whatsapp/signature.ts';
import { buildInboundWebhook, textMessage } from '../fakes/graph-api.ts';

const SECRET = 'app-secret-for-tests';
// Meta escapes non-ASCII, so the signed bytes differ from JSON.stringify of the parsed body.
const raw = Buffer.from('{"object":"whatsapp_business_account","entry":[{"text":"Habari \\u00e9"}]}');

describe('verifyMetaSignature', () => {
  it('accepts the HMAC-SHA256 of the raw bytes with the app secret', () => {
    const header = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
    expect(verifyMetaSignature(raw, header, SECRET)).toBe(true);
    expect(signMetaPayload(raw, SECRET)).toBe(header);
    expect(signMetaPayload(raw.toString(), SECRET)).toBe(header);
  });

  it('accepts upper-case hex', () => {
    const header = signMetaPayload(raw, SECRET);
    expect(verifyMetaSignature(raw, `sha256=${header.slice(7).toUpperCase()}`, SECRET)).toBe(true);
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyMetaSignature(raw, signMetaPayload(raw, 'other-secret'), SECRET)).toBe(false);
  });

  it('rejects a body that changed after signing, including re-serialised JSON', () => {
    const header = signMetaPayload(raw, SECRET);
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    expect(verifyMetaSignature(reserialised, header, SECRET)).toBe(false);
    expect(verifyMetaSignature(Buffer.concat([raw, Buffer.from(' ')]), header, SECRET)).toBe(false);
  });

  it('rejects a missing or empty header and a missing prefix', () => {
    const hex = signMetaPayload(raw, SECRET).slice(7);
    expect(verifyMetaSignature(raw, undefined, SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, '', SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, hex, SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, `sha1=${hex}`, SECRET)).toBe(false);
  });

  it('rejects wrong-length and non-hex digests without throwing', () => {
    const hex = signMetaPayload(raw, SECRET).slice(7);
    expect(verifyMetaSignature(raw, `sha256=${hex.slice(0, 62)}`, SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, `sha256=${hex}0`, SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, `sha256=${hex}00`, SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, 'sha256=', SECRET)).toBe(false);
    expect(verifyMetaSignature(raw, `sha256=${'z'.repeat(64)}`, SECRET)).toBe(false);
  });

  it('rejects everything when no app secret is configured', () => {
    expect(verifyMetaSignature(raw, signMetaPayload(raw, ''), '')).toBe(false);
  });

  it('verifies webhooks built by the fake exactly as Meta signs them', () => {
    const { raw, headers } = buildInboundWebhook({ phoneNumberId: 'P', from: '254711000000', name: 'Wanjiru', messages: [textMessage('254711000000', 'Habari – é')], appSecret: SECRET });
    expect(verifyMetaSignature(Buffer.from(raw), headers['x-hub-signature-256'], SECRET)).toBe(true);
    expect(verifyMetaSignature(Buffer.from(raw), headers['x-hub-signature-256'], 'another')).toBe(false);
  });
});
