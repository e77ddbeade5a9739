import type { FakeGraphApi } from '../test/fakes/graph-api.ts';
import { buildInboundWebhook, buttonReply, textMessage } from '../test/fakes/graph-api.ts';
import type { BareMessage, benchBareWorkflow } from './bare-workflow.ts';
import type { MemorySample } from './ipc.ts';
import {
  APP_SECRET,
  CONCURRENCY,
  cpuDelta,
  cpuSample,
  cpuTable,
  drive,
  errorCount,
  intEnv,
  lanes,
  log,
  memoryLines,
  remainingMs,
  seconds,
  sentTo,
  serverPids,
  signal,
  sleep,
  stockUp,
  TIME_LIMIT_S,
  until,
  type BareProcesses,
  type ChildHandle,
  type DukaProcesses,
  type MemoryRow,
} from './harness.ts';
import { fixed, ratio, summarize, table, type LatencySummary } from './stats.ts';

/**
 * Scenario "idle": BENCH_IDLE Nairobi customers each put a Handmade Soap in a cart (two signed webhooks: "Add to cart",
 * "1") and go quiet, leaving a conversation and a CART order workflow each. The worker's RSS over its cache says
 * what a cached conversation costs. Then every one of them is evicted by restarting the worker process (a new process
 * has an empty cache, as after a deploy or a crash; a small maxCachedWorkflows would evict only some, in an order the
 * SDK picks, while the conversations are still being created), and a sample writes again ("my cart"): the time to the
 * first reply is the cost of replaying the conversation's history on a worker that never saw it. Bare: as many
 * counting workflows with one signal each, the bare worker restarted the same way, then one signal to the same sample.
 */

export const IDLE = intEnv('BENCH_IDLE', TIME_LIMIT_S >= 1800 ? 10_000 : 1000, 1, 100_000);
export const IDLE_SAMPLE = Math.min(IDLE, intEnv('BENCH_IDLE_SAMPLE', 200, 1, 100_000));
/** Resumed conversations in flight at a time: few, so that the figure is replay, not queueing. */
export const IDLE_RESUME_CONCURRENCY = intEnv('BENCH_IDLE_RESUME_CONCURRENCY', 4, 1, 256);

const NAIROBI = '100000000000001';
const PRODUCT = 'nairobi-soap';

export interface IdleSide {
  name: string;
  created: number;
  createMs: number;
  createErrors: number;
  memory: MemoryRow;
  resumed: LatencySummary;
  resumeMissing: number;
  cpu: Record<string, number>;
  windowMs: number;
  notes: string[];
}

export interface IdleResult {
  duka: IdleSide;
  bare: IdleSide | undefined;
}

/** Evenly spread over the whole population (old and recent conversations alike). */
const sampleOf = (count: number, size: number) => Array.from({ length: size }, (_, k) => Math.floor((k * count) / size));

/** Waits until the worker's cache stops growing (or holds `wanted`): the memory figure is taken after the last task. */
async function settledMemory(worker: ChildHandle, wanted: number): Promise<MemorySample | undefined> {
  let last = await worker.memory();
  for (let quiet = 0; quiet < 3 && (last?.cachedWorkflows ?? 0) < wanted && !signal.aborted; ) {
    await sleep(1_000);
    const next = await worker.memory();
    quiet = next?.cachedWorkflows === last?.cachedWorkflows ? quiet + 1 : 0;
    last = next;
  }
  return last;
}

/** Runs the job of each sampled index, IDLE_RESUME_CONCURRENCY at a time: its time (ms, undefined: no answer) and the CPU of these processes. */
async function resumeSample(processes: Record<string, number | undefined>, job: (index: number) => Promise<number | undefined>) {
  const cpuBefore = cpuSample(processes);
  const startedAt = performance.now();
  const times: number[] = [];
  let missing = 0;
  const sample = sampleOf(IDLE, IDLE_SAMPLE);
  await lanes(sample.length, IDLE_RESUME_CONCURRENCY, async (k) => {
    const ms = await job(sample[k]!).catch(() => undefined);
    if (ms === undefined) missing += 1;
    else times.push(ms);
  });
  return { resumed: summarize(times), resumeMissing: missing, windowMs: performance.now() - startedAt, cpu: cpuDelta(cpuBefore, cpuSample(processes)) };
}

async function dukaIdle(duka: DukaProcesses, graph: FakeGraphApi, reserveMs: number): Promise<IdleSide> {
  const notes: string[] = [];
  await stockUp(duka.api.url!, 'nairobi', [PRODUCT]);
  const phones = Array.from({ length: IDLE }, (_, i) => `2547${50_000_000 + i}`);
  const sent = sentTo(graph);
  const added = (phone: string) => sent(phone).some((m) => JSON.stringify(m.body).includes('Added 1 ×'));

  // A worker with an empty cache, so that what it holds afterwards is these conversations and their carts.
  await duka.restartWorker();
  const before = await duka.worker.memory();
  // Each lane takes the next customer once the last one's cart is confirmed: as fast as duka takes them, without a
  // backlog of workflow tasks that would time out on a worker that cannot keep up.
  const startedAt = performance.now();
  const failed = new Map<string, number>();
  await lanes(IDLE, CONCURRENCY, async (i) => {
    const phone = phones[i]!;
    try {
      for (const message of [buttonReply(phone, `add:${PRODUCT}`, 'Add to cart'), textMessage(phone, '1')]) {
        const w = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [message], appSecret: APP_SECRET, name: `Idle ${phone.slice(-5)}` });
        await duka.post({ body: w.raw, headers: w.headers });
      }
      if (!(await until(() => added(phone), Math.min(120_000, Math.max(5_000, remainingMs() - reserveMs))))) throw new Error('no "Added 1 × …" in time');
    } catch (err) {
      const key = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 80) : String(err);
      failed.set(key, (failed.get(key) ?? 0) + 1);
    }
  });
  const createMs = performance.now() - startedAt;
  const createErrors = [...failed.values()].reduce((a, b) => a + b, 0);
  if (createErrors) notes.push(`${createErrors} of ${IDLE} carts not confirmed: ${[...failed].map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  const after = await settledMemory(duka.worker, 2 * IDLE);

  log(`idle: ${IDLE} conversations with a cart in ${seconds(createMs)}; restarting the worker (every workflow evicted), then ${IDLE_SAMPLE} of them write again…`);
  await duka.restartWorker();
  const resumed = await resumeSample({ api: duka.api.pid, worker: duka.worker.pid, ...serverPids() }, async (index) => {
    const phone = phones[index]!;
    const seen = sent(phone).length;
    const w = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [textMessage(phone, 'my cart')], appSecret: APP_SECRET, name: `Idle ${phone.slice(-5)}` });
    const t0 = performance.now();
    await duka.post({ body: w.raw, headers: w.headers });
    const replied = await until(() => sent(phone).length > seen, Math.min(120_000, Math.max(5_000, remainingMs() - reserveMs / 2)));
    return replied ? sent(phone)[seen]!.receivedAt - t0 : undefined;
  });
  if (resumed.resumeMissing) notes.push(`${resumed.resumeMissing} of ${IDLE_SAMPLE} resumed conversations got no reply in time`);
  return {
    name: 'duka: conversation + CART order',
    created: IDLE,
    createMs,
    createErrors,
    memory: { role: `duka worker, ${IDLE} conversations with a cart`, before, after },
    ...resumed,
    notes,
  };
}

async function bareIdle(bare: BareProcesses): Promise<IdleSide> {
  const { client, taskQueue, run } = bare;
  const ids = Array.from({ length: IDLE }, (_, i) => `bench-bare:${run}:idle:${i}`);
  const ping = (workflowId: string, n: number) =>
    client.workflow.signalWithStart<typeof benchBareWorkflow, [BareMessage]>('benchBareWorkflow', {
      workflowId,
      taskQueue,
      args: [2],
      signal: 'ping',
      signalArgs: [{ id: `${workflowId}:${n}`, text: 'hi' }],
    });
  await bare.restartWorker();
  const before = await bare.worker.memory();
  const load = await drive(
    ids.map((id) => [id]),
    CONCURRENCY,
    (id) => ping(id, 0).then(() => undefined),
  );
  const createMs = performance.now() - load.startedAt;
  const after = await settledMemory(bare.worker, IDLE);

  await bare.restartWorker();
  const resumed = await resumeSample({ worker: bare.worker.pid, ...serverPids() }, async (index) => {
    const id = ids[index]!;
    const t0 = performance.now();
    // Its second signal: the workflow wakes, replays its one-signal history on the new worker, and completes.
    await ping(id, 1);
    const done = await Promise.race([client.workflow.getHandle(id).result().then(() => true), sleep(Math.max(5_000, Math.min(120_000, remainingMs()))).then(() => false)]);
    return done ? performance.now() - t0 : undefined;
  });
  return {
    name: 'bare: workflow with one signal',
    created: IDLE,
    createMs,
    createErrors: errorCount(load),
    memory: { role: `bare worker, ${IDLE} workflows`, before, after },
    ...resumed,
    notes: resumed.resumeMissing ? [`${resumed.resumeMissing} of ${IDLE_SAMPLE} bare workflows did not complete in time`] : [],
  };
}

export async function scenarioIdle(duka: DukaProcesses, bare: BareProcesses, graph: FakeGraphApi): Promise<IdleResult> {
  const dukaSide = await dukaIdle(duka, graph, 60_000);
  const bareSide = signal.aborted ? undefined : await bareIdle(bare);
  return { duka: dukaSide, bare: bareSide };
}

export function reportIdle(r: IdleResult | undefined): void {
  if (!r) return;
  const sides = [r.duka, ...(r.bare ? [r.bare] : [])];
  log('');
  log(`IDLE: ${IDLE} idle conversations with a cart (BENCH_IDLE), every workflow evicted by a worker restart, then ${IDLE_SAMPLE} resume (BENCH_IDLE_SAMPLE), ${IDLE_RESUME_CONCURRENCY} at a time`);
  log(
    table(
      ['created (BENCH_CONCURRENCY lanes, each waits for its cart)', 'count', 'errors', 'time', 'per s'],
      sides.map((x) => [x.name, String(x.created), String(x.createErrors), seconds(x.createMs), fixed((x.created / x.createMs) * 1000)]),
    ),
  );
  log('');
  for (const line of memoryLines(sides.map((x) => x.memory))) log(line);
  log(`duka: each conversation leaves two workflows (the conversation and its CART order); the cache holds at most maxCachedWorkflows (1000 unless BENCH_MAX_CACHED).`);
  log('');
  const t = (x: IdleSide) => x.resumed;
  log(
    table(
      ['resume after eviction (message → first reply)', 'resumed', 'missing', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [
        ...sides.map((x) => [x.name, String(t(x).count), String(x.resumeMissing), fixed(t(x).p50), fixed(t(x).p90), fixed(t(x).p99), fixed(t(x).max)]),
        ...(r.bare ? [['duka / bare', '', '', ratio(t(r.duka).p50, t(r.bare).p50), ratio(t(r.duka).p90, t(r.bare).p90), ratio(t(r.duka).p99, t(r.bare).p99), ratio(t(r.duka).max, t(r.bare).max)]] : []),
      ],
    ),
  );
  log('duka: webhook sent → the reply at the fake Graph API; bare: signalWithStart sent → the workflow\'s result.');
  log('');
  log(cpuTable(sides.map((x) => ({ label: x === r.duka ? 'duka' : 'bare', cpu: x.cpu, handled: x.resumed.count, windowMs: x.windowMs }))));
  log('ms/msg here: per resumed conversation (its replay on the new worker and the one message), the new worker already started.');
  for (const x of sides) for (const n of x.notes) log(`idle note: ${n}`);
}
