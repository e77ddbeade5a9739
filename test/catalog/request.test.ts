import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { CatalogSyncRun } from '../../db/entities.ts';
import { requestCatalogSync } from '../../lib/catalog-sync.ts';
import { catalogSyncWorkflowId } from '../../workflows/definitions.ts';
import { createTestDatabase } from '../helpers/db.ts';

/**
 * Changes that arrive together (orders taking the last units, an owner's bulk edit) each ask for a catalog sync. Every
 * one must reach the shop's catalog-sync workflow: the first time a shop is synced they all find no sync row yet.
 */
describe('asking for a catalog sync', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let connection: Connection;
  let client: Client;
  // No worker polls this queue: the workflow's signals are read from its history.
  const taskQueue = `catalog-request-${randomBytes(4).toString('hex')}`;
  const shop = { id: 'nairobi', catalogId: '900000000000001' };
  const workflowId = catalogSyncWorkflowId(taskQueue, shop.id);

  beforeAll(async () => {
    db = await createTestDatabase('catalog_request');
    connection = await Connection.connect({ address: process.env.DUKA_TEST_TEMPORAL_ADDRESS! });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await client?.workflow.getHandle(workflowId).terminate('test over').catch(() => undefined);
    await connection?.close();
    await db?.drop();
  });

  it('twelve requests at once for a shop never synced: all signal the workflow and one row records the latest', async () => {
    expect(await db.orm.em.fork().findOne(CatalogSyncRun, { shopId: shop.id })).toBeNull();
    const deps = { orm: db.orm, temporal: client, taskQueue };
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => requestCatalogSync(deps, shop, { source: 'change' })));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    expect(signals).toHaveLength(12);
    const rows = await db.orm.em.fork().find(CatalogSyncRun, { shopId: shop.id });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'never', runs: 0 });
    expect(rows[0]!.requestedAt).toBeInstanceOf(Date);
  });
});
