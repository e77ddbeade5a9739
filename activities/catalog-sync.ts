import { createHash } from 'node:crypto';
import { ApplicationFailure, type Duration } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CatalogItemSync, CatalogProductSet, CatalogSyncRun, Category, Product, Shop, type ICatalogItemSync, type IShop } from '../db/entities.ts';
import { shopAccessToken } from '../lib/credentials.ts';
import { catalogSyncs } from '../lib/metrics.ts';
import { tracedFetch } from '../lib/tracing.ts';
import { CatalogApiError, CatalogClient, MAX_BATCH_REQUESTS, toCatalogItem, type CatalogRequest } from '../providers/whatsapp/catalog.ts';
import type { CatalogSyncSource } from '../workflows/definitions.ts';
import type { ActivityDeps } from './deps.ts';

export interface CatalogSyncOptions {
  /** Requests per `items_batch` call (Meta allows 5,000). */
  batchSize?: number;
  /** First and longest wait between `check_batch_request_status` polls (Meta: every 1–5 s with backoff). */
  pollMs?: [number, number];
  /** How long one activity attempt polls a batch before it gives up and is retried. */
  pollBudgetMs?: number;
}

const hash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A Graph failure as Temporal should treat it: throttling waits as long as Meta asked, a refusal is not retried. */
function asFailure(err: unknown): never {
  if (!(err instanceof CatalogApiError)) throw err;
  if (!err.retryable) throw ApplicationFailure.nonRetryable(err.message, 'CatalogRefused');
  const nextRetryDelay: Duration | undefined = err.retryAfterMs ?? (err.httpStatus === 429 || [4, 17, 32, 613, 80004, 80009, 80014].includes(err.code) ? '30s' : undefined);
  throw ApplicationFailure.create({ message: err.message, type: 'CatalogUnavailable', ...(nextRetryDelay !== undefined && { nextRetryDelay }) });
}

/**
 * The Meta catalog sync of one shop (workflows/catalog-sync.ts): the products in the app tables are the truth, Meta's
 * catalog follows. Each product's item is hashed; only items whose hash Meta has not confirmed are sent (all of them
 * when `full`), retailer ids no product has any more are deleted, and every row records its state and Meta's error.
 * Items go out as `UPDATE` with upsert and `DELETE`, which leave the same catalog when a retried activity sends them
 * twice.
 */
export function createCatalogSyncActivities(deps: ActivityDeps, options: CatalogSyncOptions = {}) {
  const { orm, config } = deps;
  const client = new CatalogClient({ graphUrl: config.whatsapp.graphUrl, apiVersion: config.whatsapp.apiVersion, fetch: tracedFetch('meta-catalog') });
  const batchSize = Math.min(options.batchSize ?? MAX_BATCH_REQUESTS, MAX_BATCH_REQUESTS);
  const [pollFirst, pollMax] = options.pollMs ?? [1_000, 5_000];
  const pollBudget = options.pollBudgetMs ?? 5 * 60_000;

  const tokenOf = (shop: IShop) => shopAccessToken(shop, config.credentialsKey) ?? config.whatsapp.accessToken;
  /** The shop's business number on wa.me: where a customer who taps the item's link lands. */
  const linkOf = (shop: IShop) => `https://wa.me/${shop.displayPhone.replace(/\D/g, '')}`;

  async function runOf(em: EntityManager, shopId: string) {
    return (await em.findOne(CatalogSyncRun, { shopId })) ?? em.create(CatalogSyncRun, { shopId, status: 'never', runs: 0 });
  }

  function rowFor(em: EntityManager, rows: Map<string, ICatalogItemSync>, shopId: string, retailerId: string): ICatalogItemSync {
    let row = rows.get(retailerId);
    if (!row) {
      row = em.create(CatalogItemSync, { shopId, retailerId, status: 'pending' });
      rows.set(retailerId, row);
    }
    return row;
  }

  /** Each row of a batch Meta has finished with is synced, or failed with Meta's message. */
  function settle(row: ICatalogItemSync, problem: string | undefined, at: Date): void {
    if (problem) {
      Object.assign(row, { status: 'failed', error: problem });
    } else if (row.method === 'DELETE') {
      Object.assign(row, { status: 'deleted', error: null, syncedHash: null, syncedAt: at });
    } else {
      Object.assign(row, { status: 'synced', error: null, syncedHash: row.sentHash, syncedAt: at });
    }
  }

  return {
    /** Marks the run started; a shop without a catalog id has nothing to sync. */
    async beginCatalogSync(input: { shopId: string; source: CatalogSyncSource }): Promise<{ catalogId: string | null; startedAt: string }> {
      const em = orm.em.fork();
      const shop = await em.findOne(Shop, { id: input.shopId });
      const run = await runOf(em, input.shopId);
      const startedAt = new Date();
      const catalogId = shop?.catalogId ?? null;
      em.assign(run, { status: catalogId ? 'running' : 'no_catalog', source: input.source, startedAt, finishedAt: catalogId ? null : startedAt, error: null, runs: run.runs + 1 });
      await em.flush();
      return { catalogId, startedAt: startedAt.toISOString() };
    },

    /**
     * Builds the batch from the app tables and sends it in chunks. A product missing a field Meta requires is failed
     * with the reason and not sent; Meta's synchronous refusals (`validation_status`) fail their rows; the rest wait
     * for their batch (`recordCatalogBatches`). A chunk Meta refuses outright fails its rows with Meta's message.
     */
    async pushCatalogItems(input: { shopId: string; full: boolean }): Promise<{ sent: number; invalid: number; unchanged: number; refusal: string | null }> {
      const em = orm.em.fork();
      const shop = await em.findOneOrFail(Shop, { id: input.shopId });
      const catalogId = shop.catalogId;
      if (!catalogId) return { sent: 0, invalid: 0, unchanged: 0, refusal: null };
      const products = await em.find(Product, { shop: shop.id }, { populate: ['category'], orderBy: { position: 'asc', id: 'asc' } });
      const rows = new Map((await em.find(CatalogItemSync, { shopId: shop.id })).map((r) => [r.retailerId, r]));
      const now = new Date();
      const requests: { request: CatalogRequest; hash: string | null }[] = [];
      let invalid = 0;
      let unchanged = 0;

      for (const p of products) {
        const inStock = p.available && p.category?.active !== false && (p.stock === null || p.stock === undefined || p.stock - p.stockReserved > 0);
        const built = toCatalogItem(
          { retailerId: p.retailerId, name: p.name, description: p.description, price: p.price, currency: shop.currency, imageUrl: p.imageUrl, inStock, brand: shop.name, link: linkOf(shop) },
          config.publicBaseUrl,
        );
        const row = rowFor(em, rows, shop.id, p.retailerId);
        row.productId = p.id;
        if ('problems' in built) {
          invalid++;
          Object.assign(row, { status: 'failed', method: null, error: `not sent: ${built.problems.join('; ')}`, attemptedAt: now });
          continue;
        }
        const itemHash = hash(built.item);
        if (!input.full && row.status === 'synced' && row.syncedHash === itemHash) {
          unchanged++;
          continue;
        }
        requests.push({ request: { method: 'UPDATE', data: built.item }, hash: itemHash });
      }
      const current = new Set(products.map((p) => p.retailerId));
      for (const row of rows.values()) {
        if (current.has(row.retailerId) || row.status === 'deleted') continue;
        if (!row.syncedAt && !row.handle) {
          // Never reached Meta: nothing to delete there.
          Object.assign(row, { status: 'deleted', productId: null, error: null });
          continue;
        }
        requests.push({ request: { method: 'DELETE', data: { id: row.retailerId } }, hash: null });
      }
      await em.flush();

      let refusal: string | null = null;
      const token = tokenOf(shop);
      for (let i = 0; i < requests.length; i += batchSize) {
        const chunk = requests.slice(i, i + batchSize);
        Context.current().heartbeat({ sent: i });
        let accepted;
        try {
          accepted = await client.itemsBatch(catalogId, chunk.map((c) => c.request), token);
        } catch (err) {
          if (!(err instanceof CatalogApiError) || err.retryable) asFailure(err);
          refusal = (err as Error).message;
          for (const c of chunk) Object.assign(rowFor(em, rows, shop.id, c.request.data.id), { status: 'failed', method: c.request.method, error: refusal, attemptedAt: now });
          await em.flush();
          continue;
        }
        const refused = new Map(accepted.refused.map((r) => [r.retailerId, r.message]));
        const handle = accepted.handles[0] ?? null;
        for (const c of chunk) {
          const row = rowFor(em, rows, shop.id, c.request.data.id);
          const problem = refused.get(c.request.data.id) ?? (handle ? undefined : 'Meta ingested nothing from this batch (no handle)');
          Object.assign(row, { method: c.request.method, sentHash: c.hash, handle, attemptedAt: now });
          if (problem) Object.assign(row, { status: 'failed', error: problem });
          else Object.assign(row, { status: 'pending', error: null });
        }
        await em.flush();
      }
      return { sent: requests.length, invalid, unchanged, refusal };
    },

    /**
     * Polls `check_batch_request_status` for every batch the shop still waits on (every 1–5 s with backoff, heartbeating)
     * and records each row: failed with Meta's message when the batch names it invalid, synced (or deleted) otherwise.
     * Past its budget the attempt fails and Temporal retries it: a batch is never forgotten.
     */
    async recordCatalogBatches(input: { shopId: string }): Promise<{ batches: number; synced: number; failed: number }> {
      const ctx = Context.current();
      const em = orm.em.fork();
      const shop = await em.findOneOrFail(Shop, { id: input.shopId });
      const pending = await em.find(CatalogItemSync, { shopId: shop.id, status: 'pending', handle: { $ne: null } });
      const byHandle = new Map<string, ICatalogItemSync[]>();
      for (const row of pending) byHandle.set(row.handle!, [...(byHandle.get(row.handle!) ?? []), row]);
      const deadline = Date.now() + pollBudget;
      let synced = 0;
      let failed = 0;
      for (const [handle, rows] of byHandle) {
        let wait = pollFirst;
        let status;
        for (let polls = 1; ; polls++) {
          ctx.heartbeat({ handle, polls });
          try {
            status = await client.batchStatus(shop.catalogId ?? '', handle, tokenOf(shop));
          } catch (err) {
            asFailure(err);
          }
          if (status.done) break;
          if (Date.now() + wait > deadline) throw ApplicationFailure.retryable(`Meta has not finished batch ${handle} (status ${status.status})`, 'CatalogBatchUnfinished');
          await sleep(wait);
          wait = Math.min(pollMax, wait * 2);
        }
        const invalid = new Map(status.invalid.map((x) => [x.retailerId, x.message]));
        const at = new Date();
        for (const row of rows) {
          const problem = status.status === 'finished' ? invalid.get(row.retailerId) : `Meta's batch ended ${status.status}`;
          settle(row, problem, at);
          if (problem) failed++;
          else synced++;
        }
        await em.flush();
      }
      return { batches: byHandle.size, synced, failed };
    },

    /**
     * One product set per shown category holding its synced items (`retailer_id is_any`), as seed 002 organises a
     * shop; a set whose category is hidden, empty or gone is deleted. A set Meta refuses is logged, never blocks items.
     */
    async syncCatalogProductSets(input: { shopId: string }): Promise<{ created: number; updated: number; deleted: number; problems: string[] }> {
      const em = orm.em.fork();
      const shop = await em.findOneOrFail(Shop, { id: input.shopId });
      const result = { created: 0, updated: 0, deleted: 0, problems: [] as string[] };
      if (!shop.catalogId) return result;
      const token = tokenOf(shop);
      const categories = await em.find(Category, { shop: shop.id, active: true });
      const products = await em.find(Product, { shop: shop.id, category: { $ne: null } }, { fields: ['retailerId', 'category'] });
      const synced = new Set((await em.find(CatalogItemSync, { shopId: shop.id, status: 'synced' })).map((r) => r.retailerId));
      const sets = new Map((await em.find(CatalogProductSet, { shopId: shop.id })).map((s) => [s.categoryId, s]));
      const wanted = new Map<string, { name: string; filter: Record<string, unknown> }>();
      for (const c of categories) {
        const ids = products.filter((p) => p.category?.id === c.id && synced.has(p.retailerId)).map((p) => p.retailerId).sort();
        if (ids.length) wanted.set(c.id, { name: c.name, filter: { retailer_id: { is_any: ids } } });
      }
      const attempt = async (what: string, run: () => Promise<void>) => {
        try {
          await run();
        } catch (err) {
          if (!(err instanceof CatalogApiError) || err.retryable) asFailure(err);
          result.problems.push(`${what}: ${(err as Error).message}`);
        }
      };
      for (const [categoryId, set] of wanted) {
        const filterHash = hash([set.name, set.filter]);
        const existing = sets.get(categoryId);
        if (existing?.filterHash === filterHash) continue;
        await attempt(`product set of category ${categoryId}`, async () => {
          if (existing) {
            await client.updateProductSet(existing.setId, set, token);
            em.assign(existing, { name: set.name, filterHash });
            result.updated++;
          } else {
            const setId = await client.createProductSet(shop.catalogId!, { ...set, retailerId: `category:${categoryId}` }, token);
            em.create(CatalogProductSet, { shopId: shop.id, categoryId, setId, name: set.name, filterHash });
            result.created++;
          }
          await em.flush();
        });
      }
      for (const [categoryId, existing] of sets) {
        if (wanted.has(categoryId)) continue;
        await attempt(`deleting the product set of category ${categoryId}`, async () => {
          await client.deleteProductSet(existing.setId, token);
          await em.remove(existing).flush();
          result.deleted++;
        });
      }
      return result;
    },

    async finishCatalogSync(input: { shopId: string; source: CatalogSyncSource; error: string | null }): Promise<void> {
      const em = orm.em.fork();
      const run = await runOf(em, input.shopId);
      em.assign(run, { status: input.error ? 'failed' : 'completed', finishedAt: new Date(), error: input.error });
      await em.flush();
      catalogSyncs.inc({ source: input.source, result: input.error ? 'failed' : 'ok' });
    },
  };
}

export type CatalogSyncActivities = ReturnType<typeof createCatalogSyncActivities>;
