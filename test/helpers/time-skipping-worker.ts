import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.ts';
import { WhatsAppClient } from '../../providers/whatsapp/client.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { testDataConverter } from './codec.ts';
import { startTimeSkipping } from './time-skipping.ts';
import { recordHistory } from './histories.ts';
import { createTestDatabase } from './db.ts';
import { startFakeGraphApi, type FakeGraphApi } from '../fakes/graph-api.ts';

export interface TimeSkippingDuka {
  env: TestWorkflowEnvironment;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  graph: FakeGraphApi;
  config: Config;
  taskQueue: string;
  /** Workflows whose histories are recorded (DUKA_RECORD_HISTORIES) at stop. */
  started: WorkflowHandle[];
  stop(): Promise<void>;
}

/**
 * duka's workflows and real activities on the time-skipping test server, with their own PostgreSQL database and the
 * fake Graph API: for timers measured in hours and days.
 */
export async function startTimeSkippingDuka(options: { label: string; taskQueue: string }): Promise<TimeSkippingDuka> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const env = await startTimeSkipping();
  const db = await createTestDatabase(options.label);
  const graph = await startFakeGraphApi({ accessToken: 'token' });
  const config = loadConfig({ SANDBOX: 'off', WHATSAPP_ACCESS_TOKEN: 'token', WHATSAPP_APP_SECRET: 's', WHATSAPP_VERIFY_TOKEN: 'v', WHATSAPP_GRAPH_URL: graph.url, CUSTOMER_REF_SECRET: 'customer-ref-secret-0000' });
  const whatsapp = new WhatsAppClient({ graphUrl: graph.url, apiVersion: 'v21.0', accessToken: 'token', ratePerSecond: 80 });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: process.env.DUKA_TEST_WORKFLOW_BUNDLE! },
    activities: createActivities({ orm: db.orm, whatsapp, temporal: env.client, config, payments: new PaymentProviders(config) }),
    dataConverter: testDataConverter(),
  });
  const running = worker.run();
  const started: WorkflowHandle[] = [];
  return {
    env,
    db,
    graph,
    config,
    taskQueue: options.taskQueue,
    started,
    async stop() {
      for (const handle of started) await recordHistory(handle, options.label);
      worker.shutdown();
      await running;
      await graph.close();
      await db.drop();
      await env.teardown();
    },
  };
}
