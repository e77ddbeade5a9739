import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Ghala's webhook signature (protocols.md §8). Ghala publishes no reference; third-party integrations agree on the
 * header `x-ghala-signature` (and `x-ghala-timestamp` where a timestamp is signed) but not on what is signed or how it
 * is encoded. `GHALA_SIGNATURE_SCHEME` names the one to verify until Ghala confirms theirs:
 * - `hex`: hex HMAC-SHA256 of the raw body (seed 001's own verifier; the default);
 * - `hex-timestamp`: hex HMAC-SHA256 of timestamp + raw body, no separator;
 * - `sha256-timestamp-dot`: `sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>`;
 * - `base64-timestamp-dot`: base64 HMAC-SHA256 of `<timestamp>.<raw body>`.
 * A timestamped scheme refuses a timestamp more than GHALA_TIMESTAMP_TOLERANCE_S away from now (replays).
 */
export const GHALA_SIGNATURE_SCHEMES = ['hex', 'hex-timestamp', 'sha256-timestamp-dot', 'base64-timestamp-dot'] as const;
export type GhalaSignatureScheme = (typeof GHALA_SIGNATURE_SCHEMES)[number];

export const GHALA_SIGNATURE_HEADER = 'x-ghala-signature';
export const GHALA_TIMESTAMP_HEADER = 'x-ghala-timestamp';
export const GHALA_TIMESTAMP_TOLERANCE_S = 300;

const usesTimestamp = (scheme: GhalaSignatureScheme) => scheme !== 'hex';

function signedBytes(scheme: GhalaSignatureScheme, raw: Buffer, timestamp: string): Buffer {
  if (scheme === 'hex') return raw;
  const separator = scheme === 'hex-timestamp' ? '' : '.';
  return Buffer.concat([Buffer.from(`${timestamp}${separator}`, 'utf8'), raw]);
}

/** The header value Ghala would send under `scheme` (the sandbox signs with it; duka compares against it). */
export function ghalaSignature(scheme: GhalaSignatureScheme, secret: string, raw: Buffer, timestamp = ''): string {
  const mac = createHmac('sha256', secret).update(signedBytes(scheme, raw, timestamp));
  if (scheme === 'base64-timestamp-dot') return mac.digest('base64');
  const hex = mac.digest('hex');
  return scheme === 'sha256-timestamp-dot' ? `sha256=${hex}` : hex;
}

/** The signature headers of one delivery under `scheme`, signed now. */
export function ghalaSignatureHeaders(scheme: GhalaSignatureScheme, secret: string, raw: Buffer, nowS = Math.floor(Date.now() / 1000)): Record<string, string> {
  if (!usesTimestamp(scheme)) return { [GHALA_SIGNATURE_HEADER]: ghalaSignature(scheme, secret, raw) };
  const timestamp = String(nowS);
  return { [GHALA_SIGNATURE_HEADER]: ghalaSignature(scheme, secret, raw, timestamp), [GHALA_TIMESTAMP_HEADER]: timestamp };
}

/** Constant-time check of one delivery's headers; a timestamped scheme also needs a fresh timestamp. */
export function verifyGhalaSignature(
  scheme: GhalaSignatureScheme,
  secret: string,
  raw: Buffer,
  header: (name: string) => string | undefined,
  nowS = Math.floor(Date.now() / 1000),
): boolean {
  const given = header(GHALA_SIGNATURE_HEADER)?.trim();
  if (!secret || !given) return false;
  let timestamp = '';
  if (usesTimestamp(scheme)) {
    // One third-party implementation reads `webhook-timestamp` when Ghala's own header is absent.
    timestamp = (header(GHALA_TIMESTAMP_HEADER) ?? header('webhook-timestamp') ?? '').trim();
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > GHALA_TIMESTAMP_TOLERANCE_S) return false;
  }
  const expected = Buffer.from(ghalaSignature(scheme, secret, raw, timestamp), 'utf8');
  const actual = Buffer.from(given, 'utf8');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
