import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { UniqueConstraintViolationException, type EntityManager, type MikroORM } from '@mikro-orm/postgresql';
import { Category, ModifierGroup, ModifierOption, Presentation, Product, type ICategory, type IProduct, type IShop } from '../../db/entities.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { audit, changes } from '../audit.ts';
import { pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';
import { catalogChanged, type CatalogSyncDeps } from '../../lib/catalog-sync.ts';

const MAX_MINOR = 1_000_000_000_000;
const Id = z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'letters, digits, _ . : - (1 to 100)');
const Name = z.string().trim().min(1).max(200);
const Text = z.string().trim().min(1).max(4000);
const Position = z.number().int().min(0).max(100_000);
/** Money in minor units of the shop's currency: a whole number, never negative. */
const Price = z.number({ error: 'a price is a whole number of minor units' }).int('a price is a whole number of minor units').min(0).max(MAX_MINOR);
const ImageUrl = z
  .string()
  .trim()
  .max(1000)
  .refine((u) => /^https?:\/\/\S+$/i.test(u) || /^\/[^\s/]\S*$/.test(u), 'an http(s) URL or a path on this server');

const CategoryFields = { name: Name, description: z.string().trim().min(1).max(255).nullable(), position: Position, active: z.boolean() };
const CreateCategory = z.strictObject({ ...CategoryFields, description: CategoryFields.description.optional(), position: Position.optional(), active: z.boolean().optional() });
const PatchCategory = z
  .strictObject({ name: Name.optional(), description: CategoryFields.description.optional(), position: Position.optional(), active: z.boolean().optional() })
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');

/** An `id` keeps an existing size or option (a customer's choice of it stays valid); without one a new one is made. */
const PresentationInput = z.strictObject({ id: Id.optional(), name: z.string().trim().min(1).max(60), price: Price });
const OptionInput = z.strictObject({
  id: Id.optional(),
  name: z.string().trim().min(1).max(60),
  priceDelta: z.number().int().min(-MAX_MINOR).max(MAX_MINOR).default(0),
  available: z.boolean().optional(),
});
const GroupInput = z
  .strictObject({
    id: Id.optional(),
    name: z.string().trim().min(1).max(60),
    minSelect: z.number().int().min(0).max(10),
    maxSelect: z.number().int().min(1).max(10),
    options: z.array(OptionInput).min(1).max(10),
  })
  .refine((g) => g.minSelect <= g.maxSelect, 'minSelect must not exceed maxSelect')
  .refine((g) => g.minSelect <= g.options.length, 'minSelect must not exceed the number of options');
const ProductFields = {
  retailerId: z.string().trim().min(1).max(100),
  name: Name,
  price: Price,
  description: Text.nullable(),
  categoryId: Id.nullable(),
  imageUrl: ImageUrl.nullable(),
  available: z.boolean(),
  /** Units on the shelf; null = unlimited. */
  stock: z.number().int().min(0).max(1_000_000_000).nullable(),
  position: Position,
  presentations: z.array(PresentationInput).max(10),
  modifierGroups: z.array(GroupInput).max(10),
};
const optional = <T extends Record<string, z.ZodType>>(fields: T) =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };
const CreateProduct = z.strictObject({ ...optional(ProductFields), retailerId: ProductFields.retailerId, name: ProductFields.name, price: ProductFields.price });
const PatchProduct = z.strictObject(optional(ProductFields)).refine((b) => Object.keys(b).length > 0, 'nothing to change');
type ProductInput = z.infer<typeof PatchProduct>;
const ProductsQuery = z.object({ category: Id.optional() });

function categoryJson(c: ICategory) {
  return { id: c.id, name: c.name, description: c.description ?? null, position: c.position, active: c.active };
}

function productJson(p: IProduct, shop: IShop) {
  const byPosition = <T extends { position: number }>(xs: T[]) => [...xs].sort((a, b) => a.position - b.position);
  return {
    id: p.id,
    shopId: shop.id,
    retailerId: p.retailerId,
    name: p.name,
    description: p.description ?? null,
    price: p.price,
    currency: shop.currency,
    categoryId: p.category?.id ?? null,
    imageUrl: p.imageUrl ?? null,
    available: p.available,
    stock: p.stock ?? null,
    /** Held by placed orders until they are paid or given back. */
    stockReserved: p.stockReserved,
    /** What a customer can still buy (null = unlimited). */
    stockAvailable: p.stock === null || p.stock === undefined ? null : Math.max(0, p.stock - p.stockReserved),
    position: p.position,
    presentations: byPosition(p.presentations.getItems()).map((x) => ({ id: x.id, name: x.name, price: x.price })),
    modifierGroups: byPosition(p.modifierGroups.getItems()).map((g) => ({
      id: g.id,
      name: g.name,
      minSelect: g.minSelect,
      maxSelect: g.maxSelect,
      options: byPosition(g.options.getItems()).map((o) => ({ id: o.id, name: o.name, priceDelta: o.priceDelta, available: o.available })),
    })),
  };
}

const POPULATE = ['category', 'presentations', 'modifierGroups', 'modifierGroups.options'] as const;
const newId = () => randomUUID();

/** Ids given in a list must be the product's own and appear once. */
function checkIds(given: (string | undefined)[], known: Set<string>, what: string): void {
  const ids = given.filter((x): x is string => x !== undefined);
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length) throw new HttpError(422, `unknown_${what}`, `no ${what} ${unknown.slice(0, 5).join(', ')} on this product`);
  if (new Set(ids).size !== ids.length) throw new HttpError(400, 'invalid_request', `a ${what} id appears twice`);
}

/**
 * Catalog CRUD under `/api/admin/shops/:shopId` (CONTRACT.md § Back office): categories and products with their sizes
 * (presentations) and modifier groups. Customers read the catalog through local activities on every message, so a
 * change here is seen by the very next message, also in conversations already open; an order re-prices its lines when
 * it is placed. Every change is written to the audit log in the same flush.
 */
export function catalogRouter(deps: { orm: MikroORM; catalogSync?: CatalogSyncDeps }): Router {
  const { orm } = deps;
  const router = Router();
  /** After the write: the shop's Meta catalog follows (debounced, workflows/catalog-sync.ts). */
  const changed = (shop: IShop) => (deps.catalogSync ? catalogChanged(deps.catalogSync, shop) : Promise.resolve());

  async function categoryOf(em: EntityManager, shop: IShop, categoryId: string): Promise<ICategory> {
    const category = await em.findOne(Category, { id: parseInput(Id, categoryId, 'category id'), shop: shop.id });
    if (!category) throw new HttpError(404, 'not_found', `no category ${categoryId} in shop ${shop.id}`);
    return category;
  }
  async function productOf(em: EntityManager, shop: IShop, productId: string): Promise<IProduct> {
    const product = await em.findOne(Product, { id: parseInput(Id, productId, 'product id'), shop: shop.id }, { populate: POPULATE });
    if (!product) throw new HttpError(404, 'not_found', `no product ${productId} in shop ${shop.id}`);
    return product;
  }
  /** A body naming a category of another shop, or none, is 422: the product would be in no list. */
  async function bodyCategory(em: EntityManager, shop: IShop, categoryId: string | null | undefined) {
    if (categoryId === undefined || categoryId === null) return categoryId;
    const category = await em.findOne(Category, { id: categoryId, shop: shop.id });
    if (!category) throw new HttpError(422, 'unknown_category', `no category ${categoryId} in shop ${shop.id}`);
    return category;
  }
  async function retailerIdFree(em: EntityManager, shop: IShop, retailerId: string, productId?: string) {
    const taken = await em.findOne(Product, { shop: shop.id, retailerId, ...(productId ? { id: { $ne: productId } } : {}) }, { fields: ['id'] });
    if (taken) throw new HttpError(409, 'duplicate_retailer_id', `retailerId ${retailerId} is already product ${taken.id}`);
  }
  /** Two writers racing for one retailerId: the unique constraint answers the second with 409, never 500. */
  async function flush(em: EntityManager, retailerId: string | undefined) {
    try {
      await em.flush();
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) throw new HttpError(409, 'duplicate_retailer_id', `retailerId ${retailerId ?? ''} is already taken`);
      throw err;
    }
  }

  /** Makes the product's sizes and modifier groups what the body lists (kept by id, made, or removed). */
  function syncChildren(em: EntityManager, product: IProduct, body: ProductInput) {
    if (body.presentations) {
      const existing = new Map(product.presentations.getItems().map((x) => [x.id, x]));
      checkIds(body.presentations.map((x) => x.id), new Set(existing.keys()), 'presentation');
      const keep = new Set(body.presentations.map((x) => x.id));
      for (const [id, x] of existing) if (!keep.has(id)) em.remove(x);
      body.presentations.forEach((x, position) => {
        const found = x.id ? existing.get(x.id) : undefined;
        if (found) em.assign(found, { name: x.name, price: x.price, position });
        else em.create(Presentation, { id: newId(), product, name: x.name, price: x.price, position });
      });
    }
    if (body.modifierGroups) {
      const groups = new Map(product.modifierGroups.getItems().map((g) => [g.id, g]));
      checkIds(body.modifierGroups.map((g) => g.id), new Set(groups.keys()), 'modifier_group');
      const options = new Map(product.modifierGroups.getItems().flatMap((g) => g.options.getItems().map((o) => [o.id, { option: o, groupId: g.id }] as const)));
      const keepGroups = new Set(body.modifierGroups.map((g) => g.id));
      for (const [id, g] of groups) {
        if (keepGroups.has(id)) continue;
        for (const o of g.options.getItems()) em.remove(o);
        em.remove(g);
      }
      body.modifierGroups.forEach((g, position) => {
        const fields = { name: g.name, minSelect: g.minSelect, maxSelect: g.maxSelect, position };
        const group = g.id ? groups.get(g.id)! : em.create(ModifierGroup, { id: newId(), product, ...fields });
        if (g.id) em.assign(group, fields);
        const own = new Set([...options].filter(([, o]) => o.groupId === group.id).map(([id]) => id));
        checkIds(g.options.map((o) => o.id), own, 'modifier_option');
        const keep = new Set(g.options.map((o) => o.id));
        for (const id of own) if (!keep.has(id)) em.remove(options.get(id)!.option);
        g.options.forEach((o, i) => {
          const optionFields = { name: o.name, priceDelta: o.priceDelta, available: o.available ?? true, position: i };
          const found = o.id ? options.get(o.id)?.option : undefined;
          if (found) em.assign(found, optionFields);
          else em.create(ModifierOption, { id: newId(), group, ...optionFields });
        });
      });
    }
  }

  // ---- categories -------------------------------------------------------------------------------------------------
  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/categories', summary: 'Categories in their order', params: { shopId: ShopIdParam }, responses: { 200: 'the categories', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/categories', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const categories = await orm.em.fork().find(Category, { shop: shop.id }, { orderBy: { position: 'asc', id: 'asc' } });
    res.json({ categories: categories.map(categoryJson) });
  });

  describeRoute({ method: 'post', path: '/api/admin/shops/:shopId/categories', summary: 'Add a category', params: { shopId: ShopIdParam }, body: CreateCategory, responses: { 201: 'the category', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.post('/shops/:shopId/categories', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(CreateCategory, req.body, 'body');
    const em = orm.em.fork();
    const category = em.create(Category, { id: newId(), shop: shop.id, name: body.name, description: body.description ?? null, position: body.position ?? 0, active: body.active ?? true });
    audit(res, em, { shopId: shop.id, entity: 'category', entityId: category.id, action: 'create', diff: changes({}, categoryJson(category)) });
    await em.flush();
    requestLog(res).info({ shopId: shop.id, categoryId: category.id }, 'category created');
    res.status(201).json(categoryJson(category));
  });

  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId/categories/:categoryId', summary: 'Change a category (active: false hides it from customers)', params: { shopId: ShopIdParam, categoryId: Id }, body: PatchCategory, responses: { 200: 'the category', 404: 'no such shop or category', 403: 'another shop\'s token' } });
  router.patch('/shops/:shopId/categories/:categoryId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const em = orm.em.fork();
    const category = await categoryOf(em, shop, req.params.categoryId);
    const body = parseInput(PatchCategory, req.body, 'body');
    const before = categoryJson(category);
    em.assign(category, body);
    audit(res, em, { shopId: shop.id, entity: 'category', entityId: category.id, action: 'update', diff: changes(before, categoryJson(category)) });
    await em.flush();
    await changed(shop);
    res.json(categoryJson(category));
  });

  describeRoute({ method: 'delete', path: '/api/admin/shops/:shopId/categories/:categoryId', summary: 'Delete a category; its products stay, in no category', params: { shopId: ShopIdParam, categoryId: Id }, responses: { 204: 'deleted', 404: 'no such shop or category', 403: 'another shop\'s token' } });
  router.delete('/shops/:shopId/categories/:categoryId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const em = orm.em.fork();
    const category = await categoryOf(em, shop, req.params.categoryId);
    // Its products stay, in no category (the foreign key sets it null) until they are given another.
    audit(res, em, { shopId: shop.id, entity: 'category', entityId: category.id, action: 'delete', diff: changes(categoryJson(category), {}) });
    await em.remove(category).flush();
    await changed(shop);
    requestLog(res).info({ shopId: shop.id, categoryId: category.id }, 'category deleted');
    res.status(204).end();
  });

  // ---- products ---------------------------------------------------------------------------------------------------
  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/products', summary: 'Products with sizes, add-ons and stock', params: { shopId: ShopIdParam }, query: ProductsQuery, responses: { 200: 'the products', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/products', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const q = parseInput(ProductsQuery, req.query, 'query');
    const products = await orm.em.fork().find(Product, { shop: shop.id, ...(q.category ? { category: q.category } : {}) }, { populate: POPULATE, orderBy: { position: 'asc', id: 'asc' } });
    res.json({ products: products.map((p) => productJson(p, shop)) });
  });

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/products/:productId', summary: 'One product', params: { shopId: ShopIdParam, productId: Id }, responses: { 200: 'the product', 404: 'no such shop or product', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/products/:productId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    res.json(productJson(await productOf(orm.em.fork(), shop, req.params.productId), shop));
  });

  describeRoute({ method: 'post', path: '/api/admin/shops/:shopId/products', summary: 'Add a product (price in minor units; stock null = unlimited)', params: { shopId: ShopIdParam }, body: CreateProduct, responses: { 201: 'the product with its ids', 404: 'no such shop', 403: 'another shop\'s token', 409: 'retailerId already taken', 422: 'categoryId is not this shop\'s' } });
  router.post('/shops/:shopId/products', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(CreateProduct, req.body, 'body');
    const em = orm.em.fork();
    const category = await bodyCategory(em, shop, body.categoryId);
    await retailerIdFree(em, shop, body.retailerId);
    const product = em.create(Product, {
      id: newId(),
      shop: shop.id,
      category: category ?? null,
      retailerId: body.retailerId,
      name: body.name,
      description: body.description ?? null,
      price: body.price,
      imageUrl: body.imageUrl ?? null,
      available: body.available ?? true,
      stock: body.stock ?? null,
      position: body.position ?? 0,
    });
    syncChildren(em, product, body);
    audit(res, em, { shopId: shop.id, entity: 'product', entityId: product.id, action: 'create', diff: changes({}, { retailerId: body.retailerId, name: body.name, price: body.price, stock: body.stock ?? null }) });
    await flush(em, body.retailerId);
    await changed(shop);
    requestLog(res).info({ shopId: shop.id, productId: product.id }, 'product created');
    res.status(201).json(productJson(await productOf(orm.em.fork(), shop, product.id), shop));
  });

  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId/products/:productId', summary: 'Change a product; lists given replace its sizes and add-ons (kept by id)', params: { shopId: ShopIdParam, productId: Id }, body: PatchProduct, responses: { 200: 'the product', 404: 'no such shop or product', 403: 'another shop\'s token', 409: 'retailerId already taken', 422: 'an unknown category, size, group or option id' } });
  router.patch('/shops/:shopId/products/:productId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const em = orm.em.fork();
    const product = await productOf(em, shop, req.params.productId);
    const body = parseInput(PatchProduct, req.body, 'body');
    const category = await bodyCategory(em, shop, body.categoryId);
    if (body.retailerId !== undefined) await retailerIdFree(em, shop, body.retailerId, product.id);
    const before = productJson(product, shop);
    // Only the fields given are written: `stock_reserved` belongs to the orders (activities/stock.ts), never to this.
    em.assign(product, {
      ...(body.retailerId !== undefined && { retailerId: body.retailerId }),
      ...(body.name !== undefined && { name: body.name }),
      ...(body.description !== undefined && { description: body.description }),
      ...(body.price !== undefined && { price: body.price }),
      ...(category !== undefined && { category }),
      ...(body.imageUrl !== undefined && { imageUrl: body.imageUrl }),
      ...(body.available !== undefined && { available: body.available }),
      ...(body.stock !== undefined && { stock: body.stock }),
      ...(body.position !== undefined && { position: body.position }),
    });
    syncChildren(em, product, body);
    const given = Object.keys(body) as (keyof typeof before)[];
    const pick = (view: Record<string, unknown>) => Object.fromEntries(given.map((k) => [k, view[k]]));
    audit(res, em, { shopId: shop.id, entity: 'product', entityId: product.id, action: 'update', diff: changes(pick(before), pick({ ...before, ...body })) });
    await flush(em, body.retailerId);
    await changed(shop);
    const after = productJson(await productOf(orm.em.fork(), shop, product.id), shop);
    requestLog(res).info({ shopId: shop.id, productId: product.id, fields: Object.keys(body) }, 'product changed');
    res.json(after);
  });

  describeRoute({ method: 'delete', path: '/api/admin/shops/:shopId/products/:productId', summary: 'Delete a product', params: { shopId: ShopIdParam, productId: Id }, responses: { 204: 'deleted', 404: 'no such shop or product', 403: 'another shop\'s token' } });
  router.delete('/shops/:shopId/products/:productId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const em = orm.em.fork();
    const product = await productOf(em, shop, req.params.productId);
    // Order lines keep their own copy of name and price; a cart holding it is refused when placed.
    for (const g of product.modifierGroups.getItems()) {
      for (const o of g.options.getItems()) em.remove(o);
      em.remove(g);
    }
    for (const x of product.presentations.getItems()) em.remove(x);
    em.remove(product);
    audit(res, em, { shopId: shop.id, entity: 'product', entityId: product.id, action: 'delete', diff: changes({ retailerId: product.retailerId, name: product.name }, {}) });
    await em.flush();
    await changed(shop);
    requestLog(res).info({ shopId: shop.id, productId: product.id }, 'product deleted');
    res.status(204).end();
  });

  return router;
}

