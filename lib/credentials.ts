import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ShopProviderSettings } from '../db/entities.ts';
import type { Config } from './config.ts';

/**
 * A shop's own secrets (CONTRACT.md § Back office: write-only, never logged or returned), sealed with AES-256-GCM under
 * `CREDENTIALS_KEY` into `shop.credentials`. The shop id is the additional authenticated data, so a sealed value copied
 * onto another shop does not open.
 */
export interface ShopSecrets {
  whatsapp?: { accessToken: string; appSecret?: string };
  payments?: ShopProviderSettings;
  shopify?: { accessToken: string };
}

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

const VERSION = 'v1';
const KEY_HEX = /^[0-9a-fA-F]{64}$/;

export function parseCredentialsKey(hex: string): Buffer {
  if (!KEY_HEX.test(hex)) throw new CredentialsError('CREDENTIALS_KEY must be 32 bytes as 64 hex characters');
  return Buffer.from(hex, 'hex');
}

const aad = (shopId: string) => Buffer.from(`duka:shop:${shopId}`, 'utf8');

export function sealSecrets(key: Buffer, shopId: string, secrets: ShopSecrets): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(shopId));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
}

export function openSecrets(key: Buffer | undefined, shopId: string, sealed: string | null | undefined): ShopSecrets {
  if (!sealed) return {};
  if (!key) throw new CredentialsError(`shop ${shopId} has stored credentials but CREDENTIALS_KEY is not set`);
  const [version, iv, tag, ciphertext] = sealed.split('.');
  if (version !== VERSION || !iv || !tag || ciphertext === undefined) throw new CredentialsError(`shop ${shopId}: stored credentials are not in a known format`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(aad(shopId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as ShopSecrets;
  } catch {
    throw new CredentialsError(`shop ${shopId}: CREDENTIALS_KEY does not open its stored credentials (another key?)`);
  }
}

/** What a shop stores: its plain provider settings (demo shops: none) and its sealed secrets. */
export interface ShopWithSecrets {
  id: string;
  providerSettings: ShopProviderSettings;
  credentials?: string | null;
}

/** The provider settings a shop's payments use: its plain settings, overlaid by its sealed ones (the environment fills the rest). */
export function effectiveProviderSettings(shop: ShopWithSecrets, key: Buffer | undefined): ShopProviderSettings {
  if (!shop.credentials) return shop.providerSettings;
  const sealed = openSecrets(key, shop.id, shop.credentials).payments ?? {};
  const merged: Record<string, unknown> = { ...shop.providerSettings };
  for (const [provider, values] of Object.entries(sealed)) merged[provider] = { ...(merged[provider] as object | undefined), ...values };
  return merged as ShopProviderSettings;
}

/** The shop's own Graph API access token, or undefined (the environment's applies). */
export function shopAccessToken(shop: { id: string; credentials?: string | null }, key: Buffer | undefined): string | undefined {
  return shop.credentials ? openSecrets(key, shop.id, shop.credentials).whatsapp?.accessToken : undefined;
}

/** The app secret of the shop's own Meta app, which signs its webhooks; undefined when it shares the environment's app. */
export function shopAppSecret(shop: { id: string; credentials?: string | null }, key: Buffer | undefined): string | undefined {
  return shop.credentials ? openSecrets(key, shop.id, shop.credentials).whatsapp?.appSecret : undefined;
}

/**
 * In the sandbox (`npm start`, `npm run api` without real credentials) a key is generated once under the data folder
 * and kept, so stored credentials open again after a restart. Outside the sandbox `CREDENTIALS_KEY` is required
 * (lib/config.ts checks it at start).
 */
export function withSandboxCredentialsKey(config: Config): Config {
  if (config.credentialsKey || !config.sandbox) return config;
  mkdirSync(config.dataDir, { recursive: true });
  const file = join(config.dataDir, 'credentials-key');
  try {
    // `wx`: the API and the worker may both start at once; the first one's key wins.
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return { ...config, credentialsKey: parseCredentialsKey(readFileSync(file, 'utf8').trim()) };
}
