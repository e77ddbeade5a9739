import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Info } from '@temporalio/activity';
import { createActivities } from '../../activities/index.ts';
import { startDuka, type Duka } from '../helpers/duka.ts';
import { orderQuery, type OrderUpdateCall, type OrderUpdateOutcome } from '../../workflows/definitions.ts';
import type { OrderStart } from '../../activities/orders.ts';

/**
 * A cart change made through the `updateOrder` activity is applied once however often that activity runs again (a
 * timeout, a worker restart): the reproduction of "one add in the chat, quantity 3". A retried `startOrder` finds the
 * order it started. Real Temporal, real PostgreSQL and the real order workflow; the activity runs in a mock activity
 * context whose identity (workflow run, activity id) is what a retry of the same scheduled activity would have.
 */
describe('order changes through activities, exactly once', () => {
  let duka: Duka;
  let acts: ReturnType<typeof createActivities>;
  let start: OrderStart;

  beforeAll(async () => {
    duka = await startDuka({ label: 'update_once' });
    acts = createActivities({ orm: duka.orm, temporal: duka.client, config: duka.config, whatsapp: null as never, payments: null as never });
    await acts.registerCustomer({ shopId: 'nairobi', waId: '254700000301', customerRef: duka.customerRef('254700000301'), at: Date.now() });
    start = { shop: await acts.getShop('nairobi'), customerRef: duka.customerRef('254700000301'), language: 'en', source: 'whatsapp' };
  });
  afterAll(async () => {
    await duka?.stop();
  });

  /** One scheduled activity of a conversation run: every `run` is a retry of that same activity. */
  const scheduled = (activityId: string) => new MockActivityEnvironment({ activityId, workflowExecution: { workflowId: 'conversation:nairobi:test', runId: 'run-update-once' } } as Partial<Info>);
  const update = (env: MockActivityEnvironment, call: OrderUpdateCall) => env.run(acts.updateOrder, call) as Promise<OrderUpdateOutcome>;
  const startOrder = (env: MockActivityEnvironment) => env.run(acts.startOrder, start) as Promise<string>;

  it('a retried add applies once, a second add applies again, and a retried start finds its own order', async () => {
    const starting = scheduled('1');
    const orderNumber = await startOrder(starting);
    expect(await startOrder(starting)).toBe(orderNumber);

    const add = { orderNumber, update: 'addLine', args: [{ productId: 'nairobi-coffee', optionIds: [], quantity: 2 }] } as const satisfies OrderUpdateCall;
    const first = scheduled('2');
    expect((await update(first, add)).ok).toBe(true);
    expect((await update(first, add)).ok).toBe(true);
    const handle = duka.client.workflow.getHandle(`order:${orderNumber}`);
    expect((await handle.query(orderQuery)).items.map((l) => l.quantity)).toEqual([2]);

    await update(scheduled('3'), add);
    const order = await handle.query(orderQuery);
    expect(order.items.map((l) => l.quantity)).toEqual([4]);
    expect(order.timeline.filter((e) => e.type === 'item_added')).toHaveLength(2);
  });

  it('an update on an order that has closed is a refusal the caller can act on, not an endless retry', async () => {
    const orderNumber = await startOrder(scheduled('10'));
    await update(scheduled('11'), { orderNumber, update: 'addLine', args: [{ productId: 'nairobi-honey', optionIds: [], quantity: 1 }] });
    expect((await update(scheduled('12'), { orderNumber, update: 'customerCancel', args: [] })).ok).toBe(true);
    await duka.client.workflow.getHandle(`order:${orderNumber}`).result();
    const late = await update(scheduled('13'), { orderNumber, update: 'addLine', args: [{ productId: 'nairobi-honey', optionIds: [], quantity: 1 }] });
    expect(late).toEqual({ ok: false, error: `order ${orderNumber} is closed`, closed: true });
  });
});
