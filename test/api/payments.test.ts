import { createHash, createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { WorkflowNotFoundError } from '@temporalio/client';
import { signPaynowFields } from '../../providers/payments/paynow.ts';
import { errorCode, json, sql, startApi, type ApiHarness } from './support.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => api.temporal.reset());

const PAYNOW_KEY = 'paynow-key-for-tests';
const RAZORPAY_SECRET = 'razorpay-secret-for-tests';

interface Fixture {
  orderNumber: string;
  reference: string;
  paymentId: string;
  token: string;
  providerReference: string;
}

let seq = 0;
async function fixture(shopId: string, provider: 'mpesa' | 'paynow' | 'razorpay', currency: string, amount: number): Promise<Fixture> {
  seq += 1;
  const orderId = randomUUID();
  const orderNumber = `${shopId.slice(0, 3).toUpperCase()}-${5000 + seq}`;
  const paymentId = randomUUID();
  const reference = randomUUID();
  const token = `tok_${randomUUID().replace(/-/g, '')}`;
  const providerReference =
    provider === 'mpesa' ? `ws_CO_${seq}_${Date.now()}` : provider === 'paynow' ? `https://paynow.test/poll?guid=${seq}` : `plink_${seq}`;
  await sql(
    api.db.orm,
    "insert into orders (id, number, shop_id, status, payment_status, currency, workflow_id, total, created_at, updated_at) values (?, ?, ?, 'AWAITING_PAYMENT', 'PENDING', ?, ?, ?, now(), now())",
    [orderId, orderNumber, shopId, currency, `order:${orderNumber}`, amount],
  );
  await sql(
    api.db.orm,
    'insert into payment (id, reference, idempotency_key, order_id, shop_id, provider, method, status, amount, currency, provider_reference, callback_token_hash, data, created_at, updated_at) ' +
      "values (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, '{}', now(), now())",
    [
      paymentId,
      reference,
      `idem-${reference}`,
      orderId,
      shopId,
      provider,
      provider === 'razorpay' ? 'razorpay_link' : provider === 'paynow' ? 'ecocash' : 'mpesa',
      amount,
      currency,
      providerReference,
      provider === 'mpesa' ? createHash('sha256').update(token).digest('hex') : null,
    ],
  );
  return { orderNumber, reference, paymentId, token, providerReference };
}

async function events(where = 'true', params: unknown[] = []) {
  return sql<{ provider: string; outcome: string; security: boolean; payment_id: string | null; dedup_key: string; raw: string; headers: Record<string, string> }>(
    api.db.orm,
    `select * from payment_event where ${where} order by received_at, dedup_key`,
    params,
  );
}

// ---- M-Pesa ---------------------------------------------------------------------------------------------------------

function stkCallback(checkoutRequestId: string, resultCode = 0) {
  const metadata = resultCode === 0 && {
    CallbackMetadata: {
      Item: [
        { Name: 'Amount', Value: 1500.0 },
        { Name: 'MpesaReceiptNumber', Value: 'SGR7OWQX0R' },
        { Name: 'Balance' },
        { Name: 'TransactionDate', Value: 20250301143112 },
        { Name: 'PhoneNumber', Value: 254712345678 },
      ],
    },
  };
  return {
    Body: {
      stkCallback: {
        MerchantRequestID: '29115-34620561-1',
        CheckoutRequestID: checkoutRequestId,
        ResultCode: resultCode,
        ResultDesc: resultCode === 0 ? 'The service request is processed successfully.' : 'Request cancelled by user',
        ...metadata,
      },
    },
  };
}

const postMpesa = (token: string, body: unknown) =>
  fetch(`${api.url}/webhooks/mpesa/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('POST /webhooks/mpesa/:token', () => {
  it('signals the order workflow and answers Daraja; a repeat is accepted but not signalled twice', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    const res = await postMpesa(f.token, stkCallback(f.providerReference));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ResultCode: 0, ResultDesc: 'Accepted' });
    expect(api.temporal.signals).toEqual([
      {
        workflowId: `order:${f.orderNumber}`,
        name: 'paymentEvent',
        args: [{ reference: f.reference, status: 'succeeded', amount: 150000, currency: 'KES', transactionReference: 'SGR7OWQX0R', source: 'callback' }],
      },
    ]);

    const again = await postMpesa(f.token, stkCallback(f.providerReference));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ResultCode: 0, ResultDesc: 'Accepted' });
    expect(api.temporal.signals).toHaveLength(1);

    const stored = await events('payment_id = ?', [f.paymentId]);
    expect(stored.map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);
    // Stored, but without the customer's phone number.
    expect(stored[0]!.raw).toContain(f.providerReference);
    expect(stored[0]!.raw).not.toContain('254712345678');
  });

  it('a failed STK result is passed on with its reason', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 80000);
    expect((await postMpesa(f.token, stkCallback(f.providerReference, 1032))).status).toBe(200);
    expect(api.temporal.signals[0]?.args[0]).toEqual({ reference: f.reference, status: 'cancelled', failureReason: 'cancelled_by_customer', source: 'callback' });
  });

  it('an unknown token is 403, recorded as a security event, and touches no order', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    const res = await postMpesa('not-a-token', stkCallback(f.providerReference));
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('forbidden');
    const noToken = await fetch(`${api.url}/webhooks/mpesa`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(stkCallback(f.providerReference)) });
    expect(noToken.status).toBe(403);
    expect(api.temporal.callCount).toBe(0);
    const rejected = await events("provider = 'mpesa' and security and outcome = 'rejected' and raw like ?", [`%${f.providerReference}%`]);
    expect(rejected).toHaveLength(2);
    expect(rejected[0]!.raw).not.toContain('254712345678');
  });

  it('a CheckoutRequestID that is not this payment’s is 403 (security)', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    const res = await postMpesa(f.token, stkCallback('ws_CO_someone_else'));
    expect(res.status).toBe(403);
    expect(api.temporal.callCount).toBe(0);
    expect((await events('payment_id = ?', [f.paymentId])).map((e) => [e.outcome, e.security])).toEqual([['rejected', true]]);
  });

  it('a callback racing the push’s own write (no CheckoutRequestID stored yet) is accepted on the token', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    await sql(api.db.orm, 'update payment set provider_reference = null where id = ?', [f.paymentId]);
    const res = await postMpesa(f.token, stkCallback('ws_CO_not_yet_stored'));
    expect(res.status).toBe(200);
    expect(api.temporal.signals).toHaveLength(1);
  });

  it('a push whose answer was lost learns its CheckoutRequestID from the callback on its token, so the STK query can confirm it', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    await sql(api.db.orm, "update payment set provider_reference = null, initiation = 'lost' where id = ?", [f.paymentId]);
    const checkoutRequestId = `ws_CO_lost_${f.paymentId}`;
    expect((await postMpesa(f.token, stkCallback(checkoutRequestId, 1032))).status).toBe(200);
    const [row] = await sql<{ provider_reference: string; data: Record<string, unknown> }>(api.db.orm, 'select provider_reference, data from payment where id = ?', [f.paymentId]);
    expect(row).toMatchObject({ provider_reference: checkoutRequestId, data: { checkoutRequestId, merchantRequestId: '29115-34620561-1' } });
    expect(api.temporal.signals).toHaveLength(1);
    // Learnt once: a callback naming another push is now refused.
    expect((await postMpesa(f.token, stkCallback(`ws_CO_other_${f.paymentId}`))).status).toBe(403);
  });

  it('a lost-answer payment is never taught a CheckoutRequestID that belongs to another payment (403, nothing touched)', async () => {
    const other = await fixture('nairobi', 'mpesa', 'KES', 150000);
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    await sql(api.db.orm, 'update payment set provider_reference = null where id = ?', [f.paymentId]);
    const res = await postMpesa(f.token, stkCallback(other.providerReference));
    expect(res.status).toBe(403);
    expect(api.temporal.callCount).toBe(0);
    expect((await events('payment_id = ?', [f.paymentId])).map((e) => [e.outcome, e.security])).toEqual([['rejected', true]]);
    const [row] = await sql<{ provider_reference: string | null }>(api.db.orm, 'select provider_reference from payment where id = ?', [f.paymentId]);
    expect(row!.provider_reference).toBeNull();
  });

  it('a malformed body is 400 and recorded as malformed', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    for (const body of ['{oops', { Body: { nothing: true } }]) {
      const res = await postMpesa(f.token, body);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('invalid_callback');
    }
    expect(api.temporal.callCount).toBe(0);
    expect((await events('payment_id = ?', [f.paymentId])).map((e) => e.outcome)).toEqual(['malformed', 'malformed']);
  });

  it('a late callback for a finished order is 200, recorded as rejected, not a 500', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    api.temporal.on.signal = async (call) => {
      throw new WorkflowNotFoundError('workflow execution already completed', call.workflowId, undefined);
    };
    const res = await postMpesa(f.token, stkCallback(f.providerReference));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ResultCode: 0, ResultDesc: 'Accepted' });
    expect((await events('payment_id = ?', [f.paymentId])).map((e) => [e.outcome, e.security])).toEqual([['rejected', false]]);
  });

  it('Temporal down: 503, and the retry is delivered (not swallowed as a duplicate)', async () => {
    const f = await fixture('nairobi', 'mpesa', 'KES', 150000);
    api.temporal.on.signal = async () => {
      throw new Error('14 UNAVAILABLE');
    };
    const first = await postMpesa(f.token, stkCallback(f.providerReference));
    expect(first.status).toBe(503);
    expect(await errorCode(first)).toBe('unavailable');
    api.temporal.on.signal = async () => {};
    const second = await postMpesa(f.token, stkCallback(f.providerReference));
    expect(second.status).toBe(200);
    expect(api.temporal.signals).toHaveLength(2);
    const stored = await events('payment_id = ?', [f.paymentId]);
    expect(stored).toHaveLength(2);
    expect(stored.filter((e) => e.dedup_key.includes(':undelivered:'))).toHaveLength(1);
  });
});

// ---- Paynow -------------------------------------------------------------------------------------------------------

function paynowUpdate(f: Fixture, status: string, key = PAYNOW_KEY): string {
  return signPaynowFields(
    [
      ['reference', f.reference],
      ['amount', '7.99'],
      ['paynowreference', '9876543'],
      ['pollurl', f.providerReference],
      ['status', status],
    ],
    key,
  );
}

const postPaynow = (body: string) =>
  fetch(`${api.url}/webhooks/paynow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

describe('POST /webhooks/paynow', () => {
  it('a verified update is signalled once', async () => {
    const f = await fixture('harare', 'paynow', 'USD', 799);
    const body = paynowUpdate(f, 'Paid');
    const res = await postPaynow(body);
    expect(res.status).toBe(200);
    expect(api.temporal.signals).toEqual([
      { workflowId: `order:${f.orderNumber}`, name: 'paymentEvent', args: [{ reference: f.reference, status: 'succeeded', amount: 799, currency: 'USD', transactionReference: '9876543', source: 'callback' }] },
    ]);
    expect((await postPaynow(body)).status).toBe(200);
    expect(api.temporal.signals).toHaveLength(1);
  });

  it('a payment whose initiation answer was lost learns its poll URL from a verified update', async () => {
    const f = await fixture('harare', 'paynow', 'USD', 799);
    await sql(api.db.orm, "update payment set provider_reference = null, initiation = 'lost' where id = ?", [f.paymentId]);
    expect((await postPaynow(paynowUpdate(f, 'Sent'))).status).toBe(200);
    const [row] = await sql<{ provider_reference: string; data: Record<string, unknown> }>(api.db.orm, 'select provider_reference, data from payment where id = ?', [f.paymentId]);
    expect(row).toMatchObject({ provider_reference: f.providerReference, data: { pollUrl: f.providerReference, reference: f.reference } });
  });

  it('a forged update teaches a payment nothing', async () => {
    const f = await fixture('harare', 'paynow', 'USD', 799);
    await sql(api.db.orm, 'update payment set provider_reference = null where id = ?', [f.paymentId]);
    expect((await postPaynow(paynowUpdate(f, 'Paid', 'not-the-key'))).status).toBe(403);
    const [row] = await sql<{ provider_reference: string | null }>(api.db.orm, 'select provider_reference from payment where id = ?', [f.paymentId]);
    expect(row!.provider_reference).toBeNull();
  });

  it('a wrong hash is 403, recorded as a security event', async () => {
    const f = await fixture('harare', 'paynow', 'USD', 799);
    const res = await postPaynow(paynowUpdate(f, 'Paid', 'not-the-key'));
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('invalid_signature');
    const unsigned = await postPaynow(`reference=${f.reference}&status=Paid&amount=7.99`);
    expect(unsigned.status).toBe(403);
    expect(api.temporal.callCount).toBe(0);
    expect((await events('payment_id = ?', [f.paymentId])).map((e) => [e.outcome, e.security])).toEqual([
      ['rejected', true],
      ['rejected', true],
    ]);
  });

  it('hostile references are just unknown', async () => {
    for (const reference of ["x'; drop table payment; --", 'a\\\'b', '?', '$1']) {
      const res = await postPaynow(new URLSearchParams({ reference, status: 'Paid', hash: 'AB' }).toString());
      expect(res.status).toBe(404);
    }
    expect((await sql(api.db.orm, 'select count(*)::int as n from payment'))[0]).toBeDefined();
  });

  it('an unknown reference is 404 and recorded as unknown_payment', async () => {
    const res = await postPaynow(`reference=nope-${randomUUID()}&status=Paid&hash=ABC`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('unknown_payment');
    expect(api.temporal.callCount).toBe(0);
    expect((await events("provider = 'paynow' and outcome = 'unknown_payment'")).length).toBeGreaterThanOrEqual(1);
  });
});

// ---- Razorpay -----------------------------------------------------------------------------------------------------

function razorpayPaid(f: Fixture, amount = 18000) {
  return JSON.stringify({
    entity: 'event',
    account_id: 'acc_TEST',
    event: 'payment_link.paid',
    contains: ['payment_link', 'order', 'payment'],
    created_at: 1735600000,
    payload: {
      payment_link: { entity: { id: f.providerReference, status: 'paid', amount, amount_paid: amount, currency: 'INR', reference_id: f.reference, short_url: 'https://rzp.io/x', notes: { duka_reference: f.reference } } },
      order: { entity: { id: 'order_X', amount, amount_paid: amount, status: 'paid' } },
      payment: { entity: { id: 'pay_123', entity: 'payment', amount, currency: 'INR', status: 'captured', contact: '+919812345678', email: 'a@b.in', notes: [] } },
    },
  });
}

const rzpSign = (raw: string, secret = RAZORPAY_SECRET) => createHmac('sha256', secret).update(raw).digest('hex');
const postRazorpay = (raw: string, headers: Record<string, string>) =>
  fetch(`${api.url}/webhooks/razorpay`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });

describe('POST /webhooks/razorpay', () => {
  it('a verified event is signalled once per x-razorpay-event-id', async () => {
    const f = await fixture('pune', 'razorpay', 'INR', 18000);
    const raw = razorpayPaid(f);
    const headers = { 'x-razorpay-signature': rzpSign(raw), 'x-razorpay-event-id': `evt_${f.paymentId}` };
    const res = await postRazorpay(raw, headers);
    expect(res.status).toBe(200);
    expect(api.temporal.signals).toEqual([
      { workflowId: `order:${f.orderNumber}`, name: 'paymentEvent', args: [{ reference: f.reference, status: 'succeeded', amount: 18000, currency: 'INR', transactionReference: 'pay_123', source: 'callback' }] },
    ]);
    expect((await postRazorpay(raw, headers)).status).toBe(200);
    expect(api.temporal.signals).toHaveLength(1);
    const stored = await events('payment_id = ?', [f.paymentId]);
    expect(stored.map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);
    expect(stored[0]!.dedup_key).toBe(`razorpay:evt_${f.paymentId}`);
    expect(stored[0]!.raw).not.toContain('9812345678');
  });

  it('a bad signature is 403 and touches nothing', async () => {
    const f = await fixture('pune', 'razorpay', 'INR', 18000);
    const raw = razorpayPaid(f);
    for (const headers of [{}, { 'x-razorpay-signature': rzpSign(raw, 'wrong') }, { 'x-razorpay-signature': rzpSign(`${raw} `) }] as Record<string, string>[]) {
      const res = await postRazorpay(raw, headers);
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe('invalid_signature');
    }
    expect(api.temporal.callCount).toBe(0);
    expect((await events('payment_id = ?', [f.paymentId])).every((e) => e.security && e.outcome === 'rejected')).toBe(true);
  });

  it('an event about no duka payment is verified, stored and answered 200 (Razorpay must not disable the hook)', async () => {
    const raw = JSON.stringify({ entity: 'event', event: 'payment.captured', contains: ['payment'], payload: { payment: { entity: { id: 'pay_other', amount: 100, currency: 'INR', status: 'captured', notes: [] } } } });
    const res = await postRazorpay(raw, { 'x-razorpay-signature': rzpSign(raw), 'x-razorpay-event-id': 'evt_other' });
    expect(res.status).toBe(200);
    expect(api.temporal.callCount).toBe(0);
    expect((await events("dedup_key = 'razorpay:evt_other'")).map((e) => e.outcome)).toEqual(['unknown_payment']);
  });

  it('a verified but malformed handled event is 400', async () => {
    const f = await fixture('pune', 'razorpay', 'INR', 18000);
    const raw = JSON.stringify({ entity: 'event', event: 'payment_link.paid', payload: { payment_link: { entity: { reference_id: f.reference } } } });
    const res = await postRazorpay(raw, { 'x-razorpay-signature': rzpSign(raw), 'x-razorpay-event-id': 'evt_bad' });
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatchObject({ code: 'invalid_callback' });
    expect(api.temporal.callCount).toBe(0);
  });
});
