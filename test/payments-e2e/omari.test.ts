import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HARARE } from '../helpers/duka.ts';
import {
  Customer,
  eventually,
  latestAttempt,
  orderOf,
  orderRow,
  paymentRows,
  pendingActivities,
  receiptsTo,
  startWorld,
  toPaymentChoice,
  type World,
} from './support.ts';

/**
 * O'mari in Harare, end to end: `/auth` sends the customer an OTP, the conversation takes the OTP they type, `/request`
 * takes the money and answers at once, `/query` reconciles. O'mari has no callbacks, so there is nothing to forge,
 * duplicate or reorder: the answer to `/request` is the result.
 */
describe("O'mari payments with OTP, Harare", () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_omari');
  });
  afterAll(async () => {
    w.providers.omari.setBehaviour({ declineWith: null, down: false, otpReference: null });
    await w?.stop();
  });

  const SUGAR = [{ retailerId: 'SKU-SUGAR-2KG', quantity: 2 }];

  async function otpAsked(waId: string) {
    const c = new Customer(w.duka, HARARE, waId);
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', SUGAR);
    const [prompt] = await c.pick('pay:omari');
    expect(prompt!.text).toMatch(/We sent you an OTP by SMS from O'mari/);
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const otp = (await eventually(async () => w.providers.omari.lastOtp(reference), Boolean, 'the OTP SMS'))!;
    return { c, orderNumber, reference, otp };
  }
  const wrong = (otp: string) => (otp === '000000' ? '111111' : '000000');

  it('is paid with the OTP the customer types: receipt with order number, items, total and O\'mari reference; PAID in workflow and rows', async () => {
    const { c, orderNumber, reference, otp } = await otpAsked('263771200001');
    const txn = w.providers.omari.get(reference)!;
    expect(txn).toMatchObject({ msisdn: '263771200001', amount: 6.4, currency: 'USD', status: 'Pending' });
    const [receipt] = await c.say(otp);
    const paid = w.providers.omari.get(reference)!;
    expect(paid.status).toBe('Success');
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('2 × Sugar 2kg — USD 6.40');
    expect(receipt!.text).toContain('Total: USD 6.40');
    expect(receipt!.text).toContain(paid.paymentReference!);
    expect((await orderOf(w.duka, orderNumber))).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED' });
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'PAID', 'row PAID')).payment_status).toBe('SUCCEEDED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    // The otpReference is a display code kept as data; the payment is keyed on duka's reference.
    expect(payment).toMatchObject({ reference, provider: 'omari', status: 'succeeded', amount: 640, transaction_reference: paid.paymentReference, provider_reference: null });
    expect(payment!.data).toMatchObject({ otpReference: paid.otpReference });
  });

  it('pays two customers who were given the same otpReference (a code shown beside the SMS, not an id)', async () => {
    w.providers.omari.setBehaviour({ otpReference: 'ETDC' });
    try {
      const first = await otpAsked('263771200021');
      const second = await otpAsked('263771200022');
      for (const { reference } of [first, second]) expect(w.providers.omari.get(reference)!.otpReference).toBe('ETDC');
      for (const { c, orderNumber, otp } of [first, second]) {
        const [receipt] = await c.say(otp);
        expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
        expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
        const [payment] = await paymentRows(w.duka, orderNumber);
        expect(payment).toMatchObject({ status: 'succeeded', provider_reference: null });
        expect(payment!.data).toMatchObject({ otpReference: 'ETDC' });
      }
    } finally {
      w.providers.omari.setBehaviour({ otpReference: null });
    }
  });

  it('takes a wrong OTP, says how many tries are left, then pays with the right one', async () => {
    const { c, orderNumber, otp } = await otpAsked('263771200002');
    const [nope] = await c.say(wrong(otp));
    expect(nope!.text).toBe('That OTP is not right. 2 tries left.');
    expect((await orderOf(w.duka, orderNumber)).status).toBe('AWAITING_PAYMENT');
    const [receipt] = await c.say(otp);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  });

  it('after three wrong OTPs names the failure with [Try again] [Other method] [Cancel]; the retry is a new attempt with a new OTP', async () => {
    const { c, orderNumber, reference, otp } = await otpAsked('263771200003');
    await c.say(wrong(otp));
    await c.say(wrong(otp));
    const [failed] = await c.say(wrong(otp));
    expect(failed!.text).toMatch(/The OTP was wrong too many times/);
    expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
    const [prompt] = await c.tap('pay:retry');
    expect(prompt!.text).toMatch(/OTP/);
    const second = await latestAttempt(w.duka, orderNumber, 2);
    expect(second).not.toBe(reference);
    const otp2 = (await eventually(async () => w.providers.omari.lastOtp(second), Boolean, 'the second OTP'))!;
    const [receipt] = await c.say(otp2);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => [r.status, r.failure_reason])).toEqual([['failed', 'wrong_otp'], ['succeeded', null]]);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(2);
  });

  it('names a decline at /request (insufficient funds) and one at /auth (unregistered number) in plain words', async () => {
    w.providers.omari.setBehaviour({ declineWith: { stage: 'request', message: 'Insufficient funds in wallet' } });
    try {
      const { c, orderNumber, otp } = await otpAsked('263771200004');
      const [failed] = await c.say(otp);
      expect(failed!.text).toMatch(/not enough money in the account/);
      expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
      expect((await paymentRows(w.duka, orderNumber)).map((r) => r.failure_reason)).toEqual(['insufficient_funds']);
    } finally {
      w.providers.omari.setBehaviour({ declineWith: null });
    }

    w.providers.omari.setBehaviour({ declineWith: { stage: 'auth', message: 'Mobile number not registered for Omari' } });
    try {
      const c = new Customer(w.duka, HARARE, '263771200014');
      const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', SUGAR);
      const [failed] = await c.pick('pay:omari');
      expect(failed!.text).toMatch(/That number cannot pay with this method/);
      expect((await paymentRows(w.duka, orderNumber)).map((r) => [r.status, r.failure_reason])).toEqual([['failed', 'invalid_number']]);
    } finally {
      w.providers.omari.setBehaviour({ declineWith: null });
    }
  });

  it('gives up waiting for the OTP after the timeout and tells the customer; no money is taken', async () => {
    const { c, orderNumber, reference } = await otpAsked('263771200005');
    const [timedOut] = await c.next(1, 20_000);
    expect(timedOut!.text).toMatch(/didn't get a confirmation in time/);
    expect(timedOut!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'CHECKOUT', paymentStatus: 'EXPIRED' });
    expect(w.providers.omari.get(reference)!.status).toBe('Pending');
  });

  it('stops on "cancel" while the OTP is awaited', async () => {
    const { c, orderNumber } = await otpAsked('263771200006');
    const [cancelled] = await c.say('cancel');
    expect(cancelled!.text).toMatch(new RegExp(`Order ${orderNumber} has been cancelled`));
    const order = await eventually(() => orderOf(w.duka, orderNumber), (o) => o.payments[0]?.status !== 'pending', 'the attempt ended');
    expect(order.status).toBe('CANCELLED');
    expect(order.payments.map((p) => p.status)).toEqual(['cancelled']);
  });

  it("waits while O'mari is down (the /auth call is retried, visible as a pending activity) and completes when it is back", async () => {
    const c = new Customer(w.duka, HARARE, '263771200007');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', SUGAR);
    w.providers.omari.setBehaviour({ down: true });
    try {
      await c.pick('pay:omari', "O'mari", 0);
      const stuck = await eventually(() => pendingActivities(w.duka, orderNumber), (a) => a.some((x) => x.type === 'initiatePayment' && x.attempt >= 2), 'initiatePayment retrying');
      expect(stuck.find((x) => x.type === 'initiatePayment')!.lastFailure).toMatch(/O'mari POST \/auth: HTTP 503/);
    } finally {
      w.providers.omari.setBehaviour({ down: false });
    }
    const [prompt] = await c.next(1, 30_000);
    expect(prompt!.text).toMatch(/OTP/);
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const [receipt] = await c.say(w.providers.omari.lastOtp(reference)!);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
  }, 90_000);

  it('completes after the worker was stopped between the OTP request and the customer typing it', async () => {
    const { c, orderNumber, otp } = await otpAsked('263771200008');
    await w.duka.stopWorker();
    try {
      // The webhook hands the OTP to Temporal (200) although no worker runs; nothing can answer yet.
      expect(await c.say(otp, 0)).toEqual([]);
      expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);
    } finally {
      await w.duka.startWorker();
    }
    const [receipt] = await c.next(1, 20_000);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);
});
