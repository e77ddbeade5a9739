import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { CatalogSyncRun } from '../db/entities.ts';
import { durationMs } from '../domain/duration.ts';
import { logger } from './logger.ts';
import { catalogSyncSignal, catalogSyncWorkflowId, type CatalogSyncInput, type CatalogSyncRequest } from '../workflows/definitions.ts';

/**
 * Quiet time after the last product change before the catalog syncs (`CATALOG_SYNC_DEBOUNCE`, default 2s), and the
 * longest a sync waits behind changes that keep coming (ten times that, at least 30 s).
 */
export function catalogSyncTiming(env: Record<string, string | undefined> = process.env): Pick<CatalogSyncInput, 'debounceMs' | 'maxWaitMs'> {
  const debounceMs = durationMs(env.CATALOG_SYNC_DEBOUNCE ?? '2s');
  if (!(debounceMs > 0)) throw new RangeError('CATALOG_SYNC_DEBOUNCE must be a positive duration');
  return { debounceMs, maxWaitMs: Math.max(30_000, debounceMs * 10) };
}

export interface CatalogSyncDeps {
  orm: MikroORM;
  temporal: Client;
  taskQueue: string;
}

/**
 * Asks the shop's catalog-sync workflow for a sync (signal-with-start) after noting when it was asked, so the report
 * says `pending` until a run has started after it. A shop without a catalog id has nothing to sync.
 */
export async function requestCatalogSync(deps: CatalogSyncDeps, shop: { id: string; catalogId?: string | null }, request: CatalogSyncRequest): Promise<void> {
  if (!shop.catalogId) return;
  // One statement: two changes at once (two orders taking the last units) must both reach the signal below; a
  // read-then-insert let the second fail on the primary key and skip the sync that would hide a sold-out product.
  await deps.orm.em.fork().upsert(
    CatalogSyncRun,
    { shopId: shop.id, status: 'never', runs: 0, requestedAt: new Date() },
    { onConflictFields: ['shopId'], onConflictAction: 'merge', onConflictMergeFields: ['requestedAt'] },
  );
  const input: CatalogSyncInput = { shopId: shop.id, ...catalogSyncTiming() };
  await deps.temporal.workflow.signalWithStart('catalogSyncWorkflow', {
    workflowId: catalogSyncWorkflowId(deps.taskQueue, shop.id),
    taskQueue: deps.taskQueue,
    args: [input],
    signal: catalogSyncSignal,
    signalArgs: [request],
  });
}

/**
 * After a product change has been written: the catalog follows. A Temporal that does not answer costs the change
 * nothing; the next sync reads every product again and sends what Meta has not confirmed.
 */
export async function catalogChanged(deps: CatalogSyncDeps, shop: { id: string; catalogId?: string | null }): Promise<void> {
  try {
    await requestCatalogSync(deps, shop, { source: 'change' });
  } catch (err) {
    logger.warn({ shopId: shop.id, error: (err as Error).message }, 'catalog sync not requested: the next change or a manual sync catches up');
  }
}
