import { TEST_PAYLOAD_CODEC_KEY, testDataConverter } from '../helpers/codec.ts';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig, type Config } from '../../lib/config.ts';
import { createActivityDeps } from '../../lib/runtime.ts';
import { createWorker } from '../../workers/worker.ts';
import { createApp } from '../../api/app.ts';
import { createSandbox, type Sandbox } from '../../sandbox/index.ts';
import { createTestDatabase } from '../helpers/db.ts';

/**
 * duka as `npm start` runs it with SANDBOX on — API, worker, real Temporal and PostgreSQL from jest's global setup —
 * with the sandbox mounted at /sandbox (and the API's admin page at /admin), on one port that is also PUBLIC_BASE_URL, so
 * the Graph API, the providers and their callbacks all go through duka's own HTTP surface.
 */
export const ADMIN_TOKEN = 'browser-test-admin-token-0001';
export const NAIROBI = '100000000000001';
export const HARARE = '100000000000002';
export const PUNE = '100000000000003';

export interface SandboxDuka {
  baseUrl: string;
  config: Config;
  client: Client;
  orm: MikroORM;
  sandbox: Sandbox;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

export async function startSandboxDuka(options: { env?: Record<string, string>; label?: string } = {}): Promise<SandboxDuka> {
  if (!runtimeInstalled) {
    // The test process must not let the Temporal runtime take SIGINT away from jest.
    try {
      Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    } catch {
      // Already installed by another harness in this process.
    }
    runtimeInstalled = true;
  }
  const address = process.env.DUKA_TEST_TEMPORAL_ADDRESS;
  const bundle = process.env.DUKA_TEST_WORKFLOW_BUNDLE;
  if (!address || !bundle) throw new Error('no Temporal server: run through `npm test`');

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const db = await createTestDatabase(options.label ?? 'browser');
  // Every test database numbers orders from 1001, but the Temporal namespace is shared by the whole run: order
  // workflow ids (order:NBO-1001) would collide with another test file's running workflows. Start elsewhere.
  await db.orm.em.getConnection().execute('update shop set next_order_number = ?', [100_000 + Math.floor(Math.random() * 800_000)]);
  const config = loadConfig({
    SANDBOX: 'on',
    PUBLIC_BASE_URL: baseUrl,
    ADMIN_TOKEN,
    CUSTOMER_REF_SECRET: 'browser-test-customer-ref-secret',
    PAYLOAD_CODEC_KEY: TEST_PAYLOAD_CODEC_KEY,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: `orders-${randomBytes(4).toString('hex')}`,
    TEMPORAL_UI_URL: 'http://localhost:8233',
    DATABASE_URL: db.url,
    ...options.env,
  });

  const connection = await Connection.connect({ address });
  const dataConverter = testDataConverter();
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  const deps = await createActivityDeps(config, db.url, client, db.orm);
  const native = await NativeConnection.connect({ address });
  const worker: Worker = await createWorker({
    connection: native,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps,
    bundle: { codePath: bundle },
    maxCachedWorkflows: 100,
    dataConverter,
  });
  const running = worker.run();

  const sandbox = createSandbox({ config, orm: db.orm, temporal: client });
  server.on('request', createApp({ config, orm: db.orm, temporal: client, payments: deps.payments, sandboxRouter: sandbox.router }));

  return {
    baseUrl,
    config,
    client,
    orm: db.orm,
    sandbox,
    async stop() {
      await sandbox.close();
      worker.shutdown();
      await running;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await native.close();
      await connection.close();
      await db.drop();
    },
  };
}
