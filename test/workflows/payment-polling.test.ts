import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { CartLine } from '../../domain/catalog.ts';
import { placeStubOrder, quietOrderActivities, startStubWorker, stubShop, type StubWorker } from '../helpers/order-stubs.ts';
import { orderQuery, paymentEventSignal, type OrderInput, type OrderView, type PaymentSignal } from '../../workflows/definitions.ts';

/**
 * Polling while a payment waits (patches `poll-by-method`, `poll-local`), with stubbed activities on the time-skipping
 * server: the waits each method's schedule gives, the poll as a local activity (one workflow task per look), a provider
 * outage while polling, and a callback between two looks.
 */

const SHOP = stubShop({ id: 'nairobi', name: 'Nairobi Coffee', currency: 'KES', country: 'KE', paymentMethods: ['mpesa', 'razorpay_link', 'cash'] });

const COFFEE: CartLine = { lineId: 'L1', productId: 'coffee', retailerId: 'NBO-COFFEE', name: 'Premium Coffee', quantity: 1, unitPrice: 150_000, options: [], lineTotal: 150_000 };

interface Stubs {
  sent: string[];
  /** One entry per call of checkPayment, with the server's (skipped) clock. */
  checks: { reference: string; at: number }[];
  /** What the provider answers a status check; throwing is an outage. */
  status: (reference: string) => PaymentSignal;
}

jest.setTimeout(180_000);

describe('payment polling (stubbed activities, time-skipping server)', () => {
  let stub: StubWorker;
  let env: TestWorkflowEnvironment;
  let s: Stubs;
  const taskQueue = 'payment-polling';
  let seq = 0;
  const pending = (reference: string): PaymentSignal => ({ reference, status: 'pending', source: 'poll' });

  beforeAll(async () => {
    stub = await startStubWorker('payment_polling', taskQueue, (server) => ({
      ...quietOrderActivities(COFFEE, () => s.sent),
      async initiatePayment(input: { method: string; reference: string }) {
        return input.method === 'razorpay_link' ? { type: 'open_url' as const, url: `https://rzp.example/${input.reference}` } : { type: 'approve_on_phone' as const };
      },
      async checkPayment(input: { reference: string }): Promise<PaymentSignal | null> {
        s.checks.push({ reference: input.reference, at: await server.currentTimeMs() });
        return s.status(input.reference);
      },
      async refundPayment(): Promise<boolean> {
        return false;
      },
    }));
    env = stub.env;
  });

  afterAll(async () => {
    await stub?.stop();
  });

  beforeEach(() => {
    s = { sent: [], checks: [], status: pending };
  });

  async function orderAwaitingPayment(method: 'mpesa' | 'razorpay_link', timing: Partial<OrderInput['timing']> = {}): Promise<{ handle: WorkflowHandle; reference: string }> {
    seq += 1;
    const handle = await placeStubOrder(stub, taskQueue, {
      orderNumber: `NBO-P${seq}`,
      customerRef: `ref-${seq}`,
      shop: SHOP,
      productId: 'coffee',
      method,
      timing: { cartReminderAfter: '1h', cartExpiresAfter: '24h', paymentTimeout: '30m', paymentLinkTimeout: '30m', pollInterval: '10s', refundWindow: '30d', autoCloseAfter: '14d', ...timing },
    });
    const o = await until(handle, (v) => v.payments.length === 1 && s.sent.length > 0, 'the prompt sent');
    return { handle, reference: o.payments[0]!.reference };
  }

  async function until(handle: WorkflowHandle, done: (o: OrderView) => boolean, what: string): Promise<OrderView> {
    let o = await handle.query(orderQuery);
    for (const deadline = Date.now() + 60_000; !done(o) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      o = await handle.query(orderQuery);
    }
    if (!done(o)) throw new Error(`never: ${what} (${o.status}, ${o.paymentStatus}, ${o.timeline.map((e) => e.type).join(' ')})`);
    return o;
  }

  /** The receipts sent, once one has been. */
  async function receipts(): Promise<string[]> {
    const sent = () => s.sent.filter((t) => /Receipt/.test(t));
    for (const deadline = Date.now() + 30_000; sent().length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    return sent();
  }

  /** Status checks of one attempt (orders of earlier tests still poll beside it). */
  const checksOf = (reference: string) => s.checks.filter((c) => c.reference === reference);

  /** Moves the server's clock by `ms`, then waits for the worker to have made `checks` status checks of `reference` in all. */
  async function advance(ms: number, reference: string, checks: number): Promise<void> {
    await env.sleep(ms);
    for (const deadline = Date.now() + 60_000; checksOf(reference).length < checks && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(checksOf(reference).length).toBeGreaterThanOrEqual(checks);
  }

  /** Waits in seconds, each within half a second of what is expected (the server's clock moves on while a look runs). */
  const near = (actual: number[], expected: number[]) => {
    expect(actual).toHaveLength(expected.length);
    actual.forEach((a, i) => expect(Math.abs(a - expected[i]!)).toBeLessThan(0.5));
  };

  const seconds = (d: temporal.api.history.v1.ITimerStartedEventAttributes['startToFireTimeout']) => Number(d?.seconds ?? 0) + (d?.nanos ?? 0) / 1e9;

  /** The waits of the payment step's timers, and how many workflow tasks each look took (timer fired → next timer started). */
  async function polling(handle: WorkflowHandle): Promise<{ waits: number[]; tasksPerLook: number[]; checkActivities: number; localActivities: number }> {
    const events = (await handle.fetchHistory()).events ?? [];
    const initiated = events.findIndex((e) => e.activityTaskCompletedEventAttributes);
    const after = events.slice(initiated);
    const waits = after.filter((e) => e.timerStartedEventAttributes).map((e) => seconds(e.timerStartedEventAttributes!.startToFireTimeout));
    const tasksPerLook: number[] = [];
    let tasks: number | null = null;
    for (const e of after) {
      if (e.timerFiredEventAttributes) tasks = 0;
      else if (e.workflowTaskCompletedEventAttributes && tasks !== null) tasks += 1;
      else if (e.timerStartedEventAttributes && tasks !== null) {
        tasksPerLook.push(tasks);
        tasks = null;
      }
    }
    return {
      waits,
      tasksPerLook,
      checkActivities: events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkPayment').length,
      localActivities: after.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length,
    };
  }

  it('M-Pesa: looks at 10, 25 and 47.5 s, then once at 75 s when the prompt has expired; Daraja\'s final answer ends the attempt', async () => {
    const { handle, reference } = await orderAwaitingPayment('mpesa');
    const t0 = await env.currentTimeMs();
    await advance(10_000, reference, 1);
    await advance(15_000, reference, 2);
    await advance(22_500, reference, 3);
    // After the prompt's expiry Daraja's STK query answers 1037.
    s.status = (ref) => ({ reference: ref, status: 'failed', failureReason: 'timeout', source: 'poll' });
    await advance(27_500, reference, 4);
    const o = await until(handle, (v) => v.status === 'CHECKOUT', 'the attempt ended');
    expect(o.payments[0]).toMatchObject({ status: 'failed', failureReason: 'timeout' });
    near(checksOf(reference).map((c) => (c.at - t0) / 1000), [10, 25, 47.5, 75]);
    const p = await polling(handle);
    near(p.waits.slice(0, 4), [10, 15, 22.5, 27.5]);
    // Each look is a local activity in the task its timer wakes: one workflow task, no activity task.
    expect(p.checkActivities).toBe(0);
    expect(p.localActivities).toBeGreaterThanOrEqual(4);
    expect(p.tasksPerLook.slice(0, 3)).toEqual([1, 1, 1]);
  });

  it('M-Pesa whose prompt Daraja still shows open after its expiry: the looks after it wait five minutes', async () => {
    const { handle, reference } = await orderAwaitingPayment('mpesa');
    await advance(75_000, reference, 4);
    await advance(300_000, reference, 5);
    await advance(300_000, reference, 6);
    const p = await polling(handle);
    near(p.waits.slice(0, 6), [10, 15, 22.5, 27.5, 300, 300]);
    expect((await handle.query(orderQuery)).status).toBe('AWAITING_PAYMENT');
  });

  it('a payment link: the waits grow ×1.5 to a five-minute ceiling over its 30 minutes, 12 looks instead of 32', async () => {
    const { handle, reference } = await orderAwaitingPayment('razorpay_link');
    await advance(30 * 60_000, reference, 12);
    const o = await until(handle, (v) => v.status === 'CHECKOUT', 'the link expired');
    expect(o.payments[0]!.status).toBe('expired');
    const p = await polling(handle);
    near(p.waits.slice(0, 12), [10, 15, 22.5, 33.75, 50.63, 75.94, 113.91, 170.86, 256.29, 300, 300, 300]);
    // Twelve looks in the window, and the last look at the deadline.
    expect(checksOf(reference)).toHaveLength(13);
  });

  it('a provider outage while polling: each look retries in the worker and gives up, the order waits, and the look after the outage pays it', async () => {
    let down = true;
    s.status = (ref) => {
      if (down) throw new Error('connect ECONNREFUSED (Daraja down)');
      return { reference: ref, status: 'succeeded', source: 'poll' };
    };
    const { handle, reference } = await orderAwaitingPayment('mpesa');
    // First look: three tries (1 s and 2 s apart), none a verdict.
    await advance(10_000, reference, 3);
    await advance(15_000, reference, 6);
    expect((await handle.query(orderQuery)).status).toBe('AWAITING_PAYMENT');
    down = false;
    await advance(22_500, reference, 7);
    const o = await until(handle, (v) => v.status === 'PAID', 'paid by the look after the outage');
    expect(o).toMatchObject({ paymentStatus: 'SUCCEEDED', paid: 150_000 });
    expect(checksOf(reference)).toHaveLength(7);
    // Every try of every look was local: the retries ran in the worker, not as activity tasks.
    expect((await polling(handle)).checkActivities).toBe(0);
    expect(await receipts()).toHaveLength(1);
  });

  it('a callback between two looks pays the order once (confirmed by the provider) and the looks stop', async () => {
    const { handle, reference } = await orderAwaitingPayment('mpesa');
    await advance(10_000, reference, 1);
    s.status = (ref) => ({ reference: ref, status: 'succeeded', source: 'poll' });
    await handle.signal(paymentEventSignal, { reference, status: 'succeeded', amount: 150_000, currency: 'KES', transactionReference: 'TX1', source: 'callback' });
    const o = await until(handle, (v) => v.status === 'PAID', 'paid by the callback');
    expect(o).toMatchObject({ paid: 150_000 });
    // The look at 10 s and the confirming check of the callback: the attempt is over, so no look follows.
    expect(checksOf(reference)).toHaveLength(2);
    // The look was local; only the callback's confirmation is an activity task.
    expect((await polling(handle)).checkActivities).toBe(1);
    expect(await receipts()).toHaveLength(1);
  });
});
