import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { parseUntrustedJson } from '../../lib/untrusted-json.ts';

/**
 * WhatsApp Flows data endpoint, wire level (protocols.md §2): the encrypted envelope, the decrypted request payload,
 * the encrypted response, the endpoint key pair and the signed flow tokens. No HTTP and no database here.
 *
 * Crypto (data_api_version 3.0, §2.3): the client wraps a fresh 128-bit AES key with our RSA public key
 * (RSA-OAEP, SHA-256 for both the OAEP hash and MGF1) and encrypts the JSON request with AES-128-GCM (16-byte tag
 * appended, no AAD). The response is encrypted with the same AES key and the IV with every bit inverted.
 */

/** The request body Meta POSTs (§2.2). */
export interface FlowRequestBody {
  encrypted_flow_data: string;
  encrypted_aes_key: string;
  initial_vector: string;
}

/** The key cannot unwrap the AES key, or the ciphertext fails authentication: the endpoint answers HTTP 421 (§2.6). */
export class FlowCryptoError extends Error {
  override name = 'FlowCryptoError';
}

/** The envelope or the decrypted payload is not what §2.2/§2.4 describe: the endpoint answers HTTP 400. */
export class FlowRequestError extends Error {
  override name = 'FlowRequestError';
}

const TAG_LENGTH = 16;
const AES_KEY_LENGTH = 16;
/** Lenient on purpose (padding, line breaks, URL-safe alphabet): only text that is not base64 at all is malformed. */
const BASE64 = /^[A-Za-z0-9+/=_\-\s]+$/;

const base64Field = z.string().min(1).regex(BASE64, 'must be base64');

const EnvelopeSchema = z.looseObject({
  encrypted_flow_data: base64Field,
  encrypted_aes_key: base64Field,
  initial_vector: base64Field,
});

/**
 * The decrypted request (§2.4). Loose on purpose: Meta adds fields over versions (e.g. `flow_token_signature`), and
 * an unknown field must not turn a customer's tap into an error. `flow_token` is required for everything but ping.
 */
export const FlowRequestSchema = z
  .looseObject({
    version: z.string().max(16).optional(),
    action: z.enum(['ping', 'INIT', 'BACK', 'data_exchange']),
    screen: z.string().max(200).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
    flow_token: z.string().min(1).max(2048).optional(),
    flow_token_signature: z.string().max(4096).optional(),
  })
  .refine((r) => r.action === 'ping' || r.flow_token !== undefined, { message: 'flow_token is required', path: ['flow_token'] });

export type FlowRequest = z.infer<typeof FlowRequestSchema>;
export type FlowAction = FlowRequest['action'];

/** An error notification: the client tells us our previous response was invalid (§2.4); it only wants an ack. */
export function flowErrorNotification(req: FlowRequest): { error: string; errorMessage?: string } | undefined {
  const error = req.data?.error;
  if (req.action === 'ping' || typeof error !== 'string') return undefined;
  const message = req.data?.error_message;
  return { error, ...(typeof message === 'string' ? { errorMessage: message } : {}) };
}

export interface DecryptedFlowRequest {
  payload: FlowRequest;
  aesKey: Buffer;
  iv: Buffer;
}

function describe(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** A PEM from an environment variable often arrives with literal `\n` escapes instead of line breaks. */
export function normalisePem(pem: string): string {
  const trimmed = pem.trim();
  return !trimmed.includes('\n') && trimmed.includes('\\n') ? trimmed.replace(/\\n/g, '\n') : trimmed;
}

/**
 * Parses the endpoint's private key: PKCS#8 or PKCS#1 PEM, optionally encrypted (Meta's `keyGenerator.js` writes
 * PKCS#1 encrypted with des-ede3-cbc and a passphrase). A bad key is our configuration problem, not the client's, so
 * this throws a plain Error (never FlowCryptoError).
 */
export function parseFlowsPrivateKey(pem: string, passphrase?: string): KeyObject {
  try {
    const key = createPrivateKey(passphrase ? { key: normalisePem(pem), format: 'pem', passphrase } : { key: normalisePem(pem), format: 'pem' });
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`expected an RSA key, got ${key.asymmetricKeyType ?? 'unknown'}`);
    return key;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`WhatsApp Flows private key cannot be used: ${detail}`, { cause: err });
  }
}

/**
 * Decrypts a Flows endpoint request (§2.3). Throws FlowRequestError for a malformed envelope or payload (→ 400) and
 * FlowCryptoError when the AES key cannot be unwrapped or the data fails GCM authentication (→ 421).
 */
export function decryptFlowRequest(body: unknown, privateKeyPem: string | KeyObject, passphrase?: string): DecryptedFlowRequest {
  const envelope = EnvelopeSchema.safeParse(body);
  if (!envelope.success) throw new FlowRequestError(`invalid Flows request body: ${describe(envelope.error.issues)}`);
  const key = typeof privateKeyPem === 'string' ? parseFlowsPrivateKey(privateKeyPem, passphrase) : privateKeyPem;

  const wrapped = Buffer.from(envelope.data.encrypted_aes_key, 'base64');
  const iv = Buffer.from(envelope.data.initial_vector, 'base64');
  const blob = Buffer.from(envelope.data.encrypted_flow_data, 'base64');
  if (blob.length < TAG_LENGTH) throw new FlowCryptoError('encrypted_flow_data is shorter than the GCM tag');

  let aesKey: Buffer;
  try {
    aesKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
  } catch {
    throw new FlowCryptoError('encrypted_aes_key cannot be unwrapped with this private key');
  }
  if (aesKey.length !== AES_KEY_LENGTH) throw new FlowCryptoError(`unwrapped AES key is ${aesKey.length} bytes, expected ${AES_KEY_LENGTH}`);

  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-128-gcm', aesKey, iv, { authTagLength: TAG_LENGTH });
    decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH));
    plaintext = Buffer.concat([decipher.update(blob.subarray(0, blob.length - TAG_LENGTH)), decipher.final()]).toString('utf8');
  } catch {
    throw new FlowCryptoError('encrypted_flow_data fails AES-GCM authentication');
  }

  let json: unknown;
  try {
    json = parseUntrustedJson(plaintext);
  } catch {
    throw new FlowRequestError('decrypted Flows request is not JSON');
  }
  const payload = FlowRequestSchema.safeParse(json);
  if (!payload.success) throw new FlowRequestError(`invalid Flows request: ${describe(payload.error.issues)}`);
  return { payload: payload.data, aesKey, iv };
}

/** Every bit of the request IV inverted: the response IV (§2.3). */
export function flipIv(iv: Buffer): Buffer {
  return Buffer.from(iv.map((b) => b ^ 0xff));
}

/** AES-128-GCM(aesKey, flipped IV) of the JSON response, `ciphertext || tag`, base64: the HTTP body (text/plain). */
export function encryptFlowResponse(response: unknown, aesKey: Buffer, iv: Buffer): string {
  const cipher = createCipheriv('aes-128-gcm', aesKey, flipIv(iv), { authTagLength: TAG_LENGTH });
  return Buffer.concat([cipher.update(JSON.stringify(response), 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

/** What the WhatsApp client does with our answer: for tests and the sandbox. Throws FlowCryptoError on a bad tag. */
export function decryptFlowResponse(body: string, aesKey: Buffer, iv: Buffer): unknown {
  const blob = Buffer.from(body.trim(), 'base64');
  if (blob.length < TAG_LENGTH) throw new FlowCryptoError('response is shorter than the GCM tag');
  try {
    const decipher = createDecipheriv('aes-128-gcm', aesKey, flipIv(iv), { authTagLength: TAG_LENGTH });
    decipher.setAuthTag(blob.subarray(blob.length - TAG_LENGTH));
    return JSON.parse(Buffer.concat([decipher.update(blob.subarray(0, blob.length - TAG_LENGTH)), decipher.final()]).toString('utf8'));
  } catch {
    throw new FlowCryptoError('response fails AES-GCM authentication');
  }
}

/**
 * What Meta's client does (§2.3), for tests and the sandbox: wraps a fresh (or given) AES-128 key with the endpoint's
 * public key and encrypts `payload`. Pass `aesKey`/`iv` to be able to decrypt the answer with decryptFlowResponse.
 */
export function encryptFlowRequestForTest(
  payload: unknown,
  publicKeyPem: string | KeyObject,
  options: { aesKey?: Buffer; iv?: Buffer } = {},
): FlowRequestBody {
  const aesKey = options.aesKey ?? randomBytes(AES_KEY_LENGTH);
  const iv = options.iv ?? randomBytes(16);
  const cipher = createCipheriv('aes-128-gcm', aesKey, iv, { authTagLength: TAG_LENGTH });
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const wrapped = publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, aesKey);
  return { encrypted_flow_data: data.toString('base64'), encrypted_aes_key: wrapped.toString('base64'), initial_vector: iv.toString('base64') };
}

// ---- endpoint key pair ----------------------------------------------------------------------------------------------

export interface FlowsKeyPair {
  privateKeyPem: string;
  /** SPKI PEM: what gets uploaded with `POST /{version}/{phone_number_id}/whatsapp_business_encryption` (§2.1). */
  publicKeyPem: string;
}

export interface FlowsKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  source: 'config' | 'sandbox-file' | 'sandbox-generated';
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A fresh RSA-2048 pair (§2.1): private key PKCS#8 PEM (unencrypted), public key SPKI PEM. */
export async function generateFlowsKeyPair(): Promise<FlowsKeyPair> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

export function publicKeyPemOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

export const SANDBOX_FLOWS_KEY_FILE = 'whatsapp-flows-private-key.pem';
export const SANDBOX_FLOWS_PUBLIC_KEY_FILE = 'whatsapp-flows-public-key.pem';

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function readPem(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes `content` to `file` only if it does not exist yet, atomically (link(2) never overwrites). False if it existed. */
function createExclusive(file: string, content: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * The sandbox's endpoint key: read from `<dataDir>/whatsapp-flows-private-key.pem`, or generated and stored there
 * (mode 0600) on first use, so that it survives restarts and every process on the same data dir agrees on it. The
 * public key is written next to it for convenience. A corrupt file is replaced.
 */
export async function sandboxFlowsKey(dataDir: string): Promise<FlowsKey> {
  const file = join(dataDir, SANDBOX_FLOWS_KEY_FILE);
  const stored = readPem(file);
  if (stored !== undefined) {
    try {
      const privateKey = parseFlowsPrivateKey(stored);
      return { privateKey, publicKeyPem: publicKeyPemOf(privateKey), source: 'sandbox-file' };
    } catch {
      unlinkSync(file);
    }
  }

  mkdirSync(dataDir, { recursive: true });
  const pair = await generateFlowsKeyPair();
  const created = createExclusive(file, pair.privateKeyPem);
  // Another process may have won the race: theirs is the key everyone uses.
  const pem = created ? pair.privateKeyPem : readPem(file);
  if (pem === undefined) throw new Error(`WhatsApp Flows sandbox key ${file} vanished while being created`);
  const privateKey = parseFlowsPrivateKey(pem);
  const publicKeyPem = publicKeyPemOf(privateKey);
  const publicFile = join(dataDir, SANDBOX_FLOWS_PUBLIC_KEY_FILE);
  const tmp = `${publicFile}.${process.pid}.tmp`;
  writeFileSync(tmp, publicKeyPem, { mode: 0o644 });
  renameSync(tmp, publicFile);
  return { privateKey, publicKeyPem, source: created ? 'sandbox-generated' : 'sandbox-file' };
}

/**
 * The endpoint key for a configuration: `WHATSAPP_FLOWS_PRIVATE_KEY` when set (parse errors throw), else in sandbox
 * mode the key under the data dir (generated on first use), else undefined (Flows not configured).
 */
export async function resolveFlowsKey(
  settings: { flowsPrivateKey: string | undefined; sandbox: boolean; dataDir: string },
  passphrase?: string,
): Promise<FlowsKey | undefined> {
  if (settings.flowsPrivateKey) {
    const privateKey = parseFlowsPrivateKey(settings.flowsPrivateKey, passphrase);
    return { privateKey, publicKeyPem: publicKeyPemOf(privateKey), source: 'config' };
  }
  if (settings.sandbox) return sandboxFlowsKey(settings.dataDir);
  return undefined;
}

// ---- flow tokens ----------------------------------------------------------------------------------------------------

/**
 * A flow token (protocols.md §2.4: opaque, our own session id; Meta echoes it in every endpoint request and in the
 * `nfm_reply`): `ft1:<kind>:<shopId>:<subject>:<customerRef>:<expires>:<mac>`, where kind is `p` (customise product
 * `subject`) or `o` (payment form for order `subject`), `customerRef` the customer's keyed hash (never a phone number),
 * `expires` unix seconds in base 36, and mac the first 16 bytes of HMAC-SHA256 over everything before it (base64url),
 * keyed by a key derived from `customerRefSecret`, so a token cannot be forged, moved to another customer, product or
 * order, or used after it expired, and never collides with customer refs made from the same secret.
 */
export type FlowTokenKind = 'product' | 'payment';

export interface FlowTokenClaims {
  kind: FlowTokenKind;
  shopId: string;
  /** The product id (kind `product`) or the order number (kind `payment`). */
  subject: string;
  customerRef: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** How long a sent Flow can be opened and answered: a customer who comes back the next day gets a fresh one. */
export const FLOW_TOKEN_TTL_MS = 24 * 3600_000;

const TOKEN_VERSION = 'ft1';
const KIND_LETTER: Record<FlowTokenKind, string> = { product: 'p', payment: 'o' };
const TOKEN_PART = /^[A-Za-z0-9._-]{1,100}$/;
const MAC_BYTES = 16;
/** Meta's limit for flow_token is said to be 200 characters (3P, protocols.md §1.6). */
const MAX_TOKEN = 200;

function tokenMac(message: string, secret: string): string {
  const key = createHmac('sha256', secret).update('duka/whatsapp-flow-token/v1').digest();
  return createHmac('sha256', key).update(message).digest().subarray(0, MAC_BYTES).toString('base64url');
}

export function mintFlowToken(
  claims: { kind?: FlowTokenKind; shopId: string; subject: string; customerRef: string; now?: number; ttlMs?: number },
  secret: string,
): string {
  const kind = claims.kind ?? 'product';
  for (const [name, value] of [['shopId', claims.shopId], ['subject', claims.subject], ['customerRef', claims.customerRef]] as const) {
    if (!TOKEN_PART.test(value)) throw new Error(`flow token ${name} must match ${TOKEN_PART.source}`);
  }
  const expires = Math.ceil(((claims.now ?? Date.now()) + (claims.ttlMs ?? FLOW_TOKEN_TTL_MS)) / 1000).toString(36);
  const message = [TOKEN_VERSION, KIND_LETTER[kind], claims.shopId, claims.subject, claims.customerRef, expires].join(':');
  const token = `${message}:${tokenMac(message, secret)}`;
  if (token.length > MAX_TOKEN) throw new Error(`flow token would be ${token.length} characters, over Meta's ${MAX_TOKEN}`);
  return token;
}

export type FlowTokenCheck = { ok: true; claims: FlowTokenClaims } | { ok: false; reason: 'forged' | 'expired' };

/**
 * Checks a token against every key that may have minted it (`CUSTOMER_REF_SECRET=new,old`). Forged: not minted by us
 * (or tampered with); expired: ours, but older than its expiry at `now`.
 */
export function checkFlowToken(token: string, secrets: string | readonly string[], now = Date.now()): FlowTokenCheck {
  const forged = { ok: false, reason: 'forged' } as const;
  if (typeof token !== 'string' || token.length > MAX_TOKEN) return forged;
  const parts = token.split(':');
  if (parts.length !== 7) return forged;
  const [version, letter, shopId, subject, customerRef, expires, mac] = parts as [string, string, string, string, string, string, string];
  const kind = (Object.keys(KIND_LETTER) as FlowTokenKind[]).find((k) => KIND_LETTER[k] === letter);
  if (version !== TOKEN_VERSION || !kind || ![shopId, subject, customerRef].every((p) => TOKEN_PART.test(p))) return forged;
  if (!/^[0-9a-z]{1,9}$/.test(expires) || !/^[A-Za-z0-9_-]+$/.test(mac)) return forged;
  const message = parts.slice(0, 6).join(':');
  // Compared as canonical text: decoding would accept other spellings of the same bytes (unused low bits).
  const got = Buffer.from(mac, 'utf8');
  const matches = (typeof secrets === 'string' ? [secrets] : secrets).some((secret) => {
    const want = Buffer.from(tokenMac(message, secret), 'utf8');
    return got.length === want.length && timingSafeEqual(got, want);
  });
  if (!matches) return forged;
  const expiresAt = parseInt(expires, 36) * 1000;
  if (!(expiresAt > now)) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { kind, shopId, subject, customerRef, expiresAt } };
}

/** The claims of an untampered, unexpired token minted with one of `secrets`, else null. */
export function verifyFlowToken(token: string, secrets: string | readonly string[], now = Date.now()): FlowTokenClaims | null {
  const checked = checkFlowToken(token, secrets, now);
  return checked.ok ? checked.claims : null;
}
