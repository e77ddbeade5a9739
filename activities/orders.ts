import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { Customer, Order, OrderEvent, OrderItem, Shop, type IOrder } from '../db/entities.ts';
import { orderWorkflowId } from '../domain/ids.ts';
import { ORDER_UPDATES, orderQuery, type OrderInput, type OrderUpdateCall, type OrderUpdateOutcome, type OrderView } from '../workflows/definitions.ts';
import { SA } from '../workflows/search-attributes.ts';
import type { ActivityDeps } from './deps.ts';
import { orderTiming } from '../lib/timing.ts';

export type OrderStart = Omit<OrderInput, 'orderNumber' | 'state' | 'timing'> & { timing?: OrderInput['timing'] };

export function createOrderActivities({ orm, temporal, config }: ActivityDeps) {
  /** Starts `order:<number>`; starting twice (a retried activity) finds the first one. */
  async function startOrderWorkflow(input: OrderStart & { orderNumber: string }): Promise<string> {
    const workflowId = orderWorkflowId(input.orderNumber);
    try {
      await temporal.workflow.start('orderWorkflow', orderStartOptions(config, input));
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // A retry of this activity finds its own order; anyone else's order under this number is a conflict.
      const existing = await temporal.workflow.getHandle(workflowId).describe();
      const owner = existing.typedSearchAttributes.get(SA.customerRef);
      if (owner !== input.customerRef || existing.typedSearchAttributes.get(SA.shopId) !== input.shop.id) {
        throw ApplicationFailure.nonRetryable(`order number ${input.orderNumber} is already in use`, 'OrderNumberTaken');
      }
    }
    return workflowId;
  }

  return {
    /** Human-friendly, per shop, never reused (a retried call may skip a number; gaps are harmless). */
    async allocateOrderNumber(shopId: string): Promise<string> {
      const rows = await orm.em
        .fork()
        .getConnection()
        .execute<{ order_prefix: string; number: number }[]>(
          'update shop set next_order_number = next_order_number + 1 where id = ? returning order_prefix, next_order_number - 1 as number',
          [shopId],
        );
      const row = rows[0];
      if (!row) throw ApplicationFailure.nonRetryable(`unknown shop ${shopId}`, 'UnknownShop');
      return `${row.order_prefix}-${row.number}`;
    },

    /**
     * The one way an order starts, from the chat, a booking or `POST /api/orders`: claims a number under the key of
     * what asked (this activity's own identity unless a key is given), starts `order:<number>`, and returns the number.
     * A retry claims the same number and finds its own workflow; a number already running for someone else (a
     * database restored behind a running cluster) is skipped for the next one.
     */
    async startOrder(input: OrderStart & { claimKey?: string }): Promise<string> {
      const key = input.claimKey ?? activityKey();
      for (let tries = 1; ; tries += 1) {
        const orderNumber = await claimOrderNumber(orm, input.shop.id, tries === 1 ? key : `${key}#${tries}`);
        try {
          await startOrderWorkflow({ ...input, orderNumber });
          return orderNumber;
        } catch (err) {
          if (tries >= 5 || !(err instanceof ApplicationFailure && err.type === 'OrderNumberTaken')) throw err;
        }
      }
    },

    /** Older conversation and booking runs (before `startOrder`) call this after `allocateOrderNumber`. */
    startOrderWorkflow,

    /**
     * Runs an update on an order workflow and returns its result. A validator's refusal is a business answer
     * (returned, not thrown), so the conversation can tell the customer; so is an order that has closed.
     *
     * The update id is this activity's own identity (workflow run + activity id), the same on every retry of this
     * call and different for every other call: a retry after a timeout or a worker restart gets the first outcome
     * back from Temporal instead of adding the line again.
     */
    async updateOrder(input: OrderUpdateCall): Promise<OrderUpdateOutcome> {
      const handle: WorkflowHandle = temporal.workflow.getHandle(orderWorkflowId(input.orderNumber));
      const info = Context.current().info;
      const updateId = `${info.workflowExecution?.runId ?? info.workflowExecution?.workflowId}/${info.activityId}`;
      try {
        const definition = ORDER_UPDATES[input.update] as UpdateDefinition<unknown, [unknown]>;
        return { ok: true, result: await handle.executeUpdate(definition, { args: input.args as [unknown], updateId }) };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) return { ok: false, error: err.cause?.message ?? err.message };
        if (err instanceof WorkflowNotFoundError) return { ok: false, error: `order ${input.orderNumber} is closed`, closed: true };
        throw err;
      }
    },

    /** The live order as its workflow holds it (null when the workflow is gone). */
    async queryOrder(input: { orderNumber: string }): Promise<OrderView | null> {
      try {
        return await temporal.workflow.getHandle(orderWorkflowId(input.orderNumber)).query(orderQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },

    /** The read model: orders, items and timeline written as the workflow sees them. Idempotent. */
    async saveOrder(view: OrderView): Promise<void> {
      await orm.em.fork().transactional(async (em) => {
        const shop = em.getReference(Shop, view.shopId);
        const customer = await em.findOne(Customer, { shop: view.shopId, ref: view.customerRef });
        // A retried save can overlap the first (a local activity that timed out while its transaction still ran): the
        // row lock makes the second wait and rewrite the lines after the first, never beside it.
        await em.getConnection().execute('select id from orders where number = ? for update', [view.orderNumber], 'all', em.getTransactionContext());
        let order: IOrder | null = await em.findOne(Order, { number: view.orderNumber }, { populate: ['items'] });
        const fields = {
          status: view.status,
          paymentStatus: view.paymentStatus,
          paymentMethod: view.paymentMethod,
          fulfilment: view.fulfilment,
          address: view.address,
          note: view.note,
          subtotal: view.subtotal,
          discount: view.discount ?? 0,
          discounts: view.discounts ?? [],
          tax: view.tax,
          deliveryFee: view.deliveryFee,
          total: view.total,
          paidAmount: view.paid ?? 0,
          refundedAmount: view.refunded ?? 0,
          attention: view.attention ?? null,
          currency: view.currency,
          source: view.source,
          placedAt: timelineAt(view, 'placed'),
          paidAt: timelineAt(view, 'paid'),
          completedAt: view.status === 'COMPLETED' ? new Date(view.updatedAt) : null,
        };
        if (!order) {
          order = em.create(Order, { number: view.orderNumber, shop, customer, workflowId: view.workflowId, createdAt: new Date(view.createdAt), ...fields });
        } else {
          em.assign(order, fields);
          order.items.removeAll();
        }
        view.items.forEach((line, position) => {
          order!.items.add(em.create(OrderItem, { order, lineId: line.lineId, productId: line.productId, retailerId: line.retailerId, name: line.name, quantity: line.quantity, unitPrice: line.unitPrice, options: line.options, lineTotal: line.lineTotal, position }));
        });
        await em.flush();
        for (const [index, entry] of view.timeline.entries()) {
          await em.upsert(
            OrderEvent,
            { order, key: `${view.orderNumber}:${index}`, type: entry.type, detail: entry.detail ? { text: entry.detail } : {}, at: new Date(entry.at) },
            { onConflictFields: ['key'], onConflictAction: 'ignore' },
          );
        }
      });
    },
  };
}

function timelineAt(view: OrderView, type: string): Date | null {
  const entry = view.timeline.find((t) => t.type === type);
  return entry ? new Date(entry.at) : null;
}

/** What asked, as a key: the calling workflow run and this activity's id, the same on every retry of this call. */
function activityKey(): string {
  const info = Context.current().info;
  return `${info.workflowExecution?.runId ?? info.workflowExecution?.workflowId}/${info.activityId}`;
}

/** The number claimed under `claimKey`, or the shop's next one claimed now (one statement: no race, no gap on retry). */
export async function claimOrderNumber(orm: ActivityDeps['orm'], shopId: string, claimKey: string): Promise<string> {
  const conn = orm.em.fork().getConnection();
  const rows = await conn.execute<{ order_number: string }[]>(
    `with existing as (select order_number from order_number_claim where claim_key = ?),
          next as (update shop set next_order_number = next_order_number + 1
                   where id = ? and not exists (select 1 from existing)
                   returning order_prefix || '-' || (next_order_number - 1) as order_number),
          claimed as (insert into order_number_claim (claim_key, shop_id, order_number) select ?, ?, order_number from next
                      on conflict (claim_key) do nothing returning order_number)
     select order_number from existing union all select order_number from claimed`,
    [claimKey, shopId, claimKey, shopId],
  );
  const row = rows[0];
  if (row) return row.order_number;
  // Two claims with one key at the same instant: the loser reads the winner's number.
  const again = await conn.execute<{ order_number: string }[]>('select order_number from order_number_claim where claim_key = ?', [claimKey]);
  if (again[0]) return again[0].order_number;
  throw ApplicationFailure.nonRetryable(`unknown shop ${shopId}`, 'UnknownShop');
}

/** How every order workflow starts (id, input, summary, search attributes), whoever starts it. */
export function orderStartOptions(config: ActivityDeps['config'], input: OrderStart & { orderNumber: string }) {
  return {
    taskQueue: config.temporal.taskQueue,
    workflowId: orderWorkflowId(input.orderNumber),
    args: [{ ...input, timing: input.timing ?? orderTiming(config) } satisfies OrderInput] as [OrderInput],
    staticSummary: `Order ${input.orderNumber} · ${input.shop.name} · ${input.shop.currency}`,
    staticDetails: `Shop ${input.shop.id}, ${input.shop.currency}, customer ${input.customerRef}`,
    typedSearchAttributes: [
      { key: SA.shopId, value: input.shop.id },
      { key: SA.orderNumber, value: input.orderNumber },
      { key: SA.orderStatus, value: 'CART' },
      { key: SA.customerRef, value: input.customerRef },
      { key: SA.paymentStatus, value: 'NONE' },
      { key: SA.orderTotal, value: 0 },
    ],
  };
}
