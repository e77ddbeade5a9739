import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NAIROBI } from '../helpers/duka.ts';
import {
  Customer,
  admin,
  eventually,
  orderOf,
  orderRow,
  paymentEvents,
  paymentRows,
  pendingActivities,
  receiptsTo,
  sentTo,
  startWorld,
  toPaymentChoice,
  waitForPush,
  type World,
} from './support.ts';

/**
 * M-Pesa (Daraja) in Nairobi, end to end: a customer on WhatsApp, duka's API and worker on real Temporal and
 * PostgreSQL, and the Daraja simulator speaking OAuth, STK push, STK query and the callback over HTTP.
 */
describe('M-Pesa payments, Nairobi', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_mpesa');
  });
  afterAll(async () => {
    await w?.stop();
  });

  const COFFEE = [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }];

  /** A customer at the payment choice who taps M-Pesa and sees the prompt to approve on the phone. */
  async function stkPushed(waId: string) {
    const c = new Customer(w.duka, NAIROBI, waId);
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    expect(methods.ids).toEqual(['pay:mpesa', 'pay:cash']);
    const [prompt] = await c.tap('pay:mpesa');
    expect(prompt!.text).toMatch(/approve the M-Pesa payment of KES 1,500/);
    const push = await waitForPush(w.providers, waId);
    expect(push.amount).toBe(1500);
    return { c, orderNumber, push };
  }

  it('is paid by the callback: receipt with order number, items, total and M-Pesa receipt; PAID in the workflow and the rows', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000001');
    expect(push.callbackUrl).toMatch(new RegExp(`^${w.providers.url}/webhooks/mpesa/[A-Za-z0-9_-]{20,}$`));
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE1CALLBK' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('1 × Premium Coffee — KES 1,500');
    expect(receipt!.text).toContain('Total: KES 1,500');
    expect(receipt!.text).toContain('TKE1CALLBK');

    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.paymentStatus).toBe('SUCCEEDED');
    expect(order.payments).toEqual([expect.objectContaining({ status: 'succeeded', transactionReference: 'TKE1CALLBK', method: 'mpesa' })]);
    // The callback paid it, not the poll (the poll's first look comes later than this callback).
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(callback)');
    const row = await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'PAID', 'order row PAID');
    expect(row.payment_status).toBe('SUCCEEDED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'succeeded', provider: 'mpesa', amount: 150000, currency: 'KES', provider_reference: push.checkoutRequestId, transaction_reference: 'TKE1CALLBK' });
    const events = await paymentEvents(w.duka, { paymentId: payment!.id });
    expect(events.map((e) => e.outcome)).toEqual(['accepted']);
    expect(events[0]!.raw).not.toContain('254711000001');
  });

  it('is paid by polling alone when the callback is lost', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000002');
    // Waiting for the customer holds no activity slot: the step sleeps on a durable timer between status checks.
    expect((await pendingActivities(w.duka, orderNumber)).map((a) => a.type)).not.toContain('awaitPaymentResult');
    w.providers.mpesa.setBehaviour({ dropCallbacks: true });
    try {
      await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0 });
      const [receipt] = await c.next(1, 15_000);
      expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    } finally {
      w.providers.mpesa.setBehaviour({ dropCallbacks: false });
    }
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(provider)');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment!.status).toBe('succeeded');
    expect(await paymentEvents(w.duka, { paymentId: payment!.id })).toEqual([]);
  });

  it('names each failure in plain words with [Try again] [Other method] [Cancel]; each retry is a new attempt, and the last one pays', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000003');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    await c.tap('pay:mpesa');
    const failures: [number, RegExp][] = [
      [1, /not enough money/],
      [1032, /You cancelled the payment/],
      [2001, /PIN was wrong/],
      [1037, /didn't get a confirmation in time/],
      [4, /over your account limit/],
    ];
    const seen: string[] = [];
    for (const [code, words] of failures) {
      const push = await waitForPush(w.providers, c.waId, seen);
      seen.push(push.checkoutRequestId);
      await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: code });
      const [failed] = await c.next();
      expect(failed!.text).toMatch(words);
      expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
      const [prompt] = await c.tap('pay:retry');
      expect(prompt!.text).toMatch(/approve the M-Pesa payment/);
    }
    const last = await waitForPush(w.providers, c.waId, seen);
    await w.providers.mpesa.complete(last.checkoutRequestId, { resultCode: 0, receipt: 'TKE3RETRYOK' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain('TKE3RETRYOK');

    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => [r.status, r.failure_reason])).toEqual([
      ['failed', 'insufficient_funds'],
      ['cancelled', 'cancelled_by_customer'],
      ['failed', 'wrong_pin'],
      ['failed', 'timeout'],
      ['failed', 'limit_exceeded'],
      ['succeeded', null],
    ]);
    expect(new Set(rows.map((r) => r.reference)).size).toBe(6);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(6);
    expect(new Set(rows.map((r) => r.provider_reference)).size).toBe(6);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('times out, tells the customer, and still marks the order paid when the success arrives late', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000004');
    const [timedOut] = await c.next(1, 20_000);
    expect(timedOut!.text).toMatch(/didn't get a confirmation in time/);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('CHECKOUT');

    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE4LATEOK' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('TKE4LATEOK');
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.find((e) => e.type === 'paid')).toBeDefined();
    expect(order.timeline.find((e) => e.type === 'paid_late' || e.detail === 'late confirmation')).toBeDefined();
  });

  it('acts once on a duplicated callback, and ignores a stale failure callback that arrives after the success', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000005');
    w.providers.mpesa.setBehaviour({ duplicateCallbacks: true });
    try {
      await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 1032 });
    } finally {
      w.providers.mpesa.setBehaviour({ duplicateCallbacks: false });
    }
    const [failed] = await c.next();
    expect(failed!.text).toMatch(/You cancelled the payment/);
    const [first] = await paymentRows(w.duka, orderNumber);
    expect((await paymentEvents(w.duka, { paymentId: first!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);

    // The retry's success is delivered; a copy of the first attempt's failure, held up on the way, comes after it.
    await c.tap('pay:retry');
    const second = await waitForPush(w.providers, c.waId, [push.checkoutRequestId]);
    await w.providers.mpesa.complete(second.checkoutRequestId, { resultCode: 0, receipt: 'TKE5ORDEROK' });
    await c.next();
    const stale = { Body: { stkCallback: { MerchantRequestID: push.merchantRequestId, CheckoutRequestID: push.checkoutRequestId, ResultCode: 2001, ResultDesc: 'The initiator information is invalid.' } } };
    const res = await fetch(push.callbackUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(stale) });
    expect(res.status).toBe(200);
    await eventually(() => paymentEvents(w.duka, { paymentId: first!.id }), (e) => e.length === 3, 'the stale callback stored');

    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.payments.map((p) => p.status)).toEqual(['cancelled', 'succeeded']);
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(1);
    expect(sentTo(w.duka, c.waId).filter((s) => /PIN was wrong/.test(s.text))).toHaveLength(0);
  });

  it('records a payment approved on the phone after the customer cancelled the order: never lost, the customer told', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000013');
    const [cancelled] = await c.say('cancel');
    expect(cancelled!.text).toMatch(new RegExp(`Order ${orderNumber} has been cancelled`));
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE13AFTER' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('TKE13AFTER');
    expect(receipt!.text).toMatch(/arrived after the order had closed; the shop will contact you/);
    const order = await eventually(() => orderOf(w.duka, orderNumber), (o) => o.paymentStatus === 'SUCCEEDED', 'payment recorded');
    expect(order.status).toBe('CANCELLED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'succeeded', transaction_reference: 'TKE13AFTER' });
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.payment_status === 'SUCCEEDED', 'row SUCCEEDED')).status).toBe('CANCELLED');
  });

  it('refuses forged callbacks (unknown token, token of another payment) with 403, records them, and leaves the order alone', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000006');
    const body = JSON.stringify({
      Body: {
        stkCallback: {
          MerchantRequestID: push.merchantRequestId,
          CheckoutRequestID: push.checkoutRequestId,
          ResultCode: 0,
          ResultDesc: 'The service request is processed successfully.',
          CallbackMetadata: { Item: [{ Name: 'Amount', Value: 1500 }, { Name: 'MpesaReceiptNumber', Value: 'FORGED0001' }, { Name: 'PhoneNumber', Value: 254711000006 }] },
        },
      },
    });
    const before = (await paymentEvents(w.duka, { provider: 'mpesa' })).filter((e) => e.security).length;
    const forgedToken = await fetch(`${w.duka.baseUrl}/webhooks/mpesa/not-the-token-${'x'.repeat(20)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(forgedToken.status).toBe(403);
    const noToken = await fetch(`${w.duka.baseUrl}/webhooks/mpesa`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(noToken.status).toBe(403);

    // Another customer's live payment: its own (valid) token, but this payment's CheckoutRequestID in the body.
    const other = await stkPushed('254711000016');
    const otherToken = new URL(other.push.callbackUrl).pathname;
    const crossed = await fetch(`${w.duka.baseUrl}${otherToken}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(crossed.status).toBe(403);

    const security = (await paymentEvents(w.duka, { provider: 'mpesa' })).filter((e) => e.security);
    expect(security.length - before).toBe(3);
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('AWAITING_PAYMENT');
    expect(order.paymentStatus).toBe('PENDING');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment!.status).toBe('pending');
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);

    // The real payment still goes through.
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE6REALOK' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain('TKE6REALOK');
    expect(receipt!.text).not.toContain('FORGED');
    await w.providers.mpesa.complete(other.push.checkoutRequestId, { resultCode: 1032 });
    await other.c.next();
  });

  it('never marks an order paid for the wrong amount: the payment is FLAGGED for an operator and the customer told', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000007');
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, amount: 15 });
    const [flagged] = await c.next();
    expect(flagged!.text).toMatch(/received a payment of KES 15 .* but the total is KES 1,500/);
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).not.toBe('PAID');
    expect(order.paymentStatus).toBe('FLAGGED');
    expect(order.timeline.find((e) => e.type === 'payment_flagged')?.detail).toMatch(/KES 15.*KES 1,500/);
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'flagged', failure_reason: 'amount_mismatch' });
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.payment_status === 'FLAGGED', 'row FLAGGED')).status).not.toBe('PAID');
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);
  });

  it('waits while Daraja is down (the initiation retries, visible as a pending activity) and completes once it is back', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000008');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    w.providers.mpesa.setBehaviour({ down: true });
    try {
      await c.tap('pay:mpesa', 'M-Pesa', 0);
      const stuck = await eventually(() => pendingActivities(w.duka, orderNumber), (a) => a.some((x) => x.type === 'initiatePayment' && x.attempt >= 2), 'initiatePayment retrying');
      expect(stuck.find((x) => x.type === 'initiatePayment')!.lastFailure).toMatch(/M-Pesa .*(HTTP 503|failed)/);
      expect(w.providers.mpesa.pending().filter((p) => p.phoneNumber === c.waId)).toEqual([]);
      expect((await orderOf(w.duka, orderNumber)).status).toBe('AWAITING_PAYMENT');
    } finally {
      w.providers.mpesa.setBehaviour({ down: false });
    }
    const [prompt] = await c.next(1, 30_000);
    expect(prompt!.text).toMatch(/approve the M-Pesa payment/);
    const push = await waitForPush(w.providers, c.waId);
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE8BACKUP' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain('TKE8BACKUP');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);

  it('completes after the worker was stopped between the STK push and the callback', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000009');
    await w.duka.stopWorker();
    try {
      const delivered = await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE9RESTART' });
      // Temporal keeps the signal while no worker runs: the callback is accepted.
      expect(delivered.map((d) => d.status)).toEqual([200]);
      expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);
    } finally {
      await w.duka.startWorker();
    }
    const [receipt] = await c.next(1, 20_000);
    expect(receipt!.text).toContain('TKE9RESTART');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);

  it("sends one STK push when Daraja's answer to it is lost: the retry waits, and the callback (on the attempt's token) pays", async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000013');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    const pushes: string[] = [];
    const stop = w.providers.mpesa.onPush((p) => {
      if (p.phoneNumber === c.waId) pushes.push(p.checkoutRequestId);
    });
    // Daraja takes the push (the phone rings) but its answer comes after duka stopped waiting for it.
    w.providers.mpesa.setBehaviour({ pushAnswerDelayMs: 120_000 });
    try {
      await c.tap('pay:mpesa', 'M-Pesa', 0);
      const [prompt] = await c.next(1, 30_000);
      expect(prompt!.text).toMatch(/approve the M-Pesa payment of KES 1,500/);
    } finally {
      w.providers.mpesa.setBehaviour({ pushAnswerDelayMs: 0 });
    }
    expect(pushes).toHaveLength(1);
    const [lost] = await paymentRows(w.duka, orderNumber);
    expect(lost).toMatchObject({ status: 'pending', provider_reference: null });

    await w.providers.mpesa.complete(pushes[0]!, { resultCode: 0, receipt: 'TKE13LOST' });
    const [receipt] = await c.next(1, 20_000);
    expect(receipt!.text).toContain('TKE13LOST');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
    stop();
    expect(pushes).toHaveLength(1);
    const [payment] = await paymentRows(w.duka, orderNumber);
    // The callback taught the payment its CheckoutRequestID, and the STK query confirmed it.
    expect(payment).toMatchObject({ status: 'succeeded', provider_reference: pushes[0], transaction_reference: 'TKE13LOST' });
  }, 90_000);

  it('lets an operator retry a failed payment through the admin API', async () => {
    const { c, orderNumber, push } = await stkPushed('254711000010');
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 1 });
    await c.next();
    const res = await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/retry-payment`, {});
    expect(res.status).toBe(200);
    const [prompt] = await c.next();
    expect(prompt!.text).toMatch(/approve the M-Pesa payment/);
    const second = await waitForPush(w.providers, c.waId, [push.checkoutRequestId]);
    await w.providers.mpesa.complete(second.checkoutRequestId, { resultCode: 0, receipt: 'TKE10OPS' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain('TKE10OPS');
    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => r.status)).toEqual(['failed', 'succeeded']);
    // Paid: another retry is refused.
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/retry-payment`, {})).status).toBe(409);
  });

  it('POST /api/orders (seed 001): creates the order for a phone number; the customer gets the summary and payment options and pays with M-Pesa', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000011', 'Achieng');
    const request = { shopId: 'nairobi', customer: { phone: '0711 000 011', name: 'Achieng' }, items: [{ productId: 'nairobi-honey', quantity: 2 }] };
    const res = await admin(w.duka, 'POST', '/api/orders', request, { 'idempotency-key': 'shop-pos-4711' });
    expect(res.status).toBe(201);
    const orderNumber = res.body.orderNumber as string;
    // The shop's system retries with the same key: the same order, no second one.
    const again = await admin(w.duka, 'POST', '/api/orders', request, { 'idempotency-key': 'shop-pos-4711' });
    expect(again.status).toBe(201);
    expect(again.body.orderNumber).toBe(orderNumber);
    expect(orderNumber).toMatch(/^NBO-\d+$/);
    expect(res.body).toMatchObject({ status: 'CHECKOUT', total: 160000, source: 'api' });

    const [summary, methods] = await c.next(2);
    expect(summary!.text).toContain(orderNumber);
    expect(summary!.text).toContain('2 × Organic Honey');
    expect(summary!.text).toContain('KES 1,600');
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);

    const [prompt] = await c.tap('pay:mpesa');
    expect(prompt!.text).toMatch(/approve the M-Pesa payment of KES 1,600/);
    const push = await waitForPush(w.providers, c.waId);
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKE11API' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('TKE11API');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('cash on delivery needs no provider: the order is CONFIRMED and no payment attempt is made', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711000012');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', COFFEE);
    const [confirmed] = await c.tap('pay:cash');
    expect(confirmed!.text).toContain(`Order *${orderNumber}* confirmed`);
    expect(confirmed!.text).toMatch(/to pay at pickup/);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'CONFIRMED', paymentMethod: 'cash', payments: [] });
    expect(await paymentRows(w.duka, orderNumber)).toEqual([]);
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/retry-payment`, { method: 'cash' })).status).toBe(409);
  });
});
