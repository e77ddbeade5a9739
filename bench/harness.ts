import type { Client } from '@temporalio/client';
import type { FakeGraphApi, RecordedSend } from '../test/fakes/graph-api.ts';
import type { MpesaSimulatorControl } from '../sandbox/providers/mpesa.ts';
import type { ChildRole, MemorySample } from './ipc.ts';
import { cpuSeconds, machineCpu, postmasterPid } from './proc.ts';
import { fixed, mb, table } from './stats.ts';

/**
 * What every scenario of `npm run bench` shares (bench/run.ts starts the processes; bench/purchases.ts, bench/idle.ts
 * and the scenarios in run.ts use them): the run's settings and time limit, the closed-loop driver, waits bounded by
 * the time limit, and CPU accounting per process.
 */

// ---- settings and the time limit --------------------------------------------------------------------------------

export function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`bench: ${name}=${raw} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return value;
}

export const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 32, 1, 1024);

export const TIME_LIMIT_S = intEnv('BENCH_TIME_LIMIT', 600, 30, 7200);

export const APP_SECRET = 'bench-app-secret';

/** Where the Temporal dev server and the embedded PostgreSQL run, once started (their CPU is in every table). */
export const servers: { temporalPid?: number; pgDataDir?: string } = {};

export const runStarted = performance.now();
export const abort = new AbortController();
export const { signal } = abort;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Polls `done` until it is true, the deadline passes or the run is aborted; says which. */
export async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (signal.aborted || performance.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

export function log(line: string): void {
  console.log(line);
}

export interface ChildHandle {
  role: ChildRole;
  pid: number;
  url: string | undefined;
  memory(): Promise<MemorySample | undefined>;
  stop(): Promise<void>;
}

export interface Load {
  /** Milliseconds from the call to its answer, successful calls only. */
  latencies: number[];
  errors: Map<string, number>;
  attempted: number;
  startedAt: number;
  startedAtWall: number;
  endedAt: number;
  complete: boolean;
}

/**
 * C lanes; each takes the next customer and sends that customer's messages one after another (a customer's messages
 * stay in order, as Meta delivers them), timing each call. A failed call is counted and the next one goes on.
 */
export async function drive<T>(customers: T[][], concurrency: number, send: (message: T) => Promise<void>): Promise<Load> {
  const load: Load = { latencies: [], errors: new Map(), attempted: 0, startedAt: performance.now(), startedAtWall: Date.now(), endedAt: 0, complete: false };
  let next = 0;
  const lane = async () => {
    for (;;) {
      const customer = customers[next++];
      if (!customer) return;
      for (const message of customer) {
        if (signal.aborted) return;
        load.attempted += 1;
        const t0 = performance.now();
        try {
          await send(message);
          load.latencies.push(performance.now() - t0);
        } catch (err) {
          const key = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 80) : String(err);
          load.errors.set(key, (load.errors.get(key) ?? 0) + 1);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, customers.length) }, lane));
  load.endedAt = performance.now();
  load.complete = !signal.aborted && load.attempted === customers.reduce((n, c) => n + c.length, 0);
  return load;
}

export const errorCount = (load: Load) => [...load.errors.values()].reduce((a, b) => a + b, 0);

export interface Webhook {
  body: string;
  headers: Record<string, string>;
}

export type CpuSample = Record<string, number>;

/** CPU seconds so far: this process, each process tree named, and the whole machine (`machine` busy, `steal`). */
export function cpuSample(processes: Record<string, number | undefined>): CpuSample {
  const own = process.cpuUsage();
  const machine = machineCpu();
  const sample: CpuSample = { bench: (own.user + own.system) / 1e6, machine: machine.busy, steal: machine.steal };
  for (const [name, pid] of Object.entries(processes)) sample[name] = cpuSeconds(pid);
  return sample;
}

export function cpuDelta(before: CpuSample, after: CpuSample): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] ?? Number.NaN) - (before[k] ?? Number.NaN)]));
}

export interface Setup {
  temporalAddress: string;
  databaseUrl: string;
  dukaBundle: { code: string; sourceMap: string };
  bareBundle: { code: string; sourceMap: string };
  graph: FakeGraphApi;
  databaseNote: string;
  mpesa: { url: string; control: MpesaSimulatorControl };
}

export function remainingMs(): number {
  return Math.max(0, (TIME_LIMIT_S - 15) * 1000 - (performance.now() - runStarted));
}

export interface DukaProcesses {
  api: ChildHandle;
  worker: ChildHandle;
  post(w: Webhook): Promise<void>;
  stop(): Promise<void>;
  /** Stops the worker and starts a new one (an empty workflow cache), with these variables added. */
  restartWorker(env?: NodeJS.ProcessEnv): Promise<void>;
}

export interface BareProcesses {
  worker: ChildHandle;
  client: Client;
  taskQueue: string;
  run: string;
  /** Stops the bare worker and starts a new one (an empty workflow cache), with these variables added. */
  restartWorker(env?: NodeJS.ProcessEnv): Promise<void>;
}

export const CPU_ROWS = ['bench', 'api', 'worker', 'temporal', 'postgres'];
export const CPU_LABEL: Record<string, string> = {
  bench: 'bench (load, fake Graph API, Daraja simulator)',
  api: 'duka API',
  worker: 'worker',
  temporal: 'Temporal dev server',
  postgres: 'PostgreSQL',
  other: 'other processes on the machine',
  steal: 'stolen by the hypervisor',
};

export function cpuOf(cpu: Record<string, number>, n: string): number {
  if (n !== 'other') return cpu[n] ?? Number.NaN;
  const measured = CPU_ROWS.reduce((sum, k) => sum + (Number.isFinite(cpu[k]) ? cpu[k]! : 0), 0);
  return Math.max(0, (cpu.machine ?? Number.NaN) - measured);
}

/** CPU seconds and ms per message handled, one column pair per run. */
export function cpuTable(runs: { label: string; cpu: Record<string, number>; handled: number; windowMs: number }[]): string {
  const perMessage = (r: (typeof runs)[number], n: string) => (r.handled > 0 ? (cpuOf(r.cpu, n) / r.handled) * 1000 : Number.NaN);
  return table(
    ['CPU (measured phase)', ...runs.flatMap((r) => [`${r.label} s`, `${r.label} ms/msg`])],
    [
      ...[...CPU_ROWS, 'other', 'steal'].map((n) => [
        CPU_LABEL[n]!,
        ...runs.flatMap((r) => (n in r.cpu || n === 'other' ? [fixed(cpuOf(r.cpu, n), 2), fixed(perMessage(r, n), 2)] : ['–', '–'])),
      ]),
      ['wall-clock window', ...runs.flatMap((r) => [fixed(r.windowMs / 1000, 2), ''])],
      ['messages handled', ...runs.flatMap((r) => [String(r.handled), ''])],
    ],
  );
}

/** The Temporal server's and PostgreSQL's pids (PostgreSQL only when embedded), for `cpuSample`. */
export function serverPids(): { temporal: number | undefined; postgres: number | undefined } {
  return { temporal: servers.temporalPid, postgres: servers.pgDataDir ? postmasterPid(servers.pgDataDir) : undefined };
}

/** duka's ADMIN_TOKEN in the bench. */
export const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/**
 * Gives these products of a demo shop enough stock for the scenario (admin API, `PATCH …/products/:id`). The seed's
 * stock is small (Premium Coffee: 50): at checkout duka holds the units, and once they are gone every further order
 * is refused with "sold out … not placed" and never reaches the payment. A large number, not `null` (unlimited), so
 * that the units are still counted and held as a real shop's are.
 */
export async function stockUp(apiUrl: string, shopId: string, productIds: readonly string[], stock = 100_000_000): Promise<void> {
  for (const id of productIds) {
    const res = await fetch(`${apiUrl}/api/admin/shops/${shopId}/products/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ stock }),
      signal: AbortSignal.timeout(60_000),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`bench: PATCH stock of ${shopId}/${id}: HTTP ${res.status}`);
  }
}

export interface MemoryRow {
  role: string;
  before: MemorySample | undefined;
  after: MemorySample | undefined;
}

/** A worker's RSS before and after a phase, its cache (the SDK's count) and the RSS per workflow the cache gained. */
export function memoryLines(rows: MemoryRow[]): string[] {
  const count = (n: number | undefined) => (n === undefined ? '–' : String(n));
  const lines = [
    table(
      ['memory', 'RSS before MB', 'RSS after MB', 'RSS peak MB', 'cached before', 'cached after'],
      rows.map((m) => [m.role, mb(m.before?.rss ?? NaN), mb(m.after?.rss ?? NaN), mb(m.after?.maxRss ?? NaN), count(m.before?.cachedWorkflows), count(m.after?.cachedWorkflows)]),
    ),
  ];
  for (const m of rows) {
    if (!m.before || !m.after) continue;
    const grown = m.after.rss - m.before.rss;
    const gained = (m.after.cachedWorkflows ?? Number.NaN) - (m.before.cachedWorkflows ?? Number.NaN);
    const each = gained > 0 ? `${fixed(grown / gained / 1024 / 1024, 2)} MB per cached workflow` : 'no cached workflow gained to divide by';
    lines.push(`${m.role}: RSS ${grown >= 0 ? '+' : '−'}${mb(Math.abs(grown))} MB while its cache gained ${Number.isFinite(gained) ? gained : '–'} workflows: ${each}.`);
  }
  return lines;
}

/** What the fake Graph API sent to each number so far, indexed as it grows (one pass over `graph.sent` in all). */
export function sentTo(graph: FakeGraphApi): (phone: string) => RecordedSend[] {
  const byPhone = new Map<string, RecordedSend[]>();
  let scanned = 0;
  return (phone) => {
    for (; scanned < graph.sent.length; scanned++) {
      const m = graph.sent[scanned]!;
      const list = byPhone.get(m.to);
      if (list) list.push(m);
      else byPhone.set(m.to, [m]);
    }
    return byPhone.get(phone) ?? [];
  };
}

/** Runs jobs 0…count-1, `concurrency` at a time, until the run is stopped. */
export async function lanes(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count && !signal.aborted) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** The numbers among `wanted` that have been sent a message whose body contains `needle`, read as `graph.sent` grows. */
export function phonesTold(graph: FakeGraphApi, wanted: ReadonlySet<string>, needle: string): () => Set<string> {
  const told = new Set<string>();
  let scanned = 0;
  return () => {
    for (; scanned < graph.sent.length; scanned++) {
      const m = graph.sent[scanned]!;
      if (wanted.has(m.to) && JSON.stringify(m.body).includes(needle)) told.add(m.to);
    }
    return told;
  };
}
