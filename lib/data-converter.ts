import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { DataConverter, Payload, PayloadCodec, ProtoFailure } from '@temporalio/common';
import { METADATA_ENCODING_KEY, ValueError, defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';

// A CommonJS package: Node's ESM loader sees only its default export.
const { Payload: ProtoPayload } = proto.temporal.api.common.v1;

/**
 * duka's payload codec: every workflow and activity payload (inputs, results, signals, updates, queries, heartbeats,
 * summaries, and failures' messages and stack traces: lib/failure-converter.ts) leaves the process encrypted with
 * AES-256-GCM, so phone numbers, names, addresses and OTPs never sit in Temporal's history in clear. Search attributes
 * are not payloads and stay plain (they hold no personal data).
 *
 * The encrypted payload's metadata names the key (`encryption-key-id`, a fingerprint of the key, never the key), so
 * keys rotate: `PAYLOAD_CODEC_KEY=new,old` encrypts with the first and decrypts with any. A payload without duka's
 * encoding (histories recorded before the codec) decodes as it is.
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_HEX = /^[0-9a-fA-F]{64}$/;

export interface CodecKey {
  id: string;
  key: Buffer;
}

export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

/** A key's id: the start of SHA-256 over it, so the id is the same wherever the key is, and tells nothing about it. */
export function codecKeyId(key: Buffer): string {
  return createHash('sha256').update('duka payload codec key').update(key).digest('hex').slice(0, 16);
}

/** `PAYLOAD_CODEC_KEY`: one or more comma-separated 32-byte keys as 64 hex characters; the first encrypts. */
export function parseCodecKeys(value: string): CodecKey[] {
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0 || !parts.every((p) => KEY_HEX.test(p))) {
    throw new CodecKeyError('PAYLOAD_CODEC_KEY must be 32-byte keys as 64 hex characters, comma-separated (the first encrypts)');
  }
  return parts.map((hex) => {
    const key = Buffer.from(hex, 'hex');
    return { id: codecKeyId(key), key };
  });
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class EncryptionCodec implements PayloadCodec {
  // Key objects made once: given a Buffer, every cipher made its own (a visible share of the worker's main thread).
  private readonly byId: Map<string, KeyObject>;
  private readonly current: { id: string; key: KeyObject };

  constructor(keys: readonly CodecKey[]) {
    if (keys.length === 0) throw new CodecKeyError('the payload codec needs at least one key');
    this.current = { id: keys[0]!.id, key: createSecretKey(keys[0]!.key) };
    this.byId = new Map(keys.map((k) => [k.id, createSecretKey(k.key)]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = ProtoPayload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, this.current.key, iv);
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(this.current.id) },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
      const key = keyId ? this.byId.get(keyId) : undefined;
      if (!key) throw new ValueError(`payload encrypted with key ${keyId ?? '(none)'}, which is not in PAYLOAD_CODEC_KEY`);
      const data = Buffer.from(payload.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError('encrypted payload is truncated');
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new ValueError(`encrypted payload does not open with key ${keyId}: altered, or another key under the same id`);
      }
      return ProtoPayload.decode(plain);
    });
  }
}

/**
 * lib/failure-converter.ts, by path: the SDK loads failure converters only that way (the Worker and the Client
 * `require` it; the workflow bundle needs it at bundling time, workers/worker.ts).
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

/**
 * The one data converter every duka Client, Worker and replay uses: payloads encrypted, and failures' messages and
 * stack traces with them (lib/failure-converter.ts).
 */
export function dukaDataConverter(keys: readonly CodecKey[]): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/**
 * A failure's message as a person reads it (a pending activity's last failure, a failed workflow task): opened from its
 * encrypted attributes (lib/failure-converter.ts) with the codec, or as it is when recorded before them.
 */
export async function failureText(failure: ProtoFailure | null | undefined, codec: PayloadCodec | undefined): Promise<string> {
  if (!failure) return '';
  if (!failure.encodedAttributes || !codec) return failure.message ?? '';
  const [plain] = await codec.decode([failure.encodedAttributes as Payload]);
  const attributes: unknown = plain ? defaultPayloadConverter.fromPayload(plain) : undefined;
  const message = (attributes as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : (failure.message ?? '');
}
