import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { failureText } from '../../lib/data-converter.ts';
import proto from '@temporalio/proto';
import type { MikroORM } from '../../db/orm.ts';
import { orderWorkflowId } from '../../domain/ids.ts';
import { orderQuery, type OrderView } from '../../workflows/definitions.ts';
import type { ChaosSnapshot, InboundFact, JourneyRecord, OrderFact, WorkflowOrderFact } from './checks.ts';
import type { Fakes } from './fakes.ts';

/**
 * What the checks read once the run has settled: the orders as PostgreSQL has them (orders, order_item, payment), the
 * same orders as their workflows answer the `order` query, the workflows that ended badly, the messages the Graph
 * stand-in received and the charges the simulators took.
 */

/** Payment rows and attempts in which money was taken. */
const MONEY_TAKEN = ['succeeded', 'refunded', 'flagged'];

async function withRetries<T>(run: () => Promise<T>, tries = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= tries || err instanceof WorkflowNotFoundError) throw err;
      await new Promise((r) => setTimeout(r, 1_000 * attempt));
    }
  }
}

/** The order as its workflow answers it; null when there is no such workflow (or it never answers). */
async function workflowFact(client: Client, orderNumber: string): Promise<WorkflowOrderFact | null> {
  const handle = client.workflow.getHandle(orderWorkflowId(orderNumber));
  try {
    const view: OrderView = await withRetries(() => handle.query(orderQuery));
    return {
      status: view.status,
      paymentStatus: view.paymentStatus,
      attention: view.attention ?? null,
      items: view.items.map((i) => ({ productId: i.productId, quantity: i.quantity })),
      successfulPayments: view.payments.filter((p) => MONEY_TAKEN.includes(p.status)).length,
    };
  } catch {
    return null;
  }
}

const CAUSE = proto.temporal.api.enums.v1.WorkflowTaskFailedCause;
/** Workflow task failures that are part of normal operation (a signal or update arrived meanwhile, a sticky reset). */
const ROUTINE_CAUSES = new Set<number>([
  CAUSE.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
  CAUSE.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
  CAUSE.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
]);

/**
 * Workflows that ended Failed, Terminated or TimedOut, and those whose history holds a workflow task that failed for a
 * reason of duka's own (an exception in workflow code, non-determinism, a bad command): such a workflow is stuck
 * until the code changes, even when Temporal still lists it as running.
 */
export async function failedWorkflows(client: Client): Promise<ChaosSnapshot['failedWorkflows']> {
  const found: ChaosSnapshot['failedWorkflows'] = [];
  const closed = 'ExecutionStatus="Failed" OR ExecutionStatus="Terminated" OR ExecutionStatus="TimedOut"';
  for await (const w of client.workflow.list({ query: closed })) found.push({ workflowId: w.workflowId, status: w.status.name });
  for await (const w of client.workflow.list()) {
    const history = await withRetries(() => client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()).catch(() => undefined);
    const failed = history?.events?.find((e) => {
      const cause = e.workflowTaskFailedEventAttributes?.cause;
      return cause !== undefined && cause !== null && !ROUTINE_CAUSES.has(cause);
    })?.workflowTaskFailedEventAttributes;
    if (failed) {
      const cause = (CAUSE[failed.cause ?? 0] ?? String(failed.cause)).replace('WORKFLOW_TASK_FAILED_CAUSE_', '');
      const message = await failureText(failed.failure, client.options.loadedDataConverter.payloadCodecs[0]);
      found.push({ workflowId: w.workflowId, status: `workflow task failed (${cause}): ${message.slice(0, 160)}` });
    }
  }
  return found;
}

export async function collectSnapshot(deps: { orm: MikroORM; client: Client; fakes: Fakes; journeys: JourneyRecord[]; inbound: InboundFact[] }): Promise<ChaosSnapshot> {
  const sql = deps.orm.em.fork().getConnection();
  const rows = await sql.execute<{ number: string; status: string; payment_status: string; ref: string | null }[]>(
    'select o.number, o.status, o.payment_status, c.ref from orders o left join customer c on c.id = o.customer_id',
  );
  const items = await sql.execute<{ number: string; product_id: string | null; quantity: number }[]>(
    'select o.number, i.product_id, i.quantity from order_item i join orders o on o.id = i.order_id',
  );
  const payments = await sql.execute<{ number: string; status: string }[]>('select o.number, p.status from payment p join orders o on o.id = p.order_id');

  const orders: OrderFact[] = [];
  for (const row of rows) {
    orders.push({
      number: row.number,
      customerRef: row.ref,
      status: row.status,
      paymentStatus: row.payment_status,
      items: items.filter((i) => i.number === row.number).map((i) => ({ productId: i.product_id, quantity: Number(i.quantity) })),
      successfulPayments: payments.filter((p) => p.number === row.number && MONEY_TAKEN.includes(p.status)).length,
      workflow: await workflowFact(deps.client, row.number),
    });
  }
  const known = new Set(rows.map((r) => r.number));
  const missingRows: ChaosSnapshot['missingRows'] = [];
  for (const j of deps.journeys) {
    if (j.orderNumber && !known.has(j.orderNumber)) missingRows.push({ number: j.orderNumber, workflow: await workflowFact(deps.client, j.orderNumber) });
  }
  return {
    journeys: deps.journeys,
    charges: deps.fakes.charges(),
    orders,
    missingRows,
    outbound: deps.fakes.outbound.map((m) => ({ to: m.to, body: m.body, at: m.at })),
    inbound: deps.inbound,
    failedWorkflows: await failedWorkflows(deps.client),
  };
}

/**
 * Running workflows among `workflowIds` with work still under way: a workflow task pending (scheduled, or timed out and
 * being tried again) or an activity pending. The run waits for those of unfinished journeys before it looks, since the
 * answer a journey gave up on may still come (a late answer is slow, not stuck).
 */
export async function busyWorkflows(client: Client, workflowIds: string[]): Promise<string[]> {
  const busy: string[] = [];
  for (const id of workflowIds) {
    const d = await client.workflow.getHandle(id).describe().catch(() => undefined);
    if (d?.status.name === 'RUNNING' && (d.raw.pendingWorkflowTask || (d.raw.pendingActivities?.length ?? 0) > 0)) busy.push(id);
  }
  return busy;
}

/** Journeys that paid and whose order row is not paid yet: what the run waits for before it looks. */
export async function unpaidAfterCharge(orm: MikroORM, fakes: Fakes, journeys: JourneyRecord[]): Promise<number> {
  const charged = new Set(fakes.charges().map((c) => c.phone));
  const numbers = journeys.filter((j) => j.orderNumber && charged.has(j.phone)).map((j) => j.orderNumber!);
  if (numbers.length === 0) return 0;
  const paid = await orm.em
    .fork()
    .getConnection()
    .execute<{ number: string }[]>(`select number from orders where payment_status = 'SUCCEEDED' and number in (${numbers.map(() => '?').join(', ')})`, numbers);
  return numbers.length - paid.length;
}
