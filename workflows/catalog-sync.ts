import { ActivityFailure, ApplicationFailure, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CatalogSyncActivities } from '../activities/catalog-sync.ts';
import { catalogSyncSignal, type CatalogSyncInput, type CatalogSyncRequest } from './definitions.ts';

const quick = proxyActivities<CatalogSyncActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' },
});
/** Talks to Meta: throttling waits as long as Meta says (nextRetryDelay), other transient errors back off to 5 min. */
const meta = proxyActivities<CatalogSyncActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m', maximumAttempts: 20 },
});

/** A shop that has not changed its catalog for this long lets its workflow end; the next change starts it again. */
const IDLE = '7d';
const MAX_HISTORY = 5_000;

function merge(a: CatalogSyncRequest | null, b: CatalogSyncRequest): CatalogSyncRequest {
  if (!a) return { ...b };
  // An operator's or Meta's request says more than a product change: it names the run.
  const source = b.source === 'change' ? a.source : b.source;
  return { source, full: Boolean(a.full || b.full), now: Boolean(a.now || b.now) };
}

const failureMessage = (err: unknown) =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.message : err instanceof Error ? err.message : String(err);

/**
 * The Meta catalog sync of one shop (`catalog-sync:<taskQueue>:<shopId>`), signalled with start on every product change and by an
 * operator. Changes are debounced: a sync runs once no change has come for `debounceMs` (at most `maxWaitMs` after the
 * first), so an owner editing twenty products causes one. A run reads the app tables itself, so a signal lost while
 * Temporal was away is caught up by the next one.
 */
export async function catalogSyncWorkflow(input: CatalogSyncInput): Promise<void> {
  let pending: CatalogSyncRequest | null = input.pending ?? null;
  let changes = 0;
  setHandler(catalogSyncSignal, (request) => {
    pending = merge(pending, request);
    changes++;
  });

  for (;;) {
    if (!(await condition(() => pending !== null, IDLE))) return;
    const firstAt = Date.now();
    while (!pending!.now) {
      const seen = changes;
      const left = input.maxWaitMs - (Date.now() - firstAt);
      if (left <= 0) break;
      const again = await condition(() => changes !== seen, Math.min(input.debounceMs, left));
      if (!again) break;
    }
    const request: CatalogSyncRequest = pending!;
    pending = null;
    await syncOnce(input.shopId, request);
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > (input.historyLimit ?? MAX_HISTORY)) {
      return continueAsNew<typeof catalogSyncWorkflow>({ ...input, pending });
    }
  }
}

async function syncOnce(shopId: string, request: CatalogSyncRequest): Promise<void> {
  const { catalogId } = await quick.beginCatalogSync({ shopId, source: request.source });
  if (!catalogId) return;
  let error: string | null;
  try {
    error = (await meta.pushCatalogItems({ shopId, full: Boolean(request.full) })).refusal;
  } catch (err) {
    error = failureMessage(err);
  }
  try {
    // Also after a failed push: batches Meta took before the failure still get their results.
    await meta.recordCatalogBatches({ shopId });
    const sets = await meta.syncCatalogProductSets({ shopId });
    error ??= sets.problems[0] ?? null;
  } catch (err) {
    error ??= failureMessage(err);
  }
  await quick.finishCatalogSync({ shopId, source: request.source, error });
}
