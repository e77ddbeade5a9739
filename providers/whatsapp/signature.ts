import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256=';
const HEX_DIGEST = /^[0-9a-f]{64}$/i;

function digest(raw: Buffer | string, appSecret: string): Buffer {
  return createHmac('sha256', appSecret).update(raw).digest();
}

/**
 * Checks `X-Hub-Signature-256` against the raw request bytes. The body must not be re-serialised first: Meta escapes
 * non-ASCII as \uXXXX, so JSON.stringify(parsed) does not reproduce what was signed.
 */
export function verifyMetaSignature(raw: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!appSecret || !header?.startsWith(PREFIX)) return false;
  const hex = header.slice(PREFIX.length).trim();
  // Buffer.from(hex) silently drops invalid or odd trailing digits, which would let a malformed header through.
  if (!HEX_DIGEST.test(hex)) return false;
  const got = Buffer.from(hex, 'hex');
  const want = digest(raw, appSecret);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The header value Meta would send for `raw`: used by the fake Graph API, the sandbox and benchmarks. */
export function signMetaPayload(raw: Buffer | string, appSecret: string): string {
  return PREFIX + digest(raw, appSecret).toString('hex');
}
