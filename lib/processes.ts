import type { Server } from 'node:http';
import type { Express, Router } from 'express';
import type { ActivityDeps } from '../activities/deps.ts';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { assertProductionReady, ConfigError, type Config } from './config.ts';
import { effectiveProviderSettings, withSandboxCredentialsKey } from './credentials.ts';
import { Shop } from '../db/entities.ts';
import { logger } from './logger.ts';
import { openOrm, type MikroORM } from '../db/orm.ts';
import { createActivityDeps } from './runtime.ts';
import { createWorker, installRuntime } from '../workers/worker.ts';
import { createApp, ShopDirectory } from '../api/app.ts';
import { startRedriver } from '../api/redrive.ts';
import { createOrderFromApi } from './create-order.ts';
import { dukaDataConverter, EncryptionCodec } from './data-converter.ts';
import { codecKeysOf, withSandboxKeys } from './sandbox-keys.ts';
import { codecRouter, uiOrigins } from './codec-server.ts';
import { startTracing, tracingClientInterceptors } from './tracing.ts';
import { freeLoopbackPort, handOffRedrives, serveWorkerMetrics } from './metrics.ts';

/** Where the two production processes find PostgreSQL and Temporal when the environment does not say (CONTRACT.md). */
export const EMBEDDED_PG_PORT = 54329;
type LocalPorts = Pick<Config, 'localPorts'>;
export const defaultDatabaseUrl = (config?: LocalPorts) => `postgres://postgres:postgres@127.0.0.1:${config?.localPorts.postgres ?? EMBEDDED_PG_PORT}/duka`;
export const defaultTemporalAddress = (config?: LocalPorts) => `127.0.0.1:${config?.localPorts.temporal ?? 7233}`;

export interface Running {
  stop(): Promise<void>;
}

/** duka's HTTP app wired as production runs it (POST /api/orders included); tests and the bench use the same. */
export function buildApp(deps: ActivityDeps, sandboxRouter?: Router): Express {
  const { config, orm, temporal, payments } = deps;
  return createApp({
    config,
    orm,
    temporal,
    payments,
    createOrder: createOrderFromApi({ config, orm, temporal, activities: deps }),
    ...(sandboxRouter ? { sandboxRouter } : {}),
    ...(config.payloadCodecKeys ? { extraRoutes: [{ path: '/codec', router: codecRouterFor(config) }] } : {}),
  });
}

/** `/codec/*` (lib/codec-server.ts): open in the sandbox, behind ADMIN_TOKEN otherwise; browsers only from the Temporal UI. */
function codecRouterFor(config: Config): Router {
  return codecRouter({ codec: new EncryptionCodec(codecKeysOf(config)), uiOrigins: uiOrigins(config.temporal.uiUrl), open: config.sandbox, adminToken: config.adminToken });
}

/**
 * Before a process serves anything, once PostgreSQL answers: in the sandbox a credentials key kept under `.data/`; with
 * the sandbox off, every secret of a method some active shop offers must be real (lib/config.ts), or it stops here
 * naming the variable.
 */
export async function readyToServe(given: Config, orm: MikroORM): Promise<Config> {
  const config = withSandboxKeys(withSandboxCredentialsKey(given));
  if (config.sandbox) return config;
  const rows = await orm.em.fork().find(Shop, { active: true }, { orderBy: { id: 'asc' } });
  const shops = rows.map((shop) => {
    try {
      return { id: shop.id, paymentMethods: shop.paymentMethods, providerSettings: effectiveProviderSettings(shop, config.credentialsKey) };
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  CREDENTIALS_KEY: ${(err as Error).message}`);
    }
  });
  assertProductionReady(config, shops);
  return config;
}

async function openReady(given: Config, options: { databaseUrl: string; orm?: MikroORM | undefined }): Promise<{ config: Config; orm: MikroORM }> {
  const orm = options.orm ?? (await openOrm(options.databaseUrl));
  try {
    return { config: await readyToServe(given, orm), orm };
  } catch (err) {
    if (!options.orm) await orm.close();
    throw err;
  }
}

/** The API: listens, and on stop finishes in-flight requests before closing its connections. */
export async function runApi(given: Config, options: { databaseUrl: string; temporalAddress: string; orm?: MikroORM }): Promise<Running & { url: string }> {
  const { config, orm } = await openReady(given, options);
  const tracing = startTracing('duka-api');
  const connection = await Connection.connect({ address: options.temporalAddress });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dukaDataConverter(codecKeysOf(config)), interceptors: tracingClientInterceptors() });
  const deps = await createActivityDeps(config, options.databaseUrl, temporal, orm);
  const sandboxRouter = config.sandbox ? (await import('../sandbox/index.ts')).createSandbox({ config, orm, temporal, deployFlows: true }) : undefined;
  const app = buildApp(deps, sandboxRouter?.router);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${config.port} is in use: set PORT to another port, or stop what is using it`) : err),
    );
  });
  logger.info({ port: config.port }, 'api listening');
  // Messages whose hand-off failed while Temporal was away are handed off by duka itself once it answers (api/redrive.ts).
  const redriver = startRedriver({
    config,
    orm,
    temporal,
    shops: new ShopDirectory(orm, { credentialsKey: config.credentialsKey }),
    onRedrive: (result) => handOffRedrives.inc({ result }),
  });
  return {
    url: `http://localhost:${config.port}`,
    async stop() {
      await redriver.stop();
      await sandboxRouter?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      await connection.close();
      await tracing?.shutdown();
      if (!options.orm) await orm.close();
    },
  };
}

/** The worker: polls `orders`; on stop it drains (in-flight activities finish, workflows are handed back). */
export async function runWorker(given: Config, options: { databaseUrl: string; temporalAddress: string; orm?: MikroORM }): Promise<Running> {
  const { config, orm } = await openReady(given, options);
  const dataConverter = dukaDataConverter(codecKeysOf(config));
  const tracing = startTracing('duka-worker');
  const connection = await Connection.connect({ address: options.temporalAddress });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter, interceptors: tracingClientInterceptors() });
  // One scrape target on WORKER_METRICS_PORT: the SDK's exporter on a private loopback port, merged with duka's series.
  const sdkMetrics = `127.0.0.1:${await freeLoopbackPort()}`;
  installRuntime({ metricsBindAddress: sdkMetrics });
  const metricsServer = await serveWorkerMetrics(config.workerMetricsPort, `http://${sdkMetrics}/metrics`);
  const native = await NativeConnection.connect({ address: options.temporalAddress });
  const worker: Worker = await createWorker({
    connection: native,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps: await createActivityDeps(config, options.databaseUrl, temporal, orm),
    dataConverter,
  });
  const running = worker.run();
  logger.info({ taskQueue: config.temporal.taskQueue, metricsPort: config.workerMetricsPort }, 'worker polling');
  return {
    async stop() {
      worker.shutdown();
      await running;
      await native.close();
      await connection.close();
      await new Promise((resolve) => metricsServer.close(resolve));
      await tracing?.shutdown();
      if (!options.orm) await orm.close();
    },
  };
}

/** Ctrl-C / SIGTERM → stop everything once, in order, then exit. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
