import { createHash, timingSafeEqual } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ShopProviderSettings } from '../db/entities.ts';

/** What the HTTP layer needs of a shop, read on every webhook: kept in memory, refreshed every minute and on a miss. */
export interface ShopEntry {
  id: string;
  name: string;
  phoneNumberId: string;
  country: string;
  currency: string;
  providerSettings: ShopProviderSettings;
  /** sha256 of the shop's API token, raw bytes; null when the shop has none. */
  apiTokenHash: Buffer | null;
}

interface ShopRow {
  id: string;
  name: string;
  phone_number_id: string;
  country: string;
  currency: string;
  provider_settings: ShopProviderSettings | string | null;
  api_token_hash: string | null;
}

export interface ShopDirectoryOptions {
  /** Full refresh interval (default 60 s). */
  maxAgeMs?: number;
  /** A miss refreshes at most this often, so a flood of unknown numbers cannot hammer the database (default 1 s). */
  missRefreshMs?: number;
  now?: () => number;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class ShopDirectory {
  private byPhone = new Map<string, ShopEntry>();
  private byId = new Map<string, ShopEntry>();
  private loadedAt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;
  private readonly orm: MikroORM;
  private readonly maxAgeMs: number;
  private readonly missRefreshMs: number;
  private readonly now: () => number;

  constructor(orm: MikroORM, options: ShopDirectoryOptions = {}) {
    this.orm = orm;
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.missRefreshMs = options.missRefreshMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  async byPhoneNumberId(phoneNumberId: string): Promise<ShopEntry | undefined> {
    return this.lookup(() => this.byPhone.get(phoneNumberId));
  }

  async get(shopId: string): Promise<ShopEntry | undefined> {
    return this.lookup(() => this.byId.get(shopId));
  }

  /** The shop whose API token this is, compared in constant time against every shop's hash. */
  async byApiToken(token: string): Promise<ShopEntry | undefined> {
    const hash = sha256(token);
    return this.lookup(() => {
      let found: ShopEntry | undefined;
      for (const shop of this.byId.values()) {
        if (shop.apiTokenHash && shop.apiTokenHash.length === hash.length && timingSafeEqual(shop.apiTokenHash, hash)) found = shop;
      }
      return found;
    });
  }

  async all(): Promise<ShopEntry[]> {
    await this.fresh();
    return [...this.byId.values()];
  }

  /** Forget everything (tests, or after a shop changed). */
  invalidate(): void {
    this.loadedAt = Number.NEGATIVE_INFINITY;
  }

  private async lookup(find: () => ShopEntry | undefined): Promise<ShopEntry | undefined> {
    await this.fresh();
    const hit = find();
    if (hit) return hit;
    if (this.now() - this.loadedAt < this.missRefreshMs) return undefined;
    await this.refresh();
    return find();
  }

  private async fresh(): Promise<void> {
    if (this.now() - this.loadedAt >= this.maxAgeMs) await this.refresh();
  }

  private refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    const rows = await this.orm.em
      .getConnection()
      .execute<ShopRow[]>('select id, name, phone_number_id, country, currency, provider_settings, api_token_hash from shop');
    const byPhone = new Map<string, ShopEntry>();
    const byId = new Map<string, ShopEntry>();
    for (const row of rows) {
      const settings = typeof row.provider_settings === 'string' ? (JSON.parse(row.provider_settings) as ShopProviderSettings) : (row.provider_settings ?? {});
      const entry: ShopEntry = {
        id: row.id,
        name: row.name,
        phoneNumberId: row.phone_number_id,
        country: row.country,
        currency: row.currency,
        providerSettings: settings,
        apiTokenHash: row.api_token_hash && HEX_SHA256.test(row.api_token_hash) ? Buffer.from(row.api_token_hash, 'hex') : null,
      };
      byPhone.set(entry.phoneNumberId, entry);
      byId.set(entry.id, entry);
    }
    this.byPhone = byPhone;
    this.byId = byId;
    this.loadedAt = this.now();
  }
}
