import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { ShopProviderSettings } from '../db/entities.ts';
import { effectiveProviderSettings, shopAccessToken, shopAppSecret } from '../lib/credentials.ts';
import { logger } from '../lib/logger.ts';

/** What the HTTP layer needs of a shop, read on every webhook: kept in memory, refreshed every minute and on a miss. */
export interface ShopEntry {
  id: string;
  name: string;
  phoneNumberId: string;
  country: string;
  currency: string;
  /** Its plain settings overlaid by its sealed credentials, already opened (lib/credentials.ts). */
  providerSettings: ShopProviderSettings;
  /** A deactivated shop keeps settling its payments but gets no WhatsApp messages routed to it. */
  active: boolean;
  /** The secret of the shop's own Meta app, when it has one: its webhooks are signed with it. */
  appSecret?: string;
  /** The shop's own Graph API token, when it has one (read receipts); the environment's serves the others. */
  accessToken?: string;
}

/** Whose a bearer token is: the issued token's id, or `legacy` for the old single `shop.api_token_hash`. */
export interface TokenOwner {
  shopId: string;
  tokenId: string;
}

interface ShopRow {
  id: string;
  name: string;
  phone_number_id: string;
  country: string;
  currency: string;
  provider_settings: ShopProviderSettings | string | null;
  credentials: string | null;
  active: boolean;
}

export interface ShopDirectoryOptions {
  /** Full refresh interval (default 60 s). */
  maxAgeMs?: number;
  /** A miss refreshes at most this often, so a flood of unknown numbers cannot hammer the database (default 1 s). */
  missRefreshMs?: number;
  now?: () => number;
  /** Opens shops' stored credentials (config.credentialsKey). */
  credentialsKey?: Buffer | undefined;
}

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
  private readonly credentialsKey: Buffer | undefined;

  constructor(orm: MikroORM, options: ShopDirectoryOptions = {}) {
    this.credentialsKey = options.credentialsKey;
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

  /**
   * Whose API token this is, read from the database on every call (never cached), so a revoked token is refused at once.
   * Looked up by its sha256: an index lookup on a digest tells nothing about the token.
   */
  async byApiToken(token: string): Promise<TokenOwner | undefined> {
    const hash = sha256(token).toString('hex');
    const rows = await this.orm.em
      .getConnection()
      .execute<{ shop_id: string; token_id: string }[]>(
        `select shop_id, id::text as token_id from shop_token where token_hash = ? and revoked_at is null
         union all select id, 'legacy' from shop where api_token_hash = ? limit 1`,
        [hash, hash],
      );
    const row = rows[0];
    return row ? { shopId: row.shop_id, tokenId: row.token_id } : undefined;
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
      .execute<ShopRow[]>('select id, name, phone_number_id, country, currency, provider_settings, credentials, active from shop');
    const byPhone = new Map<string, ShopEntry>();
    const byId = new Map<string, ShopEntry>();
    for (const row of rows) {
      const plain = typeof row.provider_settings === 'string' ? (JSON.parse(row.provider_settings) as ShopProviderSettings) : (row.provider_settings ?? {});
      let settings: ShopProviderSettings;
      let appSecret: string | undefined;
      let accessToken: string | undefined;
      try {
        settings = effectiveProviderSettings({ id: row.id, providerSettings: plain, credentials: row.credentials }, this.credentialsKey);
        appSecret = shopAppSecret(row, this.credentialsKey);
        accessToken = shopAccessToken(row, this.credentialsKey);
      } catch (err) {
        // The start-up check refuses to run with credentials it cannot open. Here one shop must not stop the others,
        // nor be served with the environment's credentials (another merchant's account): it is left out.
        logger.error({ shopId: row.id, err: (err as Error).message }, 'shop credentials cannot be opened: shop left out');
        continue;
      }
      const entry: ShopEntry = {
        id: row.id,
        name: row.name,
        phoneNumberId: row.phone_number_id,
        country: row.country,
        currency: row.currency,
        providerSettings: settings,
        active: row.active,
        ...(appSecret ? { appSecret } : {}),
        ...(accessToken ? { accessToken } : {}),
      };
      if (entry.active) byPhone.set(entry.phoneNumberId, entry);
      byId.set(entry.id, entry);
    }
    this.byPhone = byPhone;
    this.byId = byId;
    this.loadedAt = this.now();
  }
}
