import { createHmac } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';

/**
 * The outside name of a customer: a keyed hash of their WhatsApp id, so no phone number appears in a workflow id,
 * search attribute, summary or log. Keyed (not a bare hash) because phone numbers are few enough to enumerate.
 */
export function customerRefFor(waId: string, secret: string): string {
  return createHmac('sha256', secret).update(waId.replace(/\D/g, '')).digest('hex').slice(0, 20);
}

const CACHE_SIZE = 10_000;

/**
 * The ref of a customer who writes in, across key rotations (`CUSTOMER_REF_SECRET=new,old`): a customer duka already
 * knows (a `customer` row of that shop, found by WhatsApp id or by their ref under any of the keys) keeps the ref they
 * were given, so their conversation (`conversation:<shop>:<ref>`), orders and search attributes stay theirs; only a
 * new customer gets a ref under the first key. Known refs never change, so they are cached.
 */
export class CustomerRefs {
  private readonly known = new Map<string, string>();
  private readonly secrets: readonly string[];
  private readonly orm: MikroORM;

  constructor(secrets: readonly string[], orm: MikroORM) {
    if (secrets.length === 0) throw new Error('CustomerRefs needs at least one secret');
    this.secrets = secrets;
    this.orm = orm;
  }

  static forConfig(config: Pick<Config, 'customerRefSecret' | 'customerRefSecrets'>, orm: MikroORM): CustomerRefs {
    return new CustomerRefs(config.customerRefSecrets.length > 0 ? config.customerRefSecrets : [config.customerRefSecret], orm);
  }

  async of(shopId: string, waId: string): Promise<string> {
    const key = `${shopId}:${waId}`;
    const cached = this.known.get(key);
    if (cached) return cached;
    const candidates = this.secrets.map((s) => customerRefFor(waId, s));
    const rows = await this.orm.em
      .getConnection()
      .execute<{ ref: string }[]>('select ref from customer where shop_id = ? and (wa_id = ? or ref in (?)) order by created_at limit 1', [shopId, waId, candidates]);
    const ref = rows[0]?.ref;
    if (!ref) return candidates[0]!;
    if (this.known.size >= CACHE_SIZE) this.known.delete(this.known.keys().next().value!);
    this.known.set(key, ref);
    return ref;
  }
}
