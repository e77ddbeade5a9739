import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HARARE } from '../helpers/duka.ts';
import { signPaynowFields } from '../../providers/payments/paynow.ts';
import {
  CREDENTIALS,
  Customer,
  eventually,
  latestAttempt,
  orderOf,
  orderRow,
  paymentEvents,
  paymentRows,
  pendingActivities,
  receiptsTo,
  sentTo,
  startWorld,
  toPaymentChoice,
  waitForPaynow,
  type World,
} from './support.ts';

/**
 * Paynow express checkout (EcoCash, OneMoney, InnBucks) in Harare, end to end: WhatsApp customer, duka on real
 * Temporal and PostgreSQL, and the Paynow simulator speaking hashed form-encoded initiate, poll URL and status updates.
 */
describe('Paynow payments (EcoCash, OneMoney, InnBucks), Harare', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_paynow');
  });
  afterAll(async () => {
    await w?.stop();
  });

  const MAIZE = [{ retailerId: 'SKU-MAIZE-10KG', quantity: 1 }];

  async function prompted(waId: string, method: 'ecocash' | 'onemoney' | 'innbucks' = 'ecocash') {
    const c = new Customer(w.duka, HARARE, waId);
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'harare', MAIZE);
    expect(methods.ids).toEqual(['pay:ecocash', 'pay:onemoney', 'pay:innbucks', 'pay:omari', 'pay:cash']);
    const [prompt] = await c.pick(`pay:${method}`);
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const txn = await waitForPaynow(w.providers, reference);
    return { c, orderNumber, prompt: prompt!, txn, reference };
  }

  it('EcoCash is paid by the status update: receipt with order number, items, total and Paynow reference; PAID in workflow and rows', async () => {
    const { c, orderNumber, prompt, txn } = await prompted('263771100001');
    expect(prompt.text).toMatch(/approve the EcoCash payment of USD 7.99/);
    expect(txn).toMatchObject({ method: 'ecocash', phone: '0771100001', amount: '7.99', status: 'Sent' });
    expect(txn.resultUrl).toBe(`${w.providers.url}/webhooks/paynow`);
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('1 × Maize Meal 10kg — USD 7.99');
    expect(receipt!.text).toContain('Total: USD 7.99');
    expect(receipt!.text).toContain(txn.paynowReference);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED' });
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(callback)');
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'PAID', 'row PAID')).payment_status).toBe('SUCCEEDED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'succeeded', provider: 'paynow', method: 'ecocash', amount: 799, currency: 'USD', transaction_reference: txn.paynowReference, provider_reference: txn.pollUrl });
    expect((await paymentEvents(w.duka, { paymentId: payment!.id })).map((e) => e.outcome)).toEqual(['accepted']);
  });

  it('OneMoney is paid the same way', async () => {
    const { c, orderNumber, prompt, txn } = await prompted('263711100002', 'onemoney');
    expect(prompt.text).toMatch(/approve the OneMoney payment of USD 7.99/);
    expect(txn).toMatchObject({ method: 'onemoney', phone: '0711100002' });
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(txn.paynowReference);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('InnBucks: the customer gets the authorisation code to pay with in the app (no unsendable deep-link button), then is paid', async () => {
    const { c, orderNumber, prompt, txn } = await prompted('263771100003', 'innbucks');
    expect(txn.authorizationCode).toMatch(/^\d{9}$/);
    expect(prompt.text).toContain(`Open InnBucks and pay USD 7.99 with this code: *${txn.authorizationCode}*`);
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('is paid by polling the poll URL alone when the status update never arrives', async () => {
    const { c, orderNumber, txn } = await prompted('263771100004');
    w.providers.paynow.setBehaviour({ dropCallbacks: true });
    try {
      await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
      const [receipt] = await c.next(1, 15_000);
      expect(receipt!.text).toContain(txn.paynowReference);
    } finally {
      w.providers.paynow.setBehaviour({ dropCallbacks: false });
    }
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(provider)');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(await paymentEvents(w.duka, { paymentId: payment!.id })).toEqual([]);
  });

  it('names Cancelled and Failed in plain words with [Try again] [Other method] [Cancel]; a retry is a new attempt that pays', async () => {
    const { c, orderNumber, txn } = await prompted('263771100005');
    await w.providers.paynow.complete(txn.pollId, { status: 'Cancelled' });
    const [cancelled] = await c.next();
    expect(cancelled!.text).toMatch(/You cancelled the payment on your phone/);
    expect(cancelled!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);

    const [again] = await c.tap('pay:retry');
    expect(again!.text).toMatch(/approve the EcoCash payment/);
    const second = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber, 2));
    await w.providers.paynow.complete(second.pollId, { status: 'Failed' });
    const [failed] = await c.next();
    expect(failed!.text).toMatch(/The payment was declined/);
    expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);

    await c.tap('pay:other');
    await c.pick('pay:onemoney');
    const third = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber, 3));
    expect(third.method).toBe('onemoney');
    await w.providers.paynow.complete(third.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(third.paynowReference);

    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => [r.method, r.status, r.failure_reason])).toEqual([
      ['ecocash', 'cancelled', 'cancelled_by_customer'],
      ['ecocash', 'failed', 'declined'],
      ['onemoney', 'succeeded', null],
    ]);
    expect(new Set(rows.map((r) => r.reference)).size).toBe(3);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(3);
    expect(new Set([txn.pollId, second.pollId, third.pollId]).size).toBe(3);
  });

  it('tells a customer without enough balance at once (Paynow refuses the initiation), and pays with another method', async () => {
    // 0774444444 is Paynow's test-mode number that fails with "Insufficient balance".
    const c = new Customer(w.duka, HARARE, '263774444444');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', MAIZE);
    const [failed] = await c.pick('pay:ecocash');
    expect(failed!.text).toMatch(/not enough money in the account/);
    expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
    const [methods] = await c.tap('pay:other');
    expect(methods!.ids).toContain('pay:omari');
    const [otpPrompt] = await c.pick('pay:omari');
    expect(otpPrompt!.text).toMatch(/OTP/);
    const reference = await latestAttempt(w.duka, orderNumber, 2);
    const otp = await eventually(async () => w.providers.omari.lastOtp(reference), Boolean, 'OTP sent');
    const [receipt] = await c.say(otp!);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => [r.provider, r.status, r.failure_reason])).toEqual([
      ['paynow', 'failed', 'insufficient_funds'],
      ['omari', 'succeeded', null],
    ]);
  });

  it('times out, tells the customer, and a Paid update that arrives afterwards still marks the order paid', async () => {
    const { c, orderNumber, txn } = await prompted('263771100006');
    const [timedOut] = await c.next(1, 20_000);
    expect(timedOut!.text).toMatch(/didn't get a confirmation in time/);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('CHECKOUT');
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(txn.paynowReference);
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.some((e) => e.type === 'paid' && e.detail === 'late confirmation')).toBe(true);
  });

  it('acts once on a resent update, and a stale update held up on the way changes nothing', async () => {
    const { c, orderNumber, txn } = await prompted('263771100007');
    w.providers.gateway.holding = true;
    try {
      await w.providers.paynow.complete(txn.pollId, { status: 'Cancelled' });
    } finally {
      w.providers.gateway.holding = false;
    }
    // The Cancelled update is stuck in transit; the poll finds the cancellation.
    const [cancelled] = await c.next(1, 15_000);
    expect(cancelled!.text).toMatch(/You cancelled the payment/);
    await c.tap('pay:retry');
    const second = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber, 2));
    w.providers.paynow.setBehaviour({ duplicateCallbacks: true });
    try {
      await w.providers.paynow.complete(second.pollId, { status: 'Paid' });
    } finally {
      w.providers.paynow.setBehaviour({ duplicateCallbacks: false });
    }
    await c.next();
    expect(await w.providers.gateway.release()).toEqual([200]);

    const rows = await paymentRows(w.duka, orderNumber);
    expect((await paymentEvents(w.duka, { paymentId: rows[1]!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);
    await eventually(() => paymentEvents(w.duka, { paymentId: rows[0]!.id }), (e) => e.length === 1, 'the stale update stored');
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.payments.map((p) => p.status)).toEqual(['cancelled', 'succeeded']);
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(1);
    expect(sentTo(w.duka, c.waId).filter((s) => /You cancelled/.test(s.text))).toHaveLength(1);
  });

  it('refuses a status update with a forged hash (403, security event) and leaves the order alone', async () => {
    const { c, orderNumber, txn, reference } = await prompted('263771100008');
    const fields: [string, string][] = [['reference', reference], ['amount', '7.99'], ['paynowreference', txn.paynowReference], ['pollurl', txn.pollUrl], ['status', 'Paid']];
    const forged = signPaynowFields(fields, 'not-the-integration-key');
    const res = await fetch(`${w.duka.baseUrl}/webhooks/paynow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: forged });
    expect(res.status).toBe(403);
    const unsigned = new URLSearchParams(fields).toString();
    expect((await fetch(`${w.duka.baseUrl}/webhooks/paynow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: unsigned })).status).toBe(403);
    const [payment] = await paymentRows(w.duka, orderNumber);
    const events = await paymentEvents(w.duka, { paymentId: payment!.id });
    expect(events.map((e) => [e.outcome, e.security])).toEqual([['rejected', true], ['rejected', true]]);
    expect(payment!.status).toBe('pending');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('AWAITING_PAYMENT');
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);

    // Correctly hashed with the shop's key, the same update is accepted (the poll URL still confirms it).
    w.providers.paynow.setBehaviour({ dropCallbacks: true });
    try {
      await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    } finally {
      w.providers.paynow.setBehaviour({ dropCallbacks: false });
    }
    const genuine = signPaynowFields(fields, CREDENTIALS.PAYNOW_INTEGRATION_KEY);
    expect((await fetch(`${w.duka.baseUrl}/webhooks/paynow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: genuine })).status).toBe(200);
    await c.next();
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('never marks the order paid when Paynow reports another amount: FLAGGED for an operator', async () => {
    const { c, orderNumber, txn } = await prompted('263771100009');
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid', amount: '1.00' });
    const [flagged] = await c.next();
    expect(flagged!.text).toMatch(/received a payment of USD 1.00 .* but the total is USD 7.99/);
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).not.toBe('PAID');
    expect(order.paymentStatus).toBe('FLAGGED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'flagged', failure_reason: 'amount_mismatch' });
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);
  });

  it('waits while Paynow is down (initiation retried, visible as a pending activity) and completes when it is back', async () => {
    const c = new Customer(w.duka, HARARE, '263771100010');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', MAIZE);
    w.providers.paynow.setBehaviour({ down: true });
    try {
      await c.pick('pay:ecocash', 'EcoCash', 0);
      const stuck = await eventually(() => pendingActivities(w.duka, orderNumber), (a) => a.some((x) => x.type === 'initiatePayment' && x.attempt >= 2), 'initiatePayment retrying');
      expect(stuck.find((x) => x.type === 'initiatePayment')!.lastFailure).toMatch(/Paynow initiate: HTTP 503/);
    } finally {
      w.providers.paynow.setBehaviour({ down: false });
    }
    const [prompt] = await c.next(1, 30_000);
    expect(prompt!.text).toMatch(/approve the EcoCash payment/);
    const txn = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber, 1));
    await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
    await c.next();
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);

  it('completes after the worker was stopped between the initiation and the status update', async () => {
    const { c, orderNumber, txn } = await prompted('263771100011');
    await w.duka.stopWorker();
    try {
      await w.providers.paynow.complete(txn.pollId, { status: 'Paid' });
      expect(w.providers.paynow.callbacks().filter((x) => x.pollId === txn.pollId).map((x) => x.httpStatus)).toEqual([200]);
    } finally {
      await w.duka.startWorker();
    }
    const [receipt] = await c.next(1, 20_000);
    expect(receipt!.text).toContain(txn.paynowReference);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);
});
