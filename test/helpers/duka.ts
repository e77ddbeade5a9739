import { randomBytes, randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createActivityDeps } from '../../lib/runtime.ts';
import { createWorker, installRuntime } from '../../workers/worker.ts';
import { dukaDataConverter } from '../../lib/data-converter.ts';
import { codecKeysOf } from '../../lib/sandbox-keys.ts';
import { tracingClientInterceptors, tracingOn } from '../../lib/tracing.ts';
import { TEST_PAYLOAD_CODEC_KEY } from './codec.ts';
import { buildApp } from '../../lib/processes.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { customerRefFor } from '../../lib/customer-ref.ts';
import { conversationWorkflowId } from '../../domain/ids.ts';
import { createTestDatabase } from './db.ts';
import { recordHistories } from './histories.ts';
import { startFakeGraphApi, buildInboundWebhook, type FakeGraphApi, type RawInboundMessage } from '../fakes/graph-api.ts';

export const APP_SECRET = 'test-app-secret';
export const ACCESS_TOKEN = 'test-access-token';
export const NAIROBI = '100000000000001';
export const HARARE = '100000000000002';
export const PUNE = '100000000000003';

export interface Duka {
  config: Config;
  /** The environment its config was loaded from: what a duka process started by a test needs to join it. */
  env: Record<string, string>;
  baseUrl: string;
  graph: FakeGraphApi;
  client: Client;
  orm: MikroORM;
  taskQueue: string;
  /** Posts a signed webhook carrying these raw Meta messages; resolves with the HTTP status. */
  deliver(phoneNumberId: string, messages: RawInboundMessage[], options?: { name?: string; from?: string }): Promise<Response>;
  customerRef(waId: string): string;
  conversationId(shopId: string, waId: string): string;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * duka as production runs it — API, worker, real Temporal, real PostgreSQL — with only Meta (and payment providers,
 * when given) replaced by fakes that speak their protocols over HTTP.
 */
export async function startDuka(
  options: { env?: Record<string, string>; label?: string; providerFetch?: typeof fetch; /** The API's Temporal client goes here (e.g. a proxy a test can cut); the worker always connects directly. */ clientTemporalAddress?: string } = {},
): Promise<Duka> {
  installRuntime();
  const address = process.env.DUKA_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('no Temporal server: run through `npm test`');
  const db = await createTestDatabase(options.label);
  // Test files share one Temporal namespace and order workflow ids are `order:<number>`: were every fresh database to
  // start at NBO-1001, files running in parallel would drive each other's orders. Each run numbers from its own range.
  await db.orm.em.getConnection().execute('update shop set next_order_number = ?', [randomInt(100, 9_000) * 1_000]);
  const graph = await startFakeGraphApi({ accessToken: ACCESS_TOKEN });
  const taskQueue = `orders-${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    SANDBOX: 'off',
    WHATSAPP_GRAPH_URL: graph.url,
    WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: 'test-verify-token',
    CUSTOMER_REF_SECRET: 'test-customer-ref-secret',
    PAYLOAD_CODEC_KEY: TEST_PAYLOAD_CODEC_KEY,
    ADMIN_TOKEN: 'test-admin-token-0123456789',
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATABASE_URL: db.url,
    PUBLIC_BASE_URL: 'http://127.0.0.1:1',
    ...options.env,
  };
  const config = loadConfig(env);
  const connection = await Connection.connect({ address: options.clientTemporalAddress ?? address });
  const dataConverter = dukaDataConverter(codecKeysOf(config));
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter, interceptors: tracingClientInterceptors() });
  const payments = new PaymentProviders(config, options.providerFetch);
  const deps = { ...(await createActivityDeps(config, db.url, client, db.orm)), payments };

  const app = buildApp(deps);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let native: NativeConnection | null = null;
  let worker: Worker | null = null;
  let running: Promise<void> | null = null;
  const startWorker = async () => {
    native ??= await NativeConnection.connect({ address });
    worker = await createWorker({
      connection: native,
      namespace: config.temporal.namespace,
      taskQueue,
      deps,
      bundle: { codePath: (tracingOn() ? process.env.DUKA_TEST_WORKFLOW_BUNDLE_TRACED : process.env.DUKA_TEST_WORKFLOW_BUNDLE)! },
      maxCachedWorkflows: 100,
      dataConverter,
    });
    running = worker.run();
  };
  const stopWorker = async () => {
    if (!worker) return;
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    worker = null;
  };
  await startWorker();

  return {
    config,
    env,
    baseUrl,
    graph,
    client,
    orm: db.orm,
    taskQueue,
    async deliver(phoneNumberId, messages, opts = {}) {
      const built = buildInboundWebhook({ phoneNumberId, messages, appSecret: APP_SECRET, ...(opts.name ? { name: opts.name } : {}), ...(opts.from ? { from: opts.from } : {}) });
      return fetch(`${baseUrl}/webhooks/whatsapp`, { method: 'POST', headers: built.headers, body: built.raw });
    },
    customerRef: (waId) => customerRefFor(waId, config.customerRefSecret),
    conversationId: (shopId, waId) => conversationWorkflowId(shopId, customerRefFor(waId, config.customerRefSecret)),
    startWorker,
    stopWorker,
    async stop() {
      await recordHistories(client, taskQueue, options.label ?? 'duka').catch((err: unknown) => console.error('recording histories failed:', err));
      await stopWorker();
      await new Promise((r) => server.close(r));
      await native?.close();
      await connection.close();
      await graph.close();
      await db.drop();
    },
  };
}
