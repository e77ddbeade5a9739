import { readFileSync } from 'node:fs';
import { dukaDataConverter } from '../lib/data-converter.ts';
import { codecKeysOf, withSandboxKeys } from '../lib/sandbox-keys.ts';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../lib/config.ts';
import { openOrm } from '../db/orm.ts';
import { createActivityDeps } from '../lib/runtime.ts';
import { buildApp } from '../lib/processes.ts';
import { createWorker } from '../workers/worker.ts';
import { CHILD_ENV, type ChildRole, type FromChild, type ToChild } from './ipc.ts';

/**
 * One process bench/run.ts starts: duka's API, duka's worker, or the bare worker of scenario B. Each is built as
 * lib/processes.ts builds it (the API binds 127.0.0.1 only, and the workers load a bundle made once by run.ts, as
 * production loads its prebuilt one); configuration comes from the environment, orders from the IPC channel.
 */
const role = process.argv[2] as ChildRole;

function tell(message: FromChild): void {
  process.send?.(message);
}

// The parent is gone (killed, crashed): never linger.
process.on('disconnect', () => process.exit(1));

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`bench child: ${name} is not set`);
  return value;
}

async function startApi(): Promise<() => Promise<void>> {
  const config = withSandboxKeys(loadConfig());
  const databaseUrl = required('DATABASE_URL');
  const orm = await openOrm(databaseUrl);
  const connection = await Connection.connect({ address: required('TEMPORAL_ADDRESS') });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dukaDataConverter(codecKeysOf(config)) });
  const app = buildApp(await createActivityDeps(config, databaseUrl, temporal, orm));
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(Number(process.env[CHILD_ENV.apiPort] ?? 0), '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  tell({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  return async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await connection.close();
    await orm.close();
  };
}

/** The worker's cache, for the memory samples: how many workflows the RSS is spent on. */
let cachedWorkflows: (() => number) | undefined;

/** BENCH_MAX_CACHED, when set: the workers' `maxCachedWorkflows`. */
function maxCached(): number | undefined {
  const raw = process.env[CHILD_ENV.maxCached];
  return raw ? Number(raw) : undefined;
}

function loadBundle(): { code: string; sourceMap: string } {
  return {
    code: readFileSync(required(CHILD_ENV.bundle), 'utf8'),
    sourceMap: readFileSync(required(CHILD_ENV.sourceMap), 'utf8'),
  };
}

async function startDukaWorker(): Promise<() => Promise<void>> {
  const config = withSandboxKeys(loadConfig());
  const databaseUrl = required('DATABASE_URL');
  const address = required('TEMPORAL_ADDRESS');
  const orm = await openOrm(databaseUrl);
  const dataConverter = dukaDataConverter(codecKeysOf(config));
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  const native = await NativeConnection.connect({ address });
  const bundle = loadBundle();
  const worker = await createWorker({
    connection: native,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps: await createActivityDeps(config, databaseUrl, temporal, orm),
    bundle,
    dataConverter,
    ...(maxCached() !== undefined && { maxCachedWorkflows: maxCached() }),
  });
  cachedWorkflows = () => worker.getStatus().numCachedWorkflows;
  const running = worker.run();
  tell({ type: 'ready' });
  return async () => {
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await orm.close();
  };
}

async function startBareWorker(): Promise<() => Promise<void>> {
  const native = await NativeConnection.connect({ address: required('TEMPORAL_ADDRESS') });
  // The same worker settings as workers/worker.ts, minus activities.
  const worker = await Worker.create({
    connection: native,
    namespace: required('TEMPORAL_NAMESPACE'),
    taskQueue: required('TEMPORAL_TASK_QUEUE'),
    workflowBundle: { code: loadBundle().code },
    maxCachedWorkflows: maxCached() ?? 1000,
    shutdownGraceTime: '10s',
  });
  cachedWorkflows = () => worker.getStatus().numCachedWorkflows;
  const running = worker.run();
  tell({ type: 'ready' });
  return async () => {
    worker.shutdown();
    await running;
    await native.close();
  };
}

try {
  // The bare worker has no activities, which the SDK warns about at start: nothing else it says is of interest.
  if (role !== 'api') Runtime.install({ logger: new DefaultLogger(role === 'bare-worker' ? 'ERROR' : 'WARN') });
  const stop = await (role === 'api' ? startApi() : role === 'worker' ? startDukaWorker() : role === 'bare-worker' ? startBareWorker() : Promise.reject(new Error(`unknown role ${role}`)));
  let stopping = false;
  process.on('message', (message: ToChild) => {
    if (message.type === 'memory') {
      const m = process.memoryUsage();
      tell({ type: 'memory', id: message.id, memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, maxRss: process.resourceUsage().maxRSS * 1024, ...(cachedWorkflows && { cachedWorkflows: cachedWorkflows() }) } });
    } else if (message.type === 'stop' && !stopping) {
      stopping = true;
      stop()
        .then(() => process.exit(0))
        .catch((err: unknown) => {
          console.error(`bench ${role}: while stopping:`, err);
          process.exit(1);
        });
    }
  });
} catch (err) {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`bench ${role}: failed to start: ${message}`);
  // Exit once the report has left: process.send is asynchronous.
  if (process.send) process.send({ type: 'failed', message } satisfies FromChild, () => process.exit(1));
  else process.exit(1);
}
