import { Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import { CatalogItemSync, CatalogSyncRun, Product } from '../../db/entities.ts';
import { requestCatalogSync, type CatalogSyncDeps } from '../../lib/catalog-sync.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';

const SyncBody = z.strictObject({
  /** false: send only what Meta has not confirmed (what a product change does); default: every product again. */
  full: z.boolean().optional(),
});

export const CatalogSyncReport = z.object({
  status: z.enum(['never', 'pending', 'running', 'completed', 'failed', 'no_catalog']),
  total: z.number().int(),
  synced: z.number().int(),
  failed: z.number().int(),
  pending: z.number().int(),
  errors: z.array(z.object({ retailerId: z.string(), message: z.string() })),
  catalogId: z.string().nullable(),
  requestedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
  runs: z.number().int(),
});
export type CatalogSyncReport = z.infer<typeof CatalogSyncReport>;

/** The report of the shop's catalog: every product it has and every retailer id Meta still has to delete. */
export async function catalogSyncReport(orm: MikroORM, shop: { id: string; catalogId?: string | null }): Promise<CatalogSyncReport> {
  const em = orm.em.fork();
  const [run, rows, products] = await Promise.all([
    em.findOne(CatalogSyncRun, { shopId: shop.id }),
    em.find(CatalogItemSync, { shopId: shop.id, status: { $ne: 'deleted' } }, { orderBy: { retailerId: 'asc' } }),
    em.find(Product, { shop: shop.id }, { fields: ['retailerId'] }),
  ]);
  const current = new Set(products.map((p) => p.retailerId));
  // A product that is gone counts (as pending) until Meta has deleted it.
  const synced = rows.filter((r) => r.status === 'synced' && current.has(r.retailerId)).length;
  const failed = rows.filter((r) => r.status === 'failed');
  const total = new Set([...current, ...rows.map((r) => r.retailerId)]).size;
  const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
  const asked = run?.requestedAt && (!run.startedAt || run.requestedAt > run.startedAt) && run.status !== 'running';
  return {
    status: !shop.catalogId ? 'no_catalog' : asked ? 'pending' : (run?.status ?? 'never'),
    total,
    synced,
    failed: failed.length,
    pending: total - synced - failed.length,
    errors: failed.map((r) => ({ retailerId: r.retailerId, message: r.error ?? 'failed' })),
    catalogId: shop.catalogId ?? null,
    requestedAt: iso(run?.requestedAt),
    startedAt: iso(run?.startedAt),
    finishedAt: iso(run?.finishedAt),
    error: run?.error ?? null,
    runs: run?.runs ?? 0,
  };
}

/** `POST`/`GET /api/admin/shops/:shopId/catalog/sync` (CONTRACT.md § Back office). */
export function catalogSyncRouter(deps: CatalogSyncDeps): Router {
  const { orm } = deps;
  const router = Router();

  describeRoute({
    method: 'post',
    path: '/api/admin/shops/:shopId/catalog/sync',
    summary: 'Sync the shop\'s products to its Meta catalog now',
    description: 'Runs at once, without the debounce of product changes; every product is sent again unless `full` is false. Answers the report as it stands (status `pending` until the run starts); read it again with GET.',
    params: { shopId: ShopIdParam },
    body: SyncBody,
    bodyOptional: true,
    responses: { 202: 'the sync is asked for: the report', 404: 'no such shop', 403: 'another shop\'s token', 409: 'the shop has no catalogId', 503: 'Temporal did not answer' },
  });
  router.post('/shops/:shopId/catalog/sync', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(SyncBody, req.body ?? {}, 'body');
    if (!shop.catalogId) throw new HttpError(409, 'no_catalog', `shop ${shop.id} has no catalogId: set one with PATCH /api/admin/shops/${shop.id}`);
    try {
      await requestCatalogSync(deps, shop, { source: 'manual', full: body.full ?? true, now: true });
    } catch (err) {
      requestLog(res).warn({ shopId: shop.id, error: (err as Error).message }, 'catalog sync not started');
      throw new HttpError(503, 'temporal_unavailable', 'the catalog sync could not be started; try again shortly');
    }
    requestLog(res).info({ shopId: shop.id }, 'catalog sync requested');
    res.status(202).json(await catalogSyncReport(orm, shop));
  });

  describeRoute({
    method: 'get',
    path: '/api/admin/shops/:shopId/catalog/sync',
    summary: 'The shop\'s Meta catalog sync: status, counts and each failed retailer id with Meta\'s message',
    params: { shopId: ShopIdParam },
    responses: { 200: 'the report', 404: 'no such shop', 403: 'another shop\'s token' },
  });
  router.get('/shops/:shopId/catalog/sync', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    res.json(await catalogSyncReport(orm, shop));
  });

  return router;
}
