import type { MikroORM } from '@mikro-orm/postgresql';

/** A shop's deployed WhatsApp Flow (table `whatsapp_flow`, Migration20261203210000): one row per shop and kind. */
export interface ShopFlowRow {
  shopId: string;
  kind: string;
  flowId: string;
  name: string;
  status: string;
  validationErrors: unknown[];
  deployedAt: Date;
}

interface Raw {
  shop_id: string;
  kind: string;
  flow_id: string;
  name: string;
  status: string;
  validation_errors: unknown[];
  deployed_at: Date;
}

const rowOf = (r: Raw): ShopFlowRow => ({ shopId: r.shop_id, kind: r.kind, flowId: r.flow_id, name: r.name, status: r.status, validationErrors: r.validation_errors, deployedAt: new Date(r.deployed_at) });

export async function shopFlows(orm: MikroORM, shopId: string): Promise<ShopFlowRow[]> {
  const rows = await orm.em.getConnection().execute<Raw[]>('select * from whatsapp_flow where shop_id = ? order by kind', [shopId]);
  return rows.map(rowOf);
}

/** The flow of this kind, when it is published: only a published flow can be sent to customers (§11.4). */
export async function publishedFlow(orm: MikroORM, shopId: string, kind: string): Promise<ShopFlowRow | undefined> {
  const rows = await orm.em.getConnection().execute<Raw[]>("select * from whatsapp_flow where shop_id = ? and kind = ? and status = 'PUBLISHED'", [shopId, kind]);
  return rows[0] ? rowOf(rows[0]) : undefined;
}

export async function saveShopFlow(orm: MikroORM, row: Omit<ShopFlowRow, 'deployedAt'>): Promise<void> {
  await orm.em.getConnection().execute(
    `insert into whatsapp_flow (shop_id, kind, flow_id, name, status, validation_errors, deployed_at) values (?, ?, ?, ?, ?, ?::jsonb, now())
     on conflict (shop_id, kind) do update set flow_id = excluded.flow_id, name = excluded.name, status = excluded.status,
       validation_errors = excluded.validation_errors, deployed_at = excluded.deployed_at`,
    [row.shopId, row.kind, row.flowId, row.name, row.status, JSON.stringify(row.validationErrors)],
  );
}
