import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import type { CartLine } from '../../domain/catalog.ts';
import { placeStubOrder, quietOrderActivities, startStubWorker, stubShop, type StubWorker } from '../helpers/order-stubs.ts';
import {
  advanceStatusUpdate,
  cancelOrderUpdate,
  markRefundedUpdate,
  orderQuery,
  paymentEventSignal,
  placeOrderUpdate,
  refundOrderUpdate,
  type OrderInput,
  type OrderView,
  type PaymentSignal,
} from '../../workflows/definitions.ts';

/**
 * The order workflow's money paths with stubbed activities (after the samples' workflows-mocks test), on the
 * time-skipping server: double payments, refunds after the sale, provider errors, forged failure callbacks, racing
 * operators, and the order's end. Each stub records what it was asked, so a test sees exactly what would have moved
 * money or reached the customer.
 */


const SHOP = stubShop({ id: 'pune', name: 'Pune Chai', currency: 'INR', country: 'IN', paymentMethods: ['razorpay_link', 'mpesa', 'cash'] });

const CHAI: CartLine = { lineId: 'L1', productId: 'chai', retailerId: 'PNQ-CHAI', name: 'Masala Chai', quantity: 1, unitPrice: 4000, options: [], lineTotal: 4000 };

/** What the stubs were asked, and how they answer (set per test). */
interface Stubs {
  sent: string[];
  initiated: { reference: string; method: string }[];
  refunds: { reference: string; amount?: number }[];
  checks: string[];
  canRefund: boolean;
  /** Provider status per payment reference (absent: pending). */
  status: Map<string, PaymentSignal>;
  checkFails: boolean;
  initiateFails: boolean;
  /** Refund calls that reached the provider stub, and a gate holding them (to keep a refund in flight). */
  refundCalls: number;
  refundGate: Promise<void> | null;
}

jest.setTimeout(120_000);

describe('order money (stubbed activities, time-skipping server)', () => {
  let stub: StubWorker;
  let env: TestWorkflowEnvironment;
  let s: Stubs;
  const taskQueue = 'order-money';
  let seq = 0;

  beforeAll(async () => {
    stub = await startStubWorker('money', taskQueue, () => ({
      ...quietOrderActivities(CHAI, () => s.sent),
      async initiatePayment(input: { reference: string; method: string }) {
        if (s.initiateFails) throw ApplicationFailure.create({ message: 'invalid credentials', type: 'ProviderError', nonRetryable: true });
        s.initiated.push({ reference: input.reference, method: input.method });
        return input.method === 'razorpay_link' ? { type: 'open_url' as const, url: `https://rzp.example/${input.reference}` } : { type: 'approve_on_phone' as const };
      },
      async awaitPaymentResult(): Promise<null> {
        return null;
      },
      async checkPayment(input: { reference: string }): Promise<PaymentSignal | null> {
        s.checks.push(input.reference);
        if (s.checkFails) throw ApplicationFailure.create({ message: 'unknown merchant', type: 'ProviderError', nonRetryable: true });
        return s.status.get(input.reference) ?? { reference: input.reference, status: 'pending', source: 'poll' };
      },
      async refundPayment(input: { reference: string; amount?: number }): Promise<boolean> {
        s.refundCalls += 1;
        await s.refundGate;
        if (!s.canRefund) return false;
        s.refunds.push({ reference: input.reference, ...(input.amount !== undefined && { amount: input.amount }) });
        return true;
      },
    }));
    env = stub.env;
  });

  afterAll(async () => {
    await stub?.stop();
  });

  beforeEach(() => {
    s = { sent: [], initiated: [], refunds: [], checks: [], canRefund: true, status: new Map(), checkFails: false, initiateFails: false, refundCalls: 0, refundGate: null };
  });

  async function orderAwaitingPayment(method: 'razorpay_link' | 'mpesa', timing: Partial<OrderInput['timing']> = {}): Promise<WorkflowHandle> {
    seq += 1;
    return placeStubOrder(stub, taskQueue, {
      orderNumber: `PNQ-M${seq}`,
      customerRef: `ref-${seq}`,
      shop: SHOP,
      productId: 'chai',
      method,
      // No status poll within an attempt's window: outcomes here come from callbacks and the last look at the timeout
      // (polling between timers is proven end to end against the providers' simulators in test/payments-e2e).
      timing: { cartReminderAfter: '1h', cartExpiresAfter: '24h', paymentTimeout: '3m', paymentLinkTimeout: '30m', pollInterval: '1h', refundWindow: '30d', autoCloseAfter: '14d', ...timing },
    });
  }

  /** Waits until the order's view satisfies `done`. */
  async function until(handle: WorkflowHandle, done: (o: OrderView) => boolean, what: string): Promise<OrderView> {
    // Moves the clock a second at a time (up to 40 s, as the payment step's timers and retries need), and past that
    // waits in real time: on a busy machine the worker's progress takes real seconds.
    let o = await handle.query(orderQuery);
    for (let i = 0, deadline = Date.now() + 30_000; !done(o) && (i < 40 || Date.now() < deadline); i += 1) {
      if (i < 40) await env.sleep('1s');
      else await new Promise((r) => setTimeout(r, 100));
      o = await handle.query(orderQuery);
    }
    if (!done(o)) throw new Error(`never: ${what} (${o.status}, ${o.paymentStatus}, ${o.timeline.map((e) => e.type).join(' ')})`);
    return o;
  }

  const succeeded = (reference: string, amount = 4000): PaymentSignal => ({ reference, status: 'succeeded', amount, currency: 'INR', transactionReference: `pay_${reference.slice(0, 6)}`, source: 'callback' });

  /** Pays the current attempt by callback (the provider confirms it) and waits for PAID. */
  async function pay(handle: WorkflowHandle, attempt: number): Promise<string> {
    const o = await until(handle, (v) => v.payments.length >= attempt, `attempt ${attempt}`);
    const reference = o.payments[attempt - 1]!.reference;
    s.status.set(reference, { ...succeeded(reference), source: 'poll' });
    await handle.signal(paymentEventSignal, succeeded(reference));
    return reference;
  }

  it('a second success on a paid order is recorded, flagged DOUBLE_PAYMENT, refunded where the provider can, and told', async () => {
    const handle = await orderAwaitingPayment('razorpay_link', { paymentLinkTimeout: '1m' });
    // The first link expires unpaid; the customer retries and pays the second; then the first is paid after all.
    const first = (await until(handle, (o) => o.payments.length === 1, 'first attempt')).payments[0]!.reference;
    await env.sleep('1m');
    await until(handle, (o) => o.status === 'CHECKOUT' && o.payments[0]!.status === 'expired', 'first attempt expired');
    await handle.executeUpdate(placeOrderUpdate, { args: [{ method: 'razorpay_link' }] });
    await pay(handle, 2);
    await until(handle, (o) => o.status === 'PAID', 'paid by the second link');
    s.status.set(first, { ...succeeded(first), source: 'poll' });
    await handle.signal(paymentEventSignal, succeeded(first));

    const o = await until(handle, (v) => v.attention === 'DOUBLE_PAYMENT' && v.payments[0]!.status === 'refunded', 'double payment refunded');
    expect(o).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED', paid: 4000, refunded: 4000 });
    expect(o.payments.map((p) => [p.status, p.duplicate ?? false])).toEqual([['refunded', true], ['succeeded', false]]);
    expect(s.refunds).toEqual([{ reference: first, amount: 4000 }]);
    expect(s.sent.filter((t) => /already paid/.test(t))).toHaveLength(1);
    expect(s.sent.filter((t) => /Receipt/.test(t))).toHaveLength(1);
  });

  it('a double payment the provider cannot refund stays flagged as owed until an operator marks it refunded by hand', async () => {
    const handle = await orderAwaitingPayment('mpesa', { paymentTimeout: '1m' });
    s.canRefund = false;
    const first = (await until(handle, (o) => o.payments.length === 1, 'first attempt')).payments[0]!.reference;
    await env.sleep('1m');
    await until(handle, (o) => o.status === 'CHECKOUT', 'first prompt expired');
    await handle.executeUpdate(placeOrderUpdate, { args: [{ method: 'mpesa' }] });
    await pay(handle, 2);
    await until(handle, (o) => o.status === 'PAID', 'paid');
    s.status.set(first, { ...succeeded(first), source: 'poll' });
    await handle.signal(paymentEventSignal, succeeded(first));
    const flagged = await until(handle, (v) => v.attention === 'DOUBLE_PAYMENT', 'flagged');
    expect(flagged).toMatchObject({ paid: 8000, refunded: 0 });
    expect(s.sent.some((t) => /second payment .* will refund/.test(t))).toBe(true);

    const after = await handle.executeUpdate(markRefundedUpdate, { args: [{ note: 'M-Pesa reversal R123' }] });
    expect(after).toMatchObject({ attention: null, paid: 4000, refunded: 4000, status: 'PAID' });
    expect(after.timeline.at(-1)).toMatchObject({ type: 'refunded_by_hand' });
  });

  it('refunds after COMPLETED, in part and then the rest, within REFUND_WINDOW; the workflow ends when the window closes', async () => {
    const handle = await orderAwaitingPayment('razorpay_link');
    const reference = await pay(handle, 1);
    await until(handle, (o) => o.status === 'PAID', 'paid');
    await handle.executeUpdate(advanceStatusUpdate, { args: [{ status: 'COMPLETED' }] });
    await env.sleep('10d');
    const part = await handle.executeUpdate(refundOrderUpdate, { args: [{ reason: 'one cup spilt', amount: 1500 }] });
    expect(part).toMatchObject({ status: 'COMPLETED', paid: 2500, refunded: 1500 });
    await expect(handle.executeUpdate(refundOrderUpdate, { args: [{ amount: 3000 }] })).rejects.toThrow(WorkflowUpdateFailedError);
    const rest = await handle.executeUpdate(refundOrderUpdate, { args: [{ reason: 'the rest' }] });
    expect(rest).toMatchObject({ status: 'REFUNDED', paymentStatus: 'REFUNDED', paid: 0, refunded: 4000 });
    expect(s.refunds).toEqual([{ reference, amount: 1500 }, { reference, amount: 2500 }]);
    const ended = (await handle.result()) as OrderView;
    expect(ended.status).toBe('REFUNDED');
  });

  it('cancelling a paid order whose provider cannot refund sets REFUND_OWED; two cancels at once refund once', async () => {
    const owed = await orderAwaitingPayment('mpesa');
    s.canRefund = false;
    await pay(owed, 1);
    await until(owed, (o) => o.status === 'PAID', 'paid');
    const cancelled = await owed.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'out of chai' }] });
    expect(cancelled).toMatchObject({ status: 'CANCELLED', attention: 'REFUND_OWED', paid: 4000 });

    s.canRefund = true;
    s.refundCalls = 0;
    const twice = await orderAwaitingPayment('razorpay_link');
    await pay(twice, 1);
    await until(twice, (o) => o.status === 'PAID', 'paid');
    // The first cancel's refund is held in flight at the provider while a second cancel is accepted beside it.
    let open!: () => void;
    s.refundGate = new Promise((resolve) => (open = resolve));
    const first = await twice.startUpdate(cancelOrderUpdate, { args: [{}], waitForStage: WorkflowUpdateStage.ACCEPTED });
    while (s.refundCalls === 0) await new Promise((r) => setTimeout(r, 20));
    const second = await twice.startUpdate(cancelOrderUpdate, { args: [{}], waitForStage: WorkflowUpdateStage.ACCEPTED });
    open();
    await Promise.all([first.result(), second.result()]);
    const o = await twice.query(orderQuery);
    expect(o).toMatchObject({ status: 'REFUNDED', paid: 0, refunded: 4000 });
    expect(s.refundCalls).toBe(1);
    expect(s.refunds).toHaveLength(1);
  });

  it('a forged or early failure callback does not end an attempt the provider still shows open', async () => {
    const handle = await orderAwaitingPayment('mpesa');
    const reference = (await until(handle, (o) => o.payments.length === 1, 'attempt')).payments[0]!.reference;
    await handle.signal(paymentEventSignal, { reference, status: 'failed', failureReason: 'cancelled_by_customer', source: 'callback' });
    const o = await until(handle, (v) => v.timeline.some((e) => e.type === 'payment_unconfirmed'), 'unconfirmed');
    expect(o).toMatchObject({ status: 'AWAITING_PAYMENT', paymentStatus: 'PENDING' });
    expect(s.checks).toContain(reference);
    await pay(handle, 1);
    expect(await until(handle, (v) => v.status === 'PAID', 'paid')).toMatchObject({ paymentStatus: 'SUCCEEDED', paid: 4000 });
  });

  it('provider errors end the attempt with a plain message and PROVIDER_ERROR, never the order', async () => {
    s.initiateFails = true;
    const refused = await orderAwaitingPayment('mpesa');
    const o = await until(refused, (v) => v.status === 'CHECKOUT', 'attempt ended');
    expect(o).toMatchObject({ attention: 'PROVIDER_ERROR', paymentStatus: 'FAILED' });
    expect(o.payments[0]).toMatchObject({ status: 'failed', failureReason: 'provider_error' });
    expect(s.sent.at(-1)).toMatch(/payment service is having trouble/);
    expect((await refused.describe()).status.name).toBe('RUNNING');

    s.initiateFails = false;
    s.checkFails = true;
    const checkless = await orderAwaitingPayment('mpesa', { paymentTimeout: '1m' });
    const reference = (await until(checkless, (v) => v.payments.length === 1, 'attempt')).payments[0]!.reference;
    await checkless.signal(paymentEventSignal, succeeded(reference));
    const flagged = await until(checkless, (v) => v.attention === 'PROVIDER_ERROR', 'flagged');
    expect(flagged.status).toBe('AWAITING_PAYMENT');
    await env.sleep('1m');
    expect((await until(checkless, (v) => v.status === 'CHECKOUT', 'timed out')).payments[0]!.status).toBe('expired');
    expect((await checkless.describe()).status.name).toBe('RUNNING');
  });

  it('an order nobody completes closes itself after ORDER_AUTO_CLOSE, and its workflow ends when the refund window has passed', async () => {
    const handle = await orderAwaitingPayment('razorpay_link', { autoCloseAfter: '3d', refundWindow: '1d' });
    await pay(handle, 1);
    await until(handle, (o) => o.status === 'PAID', 'paid');
    await env.sleep('4d');
    expect(await handle.query(orderQuery)).toMatchObject({ status: 'COMPLETED' });
    expect(s.sent.some((t) => /completed/i.test(t))).toBe(true);
    expect(((await handle.result()) as OrderView).status).toBe('COMPLETED');
  });
});
