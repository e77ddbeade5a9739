import type { EntityManager } from '@mikro-orm/postgresql';
import type { PromotionView } from '../domain/catalog.ts';

/** A promotion runs while it is active and now is within its dates (either may be open). */
export const RUNNING_PROMOTION = `p.active and (p.starts_at is null or p.starts_at <= now()) and (p.ends_at is null or p.ends_at > now())`;

interface Row {
  id: string;
  title: string;
  description: string | null;
  percent_off: number | null;
  amount_off: number | null;
  product_ids: string[] | string;
  category_ids: string[] | string;
  ends_at: Date | string | null;
  category_products: string[] | string | null;
}

const list = (v: string[] | string | null): string[] => (v === null ? [] : typeof v === 'string' ? (JSON.parse(v) as string[]) : v);

/**
 * The shop's running promotions as an order applies them: categories resolved to their products now, so a product
 * moved into a promoted category is discounted from the next total on. Oldest first (ties go to the oldest).
 */
export async function runningPromotions(em: EntityManager, shopId: string): Promise<PromotionView[]> {
  const rows = await em.getConnection().execute<Row[]>(
    'select p.id, p.title, p.description, p.percent_off, p.amount_off, p.product_ids, p.category_ids, p.ends_at, ' +
      "(select coalesce(json_agg(pr.id), '[]') from product pr where pr.shop_id = p.shop_id and pr.category_id in (select jsonb_array_elements_text(p.category_ids))) as category_products " +
      `from promotion p where p.shop_id = ? and ${RUNNING_PROMOTION} order by p.created_at, p.id`,
    [shopId],
  );
  return rows.map((r) => {
    const products = list(r.product_ids);
    const categories = list(r.category_ids);
    const ends = r.ends_at === null ? null : new Date(r.ends_at);
    return {
      id: r.id,
      title: r.title,
      ...(r.description ? { description: r.description } : {}),
      ...(r.percent_off !== null ? { percentOff: r.percent_off } : {}),
      ...(r.amount_off !== null ? { amountOff: r.amount_off } : {}),
      productIds: products.length || categories.length ? [...new Set([...products, ...list(r.category_products)])] : null,
      ...(ends ? { endsAt: ends.toISOString() } : {}),
    };
  });
}

export async function hasRunningPromotions(em: EntityManager, shopId: string): Promise<boolean> {
  const rows = await em.getConnection().execute<{ n: number }[]>(`select count(*)::int as n from promotion p where p.shop_id = ? and ${RUNNING_PROMOTION}`, [shopId]);
  return (rows[0]?.n ?? 0) > 0;
}
