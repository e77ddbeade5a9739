import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_TOKEN, bearer, errorCode, sql, startApi, type ApiHarness } from './support.ts';
import { createCatalogActivities } from '../../activities/catalog.ts';
import type { ActivityDeps } from '../../activities/deps.ts';

let api: ApiHarness;
const NAIROBI_TOKEN = 'shop-token-nairobi-catalog-0123456789';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const call = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
  const res = await fetch(`${api.url}/api/admin${path}`, {
    method,
    headers: { ...bearer(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return res;
};
const ok = async (res: Response, status = 200): Promise<Json> => {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as Json) : {};
};
const catalog = () => createCatalogActivities({ orm: api.db.orm, config: api.config } as unknown as ActivityDeps);

beforeAll(async () => {
  api = await startApi();
  await sql(api.db.orm, 'update shop set api_token_hash = ? where id = ?', [sha(NAIROBI_TOKEN), 'nairobi']);
});
afterAll(async () => {
  await api?.close();
});

describe('categories', () => {
  it('creates, lists, changes, hides and deletes a category; customers see only active ones', async () => {
    const created = await ok(await call('POST', '/shops/nairobi/categories', { name: 'Bakery', description: 'Fresh daily', position: 5 }), 201);
    expect(created).toEqual({ id: expect.any(String), name: 'Bakery', description: 'Fresh daily', position: 5, active: true });

    const listed = await ok(await call('GET', '/shops/nairobi/categories'));
    expect(listed.categories.map((c: Json) => c.id)).toContain(created.id);
    expect((await catalog().listCategories('nairobi')).map((c) => c.id)).toContain(created.id);

    const hidden = await ok(await call('PATCH', `/shops/nairobi/categories/${created.id}`, { active: false, name: 'Bread' }));
    expect(hidden).toMatchObject({ name: 'Bread', active: false, description: 'Fresh daily' });
    expect((await catalog().listCategories('nairobi')).map((c) => c.id)).not.toContain(created.id);

    const [entry] = await sql<{ actor: string; action: string; diff: Json }>(api.db.orm, "select actor, action, diff from audit_entry where entity = 'category' and entity_id = ? and action = 'update'", [created.id]);
    expect(entry).toMatchObject({ actor: 'admin', diff: { active: { from: true, to: false }, name: { from: 'Bakery', to: 'Bread' } } });

    await ok(await call('DELETE', `/shops/nairobi/categories/${created.id}`), 204);
    expect(await errorCode(await call('PATCH', `/shops/nairobi/categories/${created.id}`, { name: 'x' }))).toBe('not_found');
  });

  it('refuses bad bodies with 400 and unknown categories with 404', async () => {
    for (const body of [{}, { name: '' }, { name: 'x', position: -1 }, { name: 'x', extra: 1 }, { name: 'x', active: 'yes' }]) {
      const res = await call('POST', '/shops/nairobi/categories', body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
    const patch = await call('PATCH', '/shops/nairobi/categories/nairobi-pantry', {});
    expect(patch.status).toBe(400);
    const missing = await call('DELETE', '/shops/nairobi/categories/no-such-category');
    expect(missing.status).toBe(404);
    expect(await errorCode(missing)).toBe('not_found');
  });
});

describe('products', () => {
  const cake = {
    retailerId: 'NBO-CAKE-1',
    name: 'Carrot Cake',
    price: 45000,
    description: 'A whole cake',
    categoryId: 'nairobi-pantry',
    imageUrl: 'https://images.example/cake.jpg',
    stock: 3,
    presentations: [
      { name: 'Slice', price: 45000 },
      { name: 'Whole', price: 300000 },
    ],
    modifierGroups: [{ name: 'Extras', minSelect: 0, maxSelect: 2, options: [{ name: 'Cream', priceDelta: 5000 }, { name: 'Candles', priceDelta: 0 }] }],
  };

  it('creates a product with sizes and add-ons, and the conversation reads it at once', async () => {
    const p = await ok(await call('POST', '/shops/nairobi/products', cake), 201);
    expect(p).toMatchObject({
      id: expect.any(String),
      shopId: 'nairobi',
      retailerId: 'NBO-CAKE-1',
      price: 45000,
      currency: 'KES',
      categoryId: 'nairobi-pantry',
      available: true,
      stock: 3,
      stockReserved: 0,
      stockAvailable: 3,
      presentations: [
        { id: expect.any(String), name: 'Slice', price: 45000 },
        { id: expect.any(String), name: 'Whole', price: 300000 },
      ],
      modifierGroups: [{ id: expect.any(String), name: 'Extras', minSelect: 0, maxSelect: 2, options: [{ name: 'Cream', priceDelta: 5000 }, { name: 'Candles', priceDelta: 0 }] }],
    });
    expect(await ok(await call('GET', `/shops/nairobi/products/${p.id}`))).toEqual(p);
    const listed = await catalog().listProducts({ shopId: 'nairobi', categoryId: 'nairobi-pantry' });
    expect(listed.find((x) => x.id === p.id)).toMatchObject({ name: 'Carrot Cake', stock: 3, presentations: [{ name: 'Slice' }, { name: 'Whole' }] });

    // A price change keeps the sizes' ids (a customer's choice stays valid) and is what the next read prices.
    const slice = p.presentations[0].id as string;
    const changed = await ok(await call('PATCH', `/shops/nairobi/products/${p.id}`, { presentations: [{ id: slice, name: 'Slice', price: 50000 }], price: 50000 }));
    expect(changed.presentations).toEqual([{ id: slice, name: 'Slice', price: 50000 }]);
    const [priced] = await catalog().priceLines({ shopId: 'nairobi', lines: [{ lineId: 'L1', choice: { productId: p.id, presentationId: slice, optionIds: [], quantity: 2 } }] });
    expect(priced).toMatchObject({ unitPrice: 50000, lineTotal: 100000 });

    const all = await ok(await call('GET', '/shops/nairobi/products?category=nairobi-pantry'));
    expect(all.products.map((x: Json) => x.id)).toContain(p.id);
    await ok(await call('DELETE', `/shops/nairobi/products/${p.id}`), 204);
    expect((await call('GET', `/shops/nairobi/products/${p.id}`)).status).toBe(404);
    expect(await catalog().getProduct({ shopId: 'nairobi', productId: p.id })).toBeNull();
  });

  it('answers a duplicate retailerId 409, an unknown category 422, a bad price or body 400', async () => {
    await ok(await call('POST', '/shops/nairobi/products', { retailerId: 'NBO-DUP', name: 'First', price: 100 }), 201);
    const dup = await call('POST', '/shops/nairobi/products', { retailerId: 'NBO-DUP', name: 'Second', price: 100 });
    expect(dup.status).toBe(409);
    expect(await errorCode(dup)).toBe('duplicate_retailer_id');
    const renamed = await call('PATCH', '/shops/nairobi/products/nairobi-honey', { retailerId: 'NBO-DUP' });
    expect(renamed.status).toBe(409);

    const unknown = await call('POST', '/shops/nairobi/products', { retailerId: 'NBO-X', name: 'X', price: 100, categoryId: 'harare-groceries' });
    expect(unknown.status).toBe(422);
    expect(await errorCode(unknown)).toBe('unknown_category');

    for (const price of [-1, 1.5, '100', null]) {
      const res = await call('POST', '/shops/nairobi/products', { retailerId: 'NBO-P', name: 'P', price });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_request');
    }
    for (const body of [
      { retailerId: 'NBO-P', name: 'P' },
      { retailerId: 'NBO-P', name: 'P', price: 1, stock: -1 },
      { retailerId: 'NBO-P', name: 'P', price: 1, imageUrl: 'javascript:alert(1)' },
      { retailerId: 'NBO-P', name: 'P', price: 1, modifierGroups: [{ name: 'G', minSelect: 2, maxSelect: 1, options: [{ name: 'o' }] }] },
      { retailerId: 'NBO-P', name: 'P', price: 1, presentations: [{ name: 'S', price: -5 }] },
    ]) {
      const res = await call('POST', '/shops/nairobi/products', body);
      expect(res.status).toBe(400);
    }
    const foreignSize = await call('PATCH', '/shops/nairobi/products/nairobi-honey', { presentations: [{ id: 'nairobi-pizza-small', name: 'S', price: 1 }] });
    expect(foreignSize.status).toBe(422);
    const malformed = await fetch(`${api.url}/api/admin/shops/nairobi/products`, { method: 'POST', headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: '{"retailerId":' });
    expect(malformed.status).toBe(400);
  });

  it('stock null is unlimited; sold out (all held or none left) leaves the customer lists', async () => {
    const p = await ok(await call('POST', '/shops/nairobi/products', { retailerId: 'NBO-JAM', name: 'Jam', price: 20000, categoryId: 'nairobi-pantry', stock: 1 }), 201);
    const inList = async () => (await catalog().listProducts({ shopId: 'nairobi', categoryId: 'nairobi-pantry' })).some((x) => x.id === p.id);
    expect(await inList()).toBe(true);
    await sql(api.db.orm, 'update product set stock_reserved = 1 where id = ?', [p.id]);
    expect(await inList()).toBe(false);
    expect(await ok(await call('GET', `/shops/nairobi/products/${p.id}`))).toMatchObject({ stock: 1, stockReserved: 1, stockAvailable: 0 });
    // The shop restocks: the field it sets is the shelf, the orders' hold stays.
    expect(await ok(await call('PATCH', `/shops/nairobi/products/${p.id}`, { stock: 5 }))).toMatchObject({ stock: 5, stockReserved: 1, stockAvailable: 4 });
    expect(await inList()).toBe(true);
    expect(await ok(await call('PATCH', `/shops/nairobi/products/${p.id}`, { stock: null }))).toMatchObject({ stock: null, stockAvailable: null });
    expect(await ok(await call('PATCH', `/shops/nairobi/products/${p.id}`, { available: false }))).toMatchObject({ available: false });
    expect(await inList()).toBe(false);
  });
});

describe('scope', () => {
  it('a shop token works on its own shop and gets 403 on another; no token is 401', async () => {
    await ok(await call('GET', '/shops/nairobi/products', undefined, NAIROBI_TOKEN));
    const created = await ok(await call('POST', '/shops/nairobi/categories', { name: 'Tokened' }, NAIROBI_TOKEN), 201);
    const [entry] = await sql<{ actor: string }>(api.db.orm, "select actor from audit_entry where entity = 'category' and entity_id = ?", [created.id]);
    expect(entry?.actor).toMatch(/^token:/);
    for (const [method, path] of [
      ['GET', '/shops/harare/products'],
      ['POST', '/shops/harare/categories'],
      ['PATCH', '/shops/harare/products/harare-maize'],
      ['DELETE', '/shops/harare/categories/harare-groceries'],
    ] as const) {
      const res = await call(method, path, method === 'GET' || method === 'DELETE' ? undefined : { name: 'hack', price: 1, retailerId: 'H' }, NAIROBI_TOKEN);
      expect(res.status).toBe(403);
    }
    expect((await fetch(`${api.url}/api/admin/shops/nairobi/products`)).status).toBe(401);
    // A product of another shop is as absent as a missing one, even for the admin under the wrong shop.
    expect((await call('GET', '/shops/nairobi/products/harare-maize')).status).toBe(404);
    expect((await call('GET', '/shops/nowhere/products')).status).toBe(404);
  });
});
