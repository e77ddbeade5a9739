import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { APP_SECRET, startDuka, type Duka } from '../helpers/duka.ts';
import { signMetaPayload } from '../../providers/whatsapp/signature.ts';
import { createStockActivities } from '../../activities/stock.ts';
import type { ActivityDeps } from '../../activities/deps.ts';
import type { CatalogItem, CatalogStandIn } from '../../sandbox/catalog.ts';
import type { CatalogSyncReport } from '../../api/routes/catalog-sync.ts';
import { catalogSyncSignal, type CatalogSyncInput } from '../../workflows/definitions.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CATALOG = '900000000000001';
const SHOP = 'nairobi';

/**
 * Meta catalog sync end to end: the admin API writes products, the shop's catalog-sync workflow (real Temporal) pushes
 * them with the production catalog client to the Graph fake's Commerce catalog over HTTP, and the report comes from
 * PostgreSQL. Every wait is for something observable: an item in the fake's catalog, a batch, a report.
 */
describe('Meta catalog sync', () => {
  let duka: Duka;
  let meta: CatalogStandIn;
  beforeAll(async () => {
    duka = await startDuka({ label: 'catalog_sync', env: { CREDENTIALS_KEY: randomBytes(32).toString('hex') } });
    meta = duka.graph.catalog;
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const admin = async (method: string, path: string, body?: unknown, expected?: number): Promise<Json> => {
    const res = await fetch(`${duka.baseUrl}/api/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${duka.config.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (expected !== undefined ? res.status !== expected : res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return text ? (JSON.parse(text) as Json) : {};
  };
  const item = (retailerId: string) => meta.items(CATALOG).get(retailerId);
  const waitItem = (retailerId: string, ok: (i: CatalogItem | undefined) => boolean, what: string) =>
    meta.waitFor(() => (ok(item(retailerId)) ? (item(retailerId) ?? null) : undefined), 20_000, what);
  /** The report once the run asked for last has finished. */
  const settledReport = () => settledReportOf(SHOP);
  async function settledReportOf(shopId: string): Promise<CatalogSyncReport> {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const report = (await admin('GET', `/shops/${shopId}/catalog/sync`)) as CatalogSyncReport;
      if (report.status === 'completed' || report.status === 'failed') return report;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('the catalog sync did not finish within 30 s');
  }
  const product = (retailerId: string, extra: Json = {}) => ({
    retailerId,
    name: `Tea ${retailerId}`,
    description: 'Loose leaf, 250 g',
    price: 45_000,
    imageUrl: 'https://cdn.example.com/tea.jpg',
    categoryId: 'nairobi-pantry',
    ...extra,
  });

  it('an operator\'s sync pushes every product, with price, availability, image and description, and a product set per category', async () => {
    const products = (await admin('GET', `/shops/${SHOP}/products`)).products as Json[];
    const before = (await admin('GET', `/shops/${SHOP}/catalog/sync`)) as CatalogSyncReport;
    expect(before).toMatchObject({ status: 'never', synced: 0, runs: 0 });

    const asked = await admin('POST', `/shops/${SHOP}/catalog/sync`, {}, 202);
    expect(asked.status).toBe('pending');
    await meta.waitFor(() => (products.every((p) => item(p.retailerId as string)) ? true : undefined), 20_000, 'every demo product');
    const report = await settledReport();
    expect(report).toMatchObject({ status: 'completed', total: products.length, synced: products.length, failed: 0, errors: [] });

    const coffee = item('NBO-COFFEE-500')!;
    expect(coffee).toMatchObject({ title: 'Premium Coffee', description: 'Kenyan AA, 500 g, roasted this week', price: '1500.00 KES', availability: 'in stock' });
    // A path on duka's own server is sent as an absolute URL Meta can fetch.
    expect(coffee.imageLink).toBe(`${duka.config.publicBaseUrl}/sandbox/images/nairobi-coffee.svg`);
    expect(coffee.link).toMatch(/^https:\/\/wa\.me\/\d+$/);

    const sets = await meta.waitFor(() => {
      const found = [...meta.sets.values()].filter((s) => s.catalogId === CATALOG);
      return found.length >= 3 ? found : undefined;
    }, 20_000, 'a product set per category');
    const pantry = sets.find((s) => s.retailerId === 'category:nairobi-pantry');
    expect(pantry).toMatchObject({ name: 'Coffee & Pantry', filter: { retailer_id: { is_any: expect.arrayContaining(['NBO-COFFEE-500', 'NBO-HONEY-500']) } } });
  });

  it('a product created through the admin API appears, a price change follows, sold out and deleted disappear', async () => {
    const created = await admin('POST', `/shops/${SHOP}/products`, product('NBO-TEA-250'), 201);
    await waitItem('NBO-TEA-250', (i) => i?.price === '450.00 KES', 'the new product');
    expect(meta.visible(CATALOG).map((i) => i.retailerId)).toContain('NBO-TEA-250');

    await admin('PATCH', `/shops/${SHOP}/products/${created.id}`, { price: 52_500 });
    await waitItem('NBO-TEA-250', (i) => i?.price === '525.00 KES', 'the new price');

    await admin('PATCH', `/shops/${SHOP}/products/${created.id}`, { available: false });
    await waitItem('NBO-TEA-250', (i) => i?.availability === 'out of stock', 'sold out');
    expect(meta.visible(CATALOG).map((i) => i.retailerId)).not.toContain('NBO-TEA-250');

    await admin('DELETE', `/shops/${SHOP}/products/${created.id}`, undefined, 204);
    await waitItem('NBO-TEA-250', (i) => i === undefined, 'the deleted product gone');
    const report = await settledReport();
    expect(report.errors).toEqual([]);
    expect(report.total).toBe(report.synced);
    const rows = await duka.orm.em.getConnection().execute<{ status: string; method: string }[]>('select status, method from catalog_item_sync where shop_id = ? and retailer_id = ?', [SHOP, 'NBO-TEA-250']);
    expect(rows).toEqual([{ status: 'deleted', method: 'DELETE' }]);
  });

  it('a product Meta refuses shows as failed with Meta\'s message while the rest sync; one missing a required field is not sent', async () => {
    meta.failItem('NBO-HONEY-500', 'Invalid value: image_link could not be downloaded');
    const batches = meta.batches.length;
    const bare = await admin('POST', `/shops/${SHOP}/products`, product('NBO-BARE-1', { description: null }), 201);
    await admin('POST', `/shops/${SHOP}/catalog/sync`, { full: true }, 202);
    await meta.waitFor(() => (meta.batches.slice(batches).some((b) => b.requests.some((r) => r.retailerId === 'NBO-HONEY-500')) ? true : undefined), 20_000, 'a batch with the honey');
    const report = await settledReport();
    const products = (await admin('GET', `/shops/${SHOP}/products`)).products as Json[];
    expect(report).toMatchObject({ status: 'completed', total: products.length, failed: 2, synced: products.length - 2 });
    expect(report.errors).toEqual(
      expect.arrayContaining([
        { retailerId: 'NBO-HONEY-500', message: 'Invalid value: image_link could not be downloaded' },
        { retailerId: 'NBO-BARE-1', message: 'not sent: a description is required by Meta' },
      ]),
    );
    expect(meta.batches.flatMap((b) => b.requests).some((r) => r.retailerId === 'NBO-BARE-1')).toBe(false);
    expect(item('NBO-COFFEE-500')?.availability).toBe('in stock');

    // Fixed on both sides: the next sync takes them.
    meta.clearItemFailure('NBO-HONEY-500');
    await admin('PATCH', `/shops/${SHOP}/products/${bare.id}`, { description: 'Now described' });
    await waitItem('NBO-BARE-1', (i) => i?.description === 'Now described', 'the described product');
    await admin('DELETE', `/shops/${SHOP}/products/${bare.id}`, undefined, 204);
    await waitItem('NBO-BARE-1', (i) => i === undefined, 'the bare product gone');
    await admin('POST', `/shops/${SHOP}/catalog/sync`, {}, 202);
    const healed = await settledReport();
    expect(healed).toMatchObject({ failed: 0, errors: [] });
  });

  it('Meta\'s items_batch webhook records a batch duka waits on; a forged one is 401 and touches nothing, a malformed one 400', async () => {
    const sql = duka.orm.em.getConnection();
    const rowOf = async () => (await sql.execute<{ status: string; handle: string }[]>('select status, handle from catalog_item_sync where shop_id = ? and retailer_id = ?', [SHOP, 'NBO-SOAP-1']))[0]!;
    const { handle } = await rowOf();
    // As if the worker had died after Meta took the batch: the row still waits on it.
    await sql.execute("update catalog_item_sync set status = 'pending', synced_hash = null where shop_id = ? and retailer_id = ?", [SHOP, 'NBO-SOAP-1']);
    const post = (body: string, signature = signMetaPayload(body, APP_SECRET)) =>
      fetch(`${duka.baseUrl}/webhooks/catalog`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body });
    const webhook = JSON.stringify({ object: 'catalog', entry: [{ id: CATALOG, time: 1764770000, changes: [{ field: 'items_batch', value: { catalog_id: CATALOG, handle, status: 'finished' } }] }] });

    expect((await post(webhook, signMetaPayload(webhook, 'not-the-app-secret'))).status).toBe(401);
    expect((await post('{"object":"catalog","entry":"no"}')).status).toBe(400);
    expect((await post(JSON.stringify({ object: 'catalog', entry: [{ id: CATALOG, changes: [{ field: 'product_feed', value: { catalog_id: CATALOG, product_feed_id: '1', status: 'finished' } }] }] }))).status).toBe(200);
    const runs = ((await admin('GET', `/shops/${SHOP}/catalog/sync`)) as CatalogSyncReport).runs;
    expect(await rowOf()).toMatchObject({ status: 'pending' });

    expect((await post(webhook)).status).toBe(200);
    for (const deadline = Date.now() + 20_000; (await rowOf()).status !== 'synced'; ) {
      if (Date.now() > deadline) throw new Error('the webhook did not settle the row');
      await new Promise((r) => setTimeout(r, 200));
    }
    const report = await settledReport();
    expect(report.runs).toBe(runs + 1);
  });

  it('a transient Meta error is retried; a batch Meta refuses fails its products with Meta\'s message, and the next sync heals them', async () => {
    meta.failNext(1, { status: 503, code: 2, message: 'Service temporarily unavailable' });
    const created = await admin('POST', `/shops/${SHOP}/products`, product('NBO-RETRY-1'), 201);
    await waitItem('NBO-RETRY-1', (i) => i?.price === '450.00 KES', 'the product after a retry');
    // That run's last calls (batch status, product sets) must not meet the next failure.
    await settledReport();

    meta.failNext(1, { status: 400, code: 100, message: 'Invalid parameter', details: 'requests[0].data.price' });
    await admin('PATCH', `/shops/${SHOP}/products/${created.id}`, { price: 47_000 });
    const refused = await settledReport();
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain('Invalid parameter');
    expect(refused.errors).toEqual([{ retailerId: 'NBO-RETRY-1', message: expect.stringContaining('(#100) Invalid parameter') }]);
    expect(item('NBO-RETRY-1')?.price).toBe('450.00 KES');

    await admin('POST', `/shops/${SHOP}/catalog/sync`, { full: false }, 202);
    await waitItem('NBO-RETRY-1', (i) => i?.price === '470.00 KES', 'the refused change, sent again');
    expect(await settledReport()).toMatchObject({ status: 'completed', failed: 0 });
  });

  it('the last unit held by an order takes the product out of WhatsApp\'s catalog; given back, it returns', async () => {
    const last = await admin('POST', `/shops/${SHOP}/products`, product('NBO-LAST-1', { stock: 1 }), 201);
    await waitItem('NBO-LAST-1', (i) => i?.availability === 'in stock', 'the product in stock');
    // The order workflow's own stock activities, as its worker runs them.
    const stock = createStockActivities({ orm: duka.orm, temporal: duka.client, config: duka.config } as ActivityDeps);
    expect(await stock.reserveStock({ shopId: SHOP, orderNumber: 'NBO-CATALOG-1', lines: [{ lineId: 'l1', productId: last.id as string, name: 'Last', quantity: 1 }] })).toEqual({ ok: true });
    await waitItem('NBO-LAST-1', (i) => i?.availability === 'out of stock', 'sold out once held');
    await stock.releaseStock({ orderNumber: 'NBO-CATALOG-1' });
    await waitItem('NBO-LAST-1', (i) => i?.availability === 'in stock', 'back in stock once given back');
    await settledReport();
  });

  it('a shop with its own WhatsApp account syncs with its own token', async () => {
    const HARARE_CATALOG = '900000000000002';
    meta.ownCatalog(HARARE_CATALOG, 'harare-own-token');
    await admin('POST', '/shops/harare/catalog/sync', {}, 202);
    const refused = await settledReportOf('harare');
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain('(#190)');

    await admin('PATCH', '/shops/harare', { whatsapp: { accessToken: 'harare-own-token' } });
    await admin('POST', '/shops/harare/catalog/sync', {}, 202);
    await meta.waitFor(() => meta.items(HARARE_CATALOG).get('SKU-MAIZE-10KG'), 20_000, 'the Harare catalog');
    expect(meta.items(HARARE_CATALOG).get('SKU-MAIZE-10KG')).toMatchObject({ price: '7.99 USD', availability: 'in stock' });
    expect(await settledReportOf('harare')).toMatchObject({ status: 'completed', failed: 0 });
  });

  it('continues as new once its history grows, carrying on with the next request', async () => {
    const PUNE_CATALOG = '900000000000003';
    const input: CatalogSyncInput = { shopId: 'pune', debounceMs: 200, maxWaitMs: 1_000, historyLimit: 10 };
    const handle = await duka.client.workflow.start('catalogSyncWorkflow', { taskQueue: duka.taskQueue, workflowId: `catalog-sync-can-${randomBytes(4).toString('hex')}`, args: [input] });
    await handle.signal(catalogSyncSignal, { source: 'manual', full: true, now: true });
    await meta.waitFor(() => meta.items(PUNE_CATALOG).get('PNQ-CHAI'), 20_000, 'the Pune catalog');
    const first = duka.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    for (const deadline = Date.now() + 20_000; (await first.describe()).status.name !== 'CONTINUED_AS_NEW'; ) {
      if (Date.now() > deadline) throw new Error('the first run did not continue as new');
      await new Promise((r) => setTimeout(r, 200));
    }
    const latest = duka.client.workflow.getHandle(handle.workflowId);
    expect((await latest.describe()).runId).not.toBe(handle.firstExecutionRunId);
    const runs = (await settledReportOf('pune')).runs;
    await latest.signal(catalogSyncSignal, { source: 'manual', full: true, now: true });
    for (const deadline = Date.now() + 20_000; (await settledReportOf('pune')).runs === runs; ) {
      if (Date.now() > deadline) throw new Error('the new run did not sync');
      await new Promise((r) => setTimeout(r, 200));
    }
    await latest.terminate('test over');
  });

  it('twenty edits within the debounce cause one batch', async () => {
    const before = meta.batches.length;
    const ids = Array.from({ length: 20 }, (_, i) => `NBO-BULK-${String(i).padStart(2, '0')}`);
    for (const retailerId of ids) await admin('POST', `/shops/${SHOP}/products`, product(retailerId, { price: 10_000 }), 201);
    await meta.waitFor(() => (ids.every((id) => item(id)) ? true : undefined), 30_000, 'the twenty products');
    // A fence: an operator's sync after them. Had the edits caused more than one batch, more would be before it.
    await settledReport();
    await admin('POST', `/shops/${SHOP}/catalog/sync`, {}, 202);
    await meta.waitFor(() => (meta.batches.length >= before + 2 ? true : undefined), 20_000, 'the fence batch');
    const [edits, fence] = meta.batches.slice(before);
    expect(meta.batches.length - before).toBe(2);
    expect(edits!.requests.map((r) => r.retailerId)).toEqual(expect.arrayContaining(ids));
    expect(fence!.requests.length).toBeGreaterThan(20);
  });
});
