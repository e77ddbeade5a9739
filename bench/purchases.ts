import type { FakeGraphApi } from '../test/fakes/graph-api.ts';
import type { MpesaSimulatorControl } from '../sandbox/providers/mpesa.ts';
import { Customer, demoShops, Meta, newRecord, type JourneyPlan } from './chaos/journeys.ts';
import type { Fakes } from './chaos/fakes.ts';
import { ApiPool } from './chaos/pool.ts';
import type { Random } from './chaos/random.ts';
import type { BareMessage, benchBarePurchaseWorkflow } from './bare-workflow.ts';
import {
  APP_SECRET,
  cpuDelta,
  cpuSample,
  cpuTable,
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
  type BareProcesses,
  type DukaProcesses,
  type MemoryRow,
} from './harness.ts';
import { summarize, fixed, ratio, table, type LatencySummary } from './stats.ts';

/**
 * Scenario "purchases": whole purchases, each a Nairobi customer's journey as bench/chaos/journeys.ts plays it (the
 * same `Customer`, reused): "hi", shop, a category, a product, add, quantity, a second product and its quantity,
 * checkout, pickup, confirm, M-Pesa: 12 signed webhooks, each sent once the reply it waits for has reached the fake
 * Graph API, then the STK push approved at once on the Daraja simulator, whose callback reaches duka's API, and the
 * receipt. Beside it, the bare equivalent: a workflow that takes 12 signals and a "paid" signal and completes.
 */

export const PURCHASES = intEnv('BENCH_PURCHASES', 24, 1, 10_000);
export const PURCHASE_CONCURRENCY = intEnv('BENCH_PURCHASE_CONCURRENCY', 8, 1, 256);
/** hi, menu:shop, cat, prod, add, quantity, add, quantity, cart:checkout, ful:pickup, order:confirm, pay:mpesa. */
export const PURCHASE_MESSAGES = 12;

/** Customers never think here: each answers the moment duka's reply arrives. */
const noPauses: Random = {
  seed: 0,
  next: () => 0,
  chance: () => false,
  between: () => 0,
  int: (min) => min,
  pick: (items) => items[0]!,
};

/** The journeys' view of what duka sent (bench/chaos/fakes.ts), over the bench's fake Graph API. */
function outbound(graph: FakeGraphApi): Pick<Fakes, 'outboundTo' | 'nextOutbound'> {
  const sent = sentTo(graph);
  return {
    outboundTo: (phone) => sent(phone).map((m) => ({ phoneNumberId: m.phoneNumberId, to: m.to, wamid: m.messageId, body: m.body, at: performance.timeOrigin + m.receivedAt })),
    nextOutbound: (ms) => sleep(Math.min(ms, 10)).then(() => undefined),
  };
}

export interface PurchaseRun {
  name: string;
  attempted: number;
  completed: number;
  /** First message sent → receipt at the fake Graph API (duka) / workflow result (bare), ms, completed ones. */
  time: LatencySummary;
  windowMs: number;
  /** Inbound messages of the completed purchases (webhooks / signals), the CPU table's divisor. */
  messages: number;
  cpu: Record<string, number>;
  memory: MemoryRow;
  notes: string[];
}

export interface PurchasesResult {
  duka: PurchaseRun;
  bare: PurchaseRun | undefined;
}

function runOf(name: string, times: number[], windowMs: number, cpu: Record<string, number>, memory: MemoryRow, notes: string[]): PurchaseRun {
  return { name, attempted: PURCHASES, completed: times.length, time: summarize(times), windowMs, messages: times.length * PURCHASE_MESSAGES, cpu, memory, notes };
}

async function dukaPurchases(duka: DukaProcesses, graph: FakeGraphApi, mpesa: MpesaSimulatorControl, reserveMs: number): Promise<PurchaseRun> {
  const notes: string[] = [];
  const nairobi = demoShops().get('nairobi')!;
  const product = (id: string) => nairobi.products.find((p) => p.id === id)!;
  const lines = ['nairobi-coffee', 'nairobi-honey'].map((id) => ({ productId: id, name: product(id).name, category: product(id).category, quantity: 1 }));
  await stockUp(duka.api.url!, 'nairobi', lines.map((l) => l.productId));
  const plans: JourneyPlan[] = Array.from({ length: PURCHASES }, (_, i) => ({
    id: i + 1,
    shop: nairobi,
    method: 'mpesa',
    phone: `2547${60_000_000 + i}`,
    name: `Bench buyer ${i + 1}`,
    lines,
    delivery: false,
  }));
  const phones = new Set(plans.map((p) => p.phone));
  // The customer approves the prompt on the phone as soon as it shows; the simulator posts the callback to duka.
  const stopApproving = mpesa.onPush((push) => {
    if (phones.has(push.phoneNumber)) setImmediate(() => void mpesa.complete(push.checkoutRequestId, { resultCode: 0 }).catch(() => undefined));
  });
  const meta = new Meta({
    // One API: the chaos suite's round robin over a single, always live, instance.
    apis: new ApiPool(duka.api.url!, [{ id: 'api#1', url: duka.api.url! }], () => true),
    appSecret: APP_SECRET,
    random: noPauses,
    redeliverRate: 0,
    giveUpAfterMs: 60_000,
    hooks: { webhookLeaving() {}, cartUpdateAccepted() {} },
    signal,
  });
  const fakes = outbound(graph) as Fakes;
  const stepTimeoutMs = Math.min(120_000, Math.max(10_000, remainingMs() - reserveMs));
  const before = await duka.worker.memory();
  const processes = { api: duka.api.pid, worker: duka.worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const startedAt = performance.now();
  const times: number[] = [];
  const stuck = new Map<string, number>();
  await lanes(PURCHASES, PURCHASE_CONCURRENCY, async (i) => {
    const plan = plans[i]!;
    const customer = new Customer({ meta, fakes, otps: new Map(), random: noPauses, stepTimeoutMs, signal }, plan, newRecord(plan, 'bench-customer-ref-secret'));
    const t0 = performance.timeOrigin + performance.now();
    await customer.run();
    if (customer.record.finished) {
      const receipt = fakes.outboundTo(plan.phone).findLast((m) => JSON.stringify(m.body).includes('Receipt — order'));
      times.push((receipt?.at ?? performance.timeOrigin + performance.now()) - t0);
    } else {
      stuck.set(customer.record.stuckAt ?? '?', (stuck.get(customer.record.stuckAt ?? '?') ?? 0) + 1);
    }
  });
  const windowMs = performance.now() - startedAt;
  const cpuAfter = cpuSample(processes);
  const after = await duka.worker.memory();
  stopApproving();
  if (stuck.size) notes.push(`${[...stuck.values()].reduce((a, b) => a + b, 0)} purchases did not reach the receipt: ${[...stuck].map(([k, v]) => `${v}× at ${k}`).join(', ')}`);
  const refused = [...meta.answers].filter(([status]) => status !== '200');
  if (refused.length) notes.push(`webhook answers other than 200 (each retried as Meta does): ${refused.map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  return runOf('duka: whole purchase (12 webhooks + M-Pesa callback)', times, windowMs, cpuDelta(cpuBefore, cpuAfter), { role: 'duka worker', before, after }, notes);
}

async function barePurchases(bare: BareProcesses): Promise<PurchaseRun> {
  const { client, taskQueue, run } = bare;
  const before = await bare.worker.memory();
  const processes = { worker: bare.worker.pid, ...serverPids() };
  const cpuBefore = cpuSample(processes);
  const startedAt = performance.now();
  const times: number[] = [];
  const errors = new Map<string, number>();
  await lanes(PURCHASES, PURCHASE_CONCURRENCY, async (i) => {
    const workflowId = `bench-bare:${run}:purchase:${i}`;
    const t0 = performance.now();
    try {
      for (let j = 0; j < PURCHASE_MESSAGES; j++) {
        await client.workflow.signalWithStart<typeof benchBarePurchaseWorkflow, [BareMessage]>('benchBarePurchaseWorkflow', {
          workflowId,
          taskQueue,
          args: [PURCHASE_MESSAGES],
          signal: 'ping',
          signalArgs: [{ id: `${workflowId}:${j}`, text: 'message' }],
        });
      }
      const handle = client.workflow.getHandle(workflowId);
      await handle.signal('paid');
      await Promise.race([handle.result(), sleep(Math.max(1_000, remainingMs())).then(() => Promise.reject(new Error('no result in time')))]);
      times.push(performance.now() - t0);
    } catch (err) {
      const key = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 80) : String(err);
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
  });
  const windowMs = performance.now() - startedAt;
  const cpuAfter = cpuSample(processes);
  const after = await bare.worker.memory();
  const notes = errors.size ? [`bare purchases failed: ${[...errors].map(([k, v]) => `${v}× ${k}`).join(', ')}`] : [];
  return runOf('bare: 12 signals + "paid", workflow completes', times, windowMs, cpuDelta(cpuBefore, cpuAfter), { role: 'bare worker', before, after }, notes);
}

export async function scenarioPurchases(duka: DukaProcesses, bare: BareProcesses, graph: FakeGraphApi, mpesa: MpesaSimulatorControl): Promise<PurchasesResult> {
  const dukaRun = await dukaPurchases(duka, graph, mpesa, 30_000);
  const bareRun = signal.aborted ? undefined : await barePurchases(bare);
  return { duka: dukaRun, bare: bareRun };
}

export function reportPurchases(r: PurchasesResult | undefined): void {
  if (!r) return;
  const runs = [r.duka, ...(r.bare ? [r.bare] : [])];
  const rate = (x: PurchaseRun) => (x.completed / x.windowMs) * 1000;
  const s = (ms: number) => fixed(ms / 1000, 2);
  log('');
  log(`PURCHASES: ${PURCHASES} whole purchases, ${PURCHASE_CONCURRENCY} at a time (BENCH_PURCHASES, BENCH_PURCHASE_CONCURRENCY)`);
  log(
    table(
      ['purchases (first message → receipt)', 'done', 'of', 'purchases/s', 'p50 s', 'p90 s', 'p99 s', 'max s', 'window'],
      [
        ...runs.map((x) => [x.name, String(x.completed), String(x.attempted), fixed(rate(x), 2), s(x.time.p50), s(x.time.p90), s(x.time.p99), s(x.time.max), seconds(x.windowMs)]),
        ...(r.bare ? [['duka / bare', '', '', ratio(rate(r.duka), rate(r.bare)), ratio(r.duka.time.p50, r.bare.time.p50), ratio(r.duka.time.p90, r.bare.time.p90), ratio(r.duka.time.p99, r.bare.time.p99), ratio(r.duka.time.max, r.bare.time.max), '']] : []),
      ],
    ),
  );
  log('duka: each message is sent once the reply it waits for has arrived; the STK push is approved at once. bare: each signalWithStart once the previous returned.');
  log('');
  for (const line of memoryLines(runs.map((x) => x.memory))) log(line);
  log('');
  log(cpuTable(runs.map((x) => ({ label: x === r.duka ? 'duka' : 'bare', cpu: x.cpu, handled: x.messages, windowMs: x.windowMs }))));
  log(`ms/msg: per inbound message of a completed purchase (${PURCHASE_MESSAGES} each; duka's M-Pesa callback is not counted as one). Per purchase: ×${PURCHASE_MESSAGES}.`);
  for (const x of runs) for (const n of x.notes) log(`purchases note: ${n}`);
}
