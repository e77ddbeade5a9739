import { Router, type Response } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Promotion, type IPromotion, type IShop } from '../../db/entities.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { DateTimeInput, pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';
import { PageQuery, shopPage } from '../paging.ts';
import { audit, changes } from '../audit.ts';

const Id = z.string().min(1).max(100);
const Ids = z.array(Id).max(200).transform((ids) => [...new Set(ids)]);
const Fields = {
  title: z.string().trim().min(1).max(100),
  description: z.string().trim().min(1).max(500),
  /** Whole percent, 1–100, off each line it covers. */
  percentOff: z.number().int().min(1).max(100),
  /** Minor units off each unit it covers (never below zero). */
  amountOff: z.number().int().min(1).max(1_000_000_000),
  productIds: Ids,
  categoryIds: Ids,
  startsAt: DateTimeInput,
  endsAt: DateTimeInput,
  active: z.boolean(),
};
const oneDiscount = (b: { percentOff?: number | null | undefined; amountOff?: number | null | undefined }) => (b.percentOff != null) !== (b.amountOff != null);

const CreatePromotion = z
  .strictObject({
    title: Fields.title,
    description: Fields.description.optional(),
    percentOff: Fields.percentOff.optional(),
    amountOff: Fields.amountOff.optional(),
    productIds: Fields.productIds.optional(),
    categoryIds: Fields.categoryIds.optional(),
    startsAt: Fields.startsAt.optional(),
    endsAt: Fields.endsAt.optional(),
    active: Fields.active.optional(),
  })
  .refine(oneDiscount, 'give either percentOff or amountOff');
/** Giving one kind of discount replaces the other; null clears a description, scope or date. */
const PatchPromotion = z
  .strictObject({
    title: Fields.title.optional(),
    description: Fields.description.nullable().optional(),
    percentOff: Fields.percentOff.optional(),
    amountOff: Fields.amountOff.optional(),
    productIds: Fields.productIds.optional(),
    categoryIds: Fields.categoryIds.optional(),
    startsAt: Fields.startsAt.nullable().optional(),
    endsAt: Fields.endsAt.nullable().optional(),
    active: Fields.active.optional(),
  })
  .refine((b) => !(b.percentOff !== undefined && b.amountOff !== undefined), 'give either percentOff or amountOff')
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');
const PromotionIdParam = z.uuid('not a promotion id');

function running(p: IPromotion, now = new Date()): boolean {
  return p.active && (!p.startsAt || p.startsAt <= now) && (!p.endsAt || p.endsAt > now);
}

/** The fields an audit entry compares (dates as ISO text). */
function audited(p: IPromotion): Record<string, unknown> {
  const { id: _id, shopId: _shop, running: _running, createdAt: _created, updatedAt: _updated, ...fields } = promotionJson(p);
  return fields;
}

function promotionJson(p: IPromotion) {
  return {
    id: p.id,
    shopId: typeof p.shop === 'string' ? p.shop : p.shop.id,
    title: p.title,
    description: p.description ?? null,
    percentOff: p.percentOff ?? null,
    amountOff: p.amountOff ?? null,
    productIds: p.productIds,
    categoryIds: p.categoryIds,
    startsAt: p.startsAt?.toISOString() ?? null,
    endsAt: p.endsAt?.toISOString() ?? null,
    active: p.active,
    /** Active and within its dates now: it shows under "View promotions" and discounts carts. */
    running: running(p),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/**
 * Promotions (seed 001): a percentage or an amount off some products and/or the products of some categories (neither:
 * every product), between optional dates. A running one puts "View promotions" in the shop's main menu and is a line
 * of its own in the cart, the summary, the receipt and the order's read model.
 */
export function promotionsRouter(deps: { orm: MikroORM }): Router {
  const { orm } = deps;
  const router = Router();

  /** Every product and category named must be the shop's own: 422 naming the others. */
  async function checkScope(shop: IShop, productIds: string[] | undefined, categoryIds: string[] | undefined) {
    const conn = orm.em.fork().getConnection();
    const missing = async (table: 'product' | 'category', ids: string[] | undefined) => {
      if (!ids?.length) return [];
      const rows = await conn.execute<{ id: string }[]>(`select id from ${table} where shop_id = ? and id in (${ids.map(() => '?').join(', ')})`, [shop.id, ...ids]);
      const found = new Set(rows.map((r) => r.id));
      return ids.filter((id) => !found.has(id));
    };
    const [products, categories] = await Promise.all([missing('product', productIds), missing('category', categoryIds)]);
    if (products.length) throw new HttpError(422, 'unknown_product', `no product ${products.slice(0, 5).join(', ')} in shop ${shop.id}`);
    if (categories.length) throw new HttpError(422, 'unknown_category', `no category ${categories.slice(0, 5).join(', ')} in shop ${shop.id}`);
  }
  const checkDates = (startsAt: Date | null | undefined, endsAt: Date | null | undefined) => {
    if (startsAt && endsAt && endsAt <= startsAt) throw new HttpError(400, 'invalid_request', 'invalid body: endsAt: must be after startsAt');
  };

  async function visiblePromotion(res: Response, shopId: string, promotionId: string) {
    const shop = await pathShop(res, orm, shopId);
    const id = parseInput(PromotionIdParam, promotionId, 'promotion id');
    const em = orm.em.fork();
    const promotion = await em.findOne(Promotion, { id, shop: shop.id });
    if (!promotion) throw new HttpError(404, 'not_found', `no promotion ${id} in shop ${shop.id}`);
    return { shop, promotion, em };
  }

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/promotions', summary: 'Promotions, newest first (running: shown and discounting now), paged by cursor like the orders', params: { shopId: ShopIdParam }, query: PageQuery, responses: { 200: 'a page of promotions and the next cursor', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/promotions', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const query = parseInput(PageQuery, req.query, 'query');
    const em = orm.em.fork();
    const { rows, nextCursor } = await shopPage(em, 'promotion', shop.id, query, (ids) => em.find(Promotion, { id: { $in: ids } }));
    res.json({ promotions: rows.map(promotionJson), nextCursor });
  });

  describeRoute({ method: 'post', path: '/api/admin/shops/:shopId/promotions', summary: 'Add a promotion: percentOff or amountOff (minor units) off products and/or categories, between optional dates', params: { shopId: ShopIdParam }, body: CreatePromotion, responses: { 201: 'the promotion', 404: 'no such shop', 403: 'another shop\'s token', 422: 'a product or category that is not this shop\'s' } });
  router.post('/shops/:shopId/promotions', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(CreatePromotion, req.body, 'body');
    checkDates(body.startsAt, body.endsAt);
    await checkScope(shop, body.productIds, body.categoryIds);
    const em = orm.em.fork();
    const promotion = em.create(Promotion, {
      shop: shop.id,
      title: body.title,
      description: body.description ?? null,
      percentOff: body.percentOff ?? null,
      amountOff: body.amountOff ?? null,
      productIds: body.productIds ?? [],
      categoryIds: body.categoryIds ?? [],
      startsAt: body.startsAt ?? null,
      endsAt: body.endsAt ?? null,
      active: body.active ?? true,
    });
    audit(res, em, { shopId: shop.id, entity: 'promotion', entityId: promotion.id, action: 'create', diff: changes({}, audited(promotion)) });
    await em.flush();
    requestLog(res).info({ shopId: shop.id, promotionId: promotion.id }, 'promotion created');
    res.status(201).json(promotionJson(promotion));
  });

  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId/promotions/:promotionId', summary: 'Change a promotion (one kind of discount replaces the other; null clears)', params: { shopId: ShopIdParam, promotionId: PromotionIdParam }, body: PatchPromotion, responses: { 200: 'the promotion', 404: 'no such shop or promotion', 403: 'another shop\'s token', 422: 'a product or category that is not this shop\'s' } });
  router.patch('/shops/:shopId/promotions/:promotionId', async (req, res) => {
    const { shop, promotion, em } = await visiblePromotion(res, req.params.shopId, req.params.promotionId);
    const body = parseInput(PatchPromotion, req.body, 'body');
    checkDates(body.startsAt === undefined ? promotion.startsAt : body.startsAt, body.endsAt === undefined ? promotion.endsAt : body.endsAt);
    await checkScope(shop, body.productIds, body.categoryIds);
    const before = audited(promotion);
    em.assign(promotion, {
      ...(body.title !== undefined && { title: body.title }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.percentOff !== undefined && { percentOff: body.percentOff, amountOff: null }),
      ...(body.amountOff !== undefined && { amountOff: body.amountOff, percentOff: null }),
      ...(body.productIds !== undefined && { productIds: body.productIds }),
      ...(body.categoryIds !== undefined && { categoryIds: body.categoryIds }),
      ...(body.startsAt !== undefined && { startsAt: body.startsAt }),
      ...(body.endsAt !== undefined && { endsAt: body.endsAt }),
      ...(body.active !== undefined && { active: body.active }),
    });
    audit(res, em, { shopId: shop.id, entity: 'promotion', entityId: promotion.id, action: 'update', diff: changes(before, audited(promotion)) });
    await em.flush();
    requestLog(res).info({ shopId: shop.id, promotionId: promotion.id, fields: Object.keys(body) }, 'promotion changed');
    res.json(promotionJson(promotion));
  });

  describeRoute({ method: 'delete', path: '/api/admin/shops/:shopId/promotions/:promotionId', summary: 'Delete a promotion', params: { shopId: ShopIdParam, promotionId: PromotionIdParam }, responses: { 204: 'deleted', 404: 'no such shop or promotion', 403: 'another shop\'s token' } });
  router.delete('/shops/:shopId/promotions/:promotionId', async (req, res) => {
    const { shop, promotion, em } = await visiblePromotion(res, req.params.shopId, req.params.promotionId);
    audit(res, em, { shopId: shop.id, entity: 'promotion', entityId: promotion.id, action: 'delete', diff: changes(audited(promotion), {}) });
    await em.remove(promotion).flush();
    requestLog(res).info({ shopId: shop.id, promotionId: promotion.id }, 'promotion deleted');
    res.status(204).end();
  });

  return router;
}
