import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PUNE } from '../helpers/duka.ts';
import {
  CREDENTIALS,
  Customer,
  admin,
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
  waitForLink,
  type World,
} from './support.ts';

const CHAI = [{ retailerId: 'PNQ-CHAI', quantity: 1 }];

/** A customer who chose the payment link and got the "Pay now" button. */
async function linkSentIn(w: World, waId: string) {
  const c = new Customer(w.duka, PUNE, waId);
  const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'pune', CHAI);
  expect(methods.ids).toEqual(['pay:razorpay_link', 'pay:cash']);
  // "Pay now", then the Help button under it (seed 004's [Pay Now] [Help]).
  const [button, help] = await c.tap('pay:razorpay_link', 'pay:razorpay_link', 2);
  expect(help).toMatchObject({ text: 'Trouble paying? Tap Help.', ids: ['pay:help'] });
  const reference = await latestAttempt(w.duka, orderNumber, 1);
  const link = await waitForLink(w.providers, reference);
  return { c, orderNumber, button: button!, link, reference };
}

function signedWebhook(body: unknown, eventId = `evt_${randomBytes(6).toString('hex')}`) {
  const raw = JSON.stringify(body);
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-razorpay-event-id': eventId, 'x-razorpay-signature': createHmac('sha256', CREDENTIALS.RAZORPAY_WEBHOOK_SECRET).update(raw).digest('hex') },
    body: raw,
  };
}

/**
 * Razorpay Payment Links in Pune, end to end: the link goes to the customer as a "Pay now" button, the simulator speaks
 * the Payment Links API (create, fetch, cancel, refund) and posts signed webhooks with event ids.
 */
describe('Razorpay payment links, Pune', () => {
  let w: World;
  beforeAll(async () => {
    // Links live longer than the worker takes to drain (its shutdown grace is 10 s), so a link outlives a worker restart.
    w = await startWorld('pay_razorpay', { PAYMENT_LINK_TIMEOUT: '25s' });
  });
  // Recording histories (DUKA_RECORD_HISTORIES=1) fetches every workflow of the run: more than a hook's default 5 s.
  afterAll(async () => {
    await w?.stop();
  }, 120_000);

  const linkSent = (waId: string) => linkSentIn(w, waId);

  it('sends the link as a "Pay now" button and is paid by the webhook: receipt with order number, items, total and payment id; PAID in workflow and rows', async () => {
    const { c, orderNumber, button, link, reference } = await linkSent('919800000001');
    expect(button.raw.body).toMatchObject({ type: 'interactive', interactive: { type: 'cta_url', action: { name: 'cta_url', parameters: { display_text: 'Pay now', url: link.short_url } } } });
    expect(button.text).toBe(`Pay INR 42.00 for order ${orderNumber}.`);
    expect(link).toMatchObject({ amount: 4200, currency: 'INR', reference_id: reference, accept_partial: false, status: 'created' });
    expect(link.expire_by).toBeGreaterThan(Math.floor(Date.now() / 1000));

    const [delivery] = await w.providers.razorpay.pay(link.id);
    expect(delivery!.status).toBe(200);
    const [receipt] = await c.next();
    const paymentId = w.providers.razorpay.link(link.id)!.payments![0]!.payment_id;
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('1 × Masala Chai — INR 40.00');
    expect(receipt!.text).toContain('Total: INR 42.00');
    expect(receipt!.text).toContain(paymentId);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED' });
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(callback)');
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'PAID', 'row PAID')).payment_status).toBe('SUCCEEDED');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ provider: 'razorpay', status: 'succeeded', amount: 4200, currency: 'INR', provider_reference: link.id, transaction_reference: paymentId });
    const events = await paymentEvents(w.duka, { paymentId: payment!.id });
    expect(events.map((e) => e.outcome)).toEqual(['accepted']);
    expect(events[0]!.raw).not.toContain('919800000001');
  });

  it('is paid by polling the link alone when the webhook is lost', async () => {
    const { c, orderNumber, link } = await linkSent('919800000002');
    w.providers.razorpay.setBehaviour({ dropCallbacks: true });
    try {
      await w.providers.razorpay.pay(link.id);
      const [receipt] = await c.next(1, 15_000);
      expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    } finally {
      w.providers.razorpay.setBehaviour({ dropCallbacks: false });
    }
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(provider)');
  });

  it('names a cancelled, an underfunded and an expired link in plain words with [Try again] [Other method] [Cancel]; each retry is a new link, the last one pays', async () => {
    const { c, orderNumber, link } = await linkSent('919800000003');
    const links = [link.id];
    const steps: [(id: string) => Promise<unknown>, RegExp][] = [
      [(id) => w.providers.razorpay.fail(id, { reason: 'payment_cancelled', description: 'Customer cancelled the payment' }), /You cancelled the payment/],
      [(id) => w.providers.razorpay.fail(id, { reason: 'insufficient_balance', description: 'Not enough balance' }), /not enough money/],
      [(id) => w.providers.razorpay.expire(id), /The payment link expired/],
    ];
    for (const [index, [act, words]] of steps.entries()) {
      await act(links[index]!);
      const [failed] = await c.next();
      expect(failed!.text).toMatch(words);
      expect(failed!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
      const [button] = await c.tap('pay:retry', 'pay:retry', 2);
      const next = await waitForLink(w.providers, await latestAttempt(w.duka, orderNumber, index + 2));
      expect(button!.ids).toEqual([next.short_url]);
      links.push(next.id);
    }
    await w.providers.razorpay.pay(links[3]!);
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const rows = await paymentRows(w.duka, orderNumber);
    expect(rows.map((r) => [r.status, r.failure_reason])).toEqual([
      ['failed', 'cancelled_by_customer'],
      ['failed', 'insufficient_funds'],
      ['expired', 'expired'],
      ['succeeded', null],
    ]);
    expect(new Set(rows.map((r) => r.provider_reference)).size).toBe(4);
    // A link stays payable after a failed try; duka closed the failed ones, so no two of them can be paid.
    expect(links.map((id) => w.providers.razorpay.link(id)!.status)).toEqual(['cancelled', 'cancelled', 'expired', 'paid']);
    expect(new Set(rows.map((r) => r.idempotency_key)).size).toBe(4);
  });

  it('times out while Razorpay cannot be reached, tells the customer, and a payment made meanwhile still marks the order paid', async () => {
    const { c, orderNumber, link } = await linkSent('919800000004');
    // The customer pays on the hosted page, but the API is unreachable and the webhook is stuck in transit.
    w.providers.gateway.holding = true;
    w.providers.razorpay.setBehaviour({ down: true });
    try {
      await w.providers.razorpay.pay(link.id);
      const [timedOut] = await c.next(1, 45_000);
      expect(timedOut!.text).toMatch(/didn't get a confirmation in time/);
      expect((await orderOf(w.duka, orderNumber)).status).toBe('CHECKOUT');
    } finally {
      w.providers.gateway.holding = false;
      w.providers.razorpay.setBehaviour({ down: false });
    }
    expect(await w.providers.gateway.release()).toEqual([200]);
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    expect(order.timeline.some((e) => e.type === 'paid' && e.detail === 'late confirmation')).toBe(true);
  }, 90_000);

  it('acts once on a redelivered event, and handles events that arrive out of order (paid before the earlier failure)', async () => {
    const { c, orderNumber, link } = await linkSent('919800000005');
    w.providers.gateway.holding = true;
    try {
      await w.providers.razorpay.fail(link.id, { reason: 'payment_failed' });
      w.providers.razorpay.setBehaviour({ duplicateCallbacks: true });
      await w.providers.razorpay.pay(link.id);
    } finally {
      w.providers.razorpay.setBehaviour({ duplicateCallbacks: false });
      w.providers.gateway.holding = false;
    }
    // held: failed, paid, paid (the redelivery repeats the event id); delivered newest first.
    const held = [...w.providers.gateway.held];
    expect(held).toHaveLength(3);
    expect(await w.providers.gateway.release(held.reverse())).toEqual([200, 200, 200]);
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect((await paymentEvents(w.duka, { paymentId: payment!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate', 'accepted']);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED' });
    expect(order.payments.map((p) => p.status)).toEqual(['succeeded']);
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(1);
    expect(sentTo(w.duka, c.waId).filter((s) => /declined|What would you like to do/.test(s.text))).toHaveLength(0);
  });

  it('refuses a webhook with a forged signature (403, security event); a signed "paid" the link does not confirm pays nothing', async () => {
    const { c, orderNumber, link, reference } = await linkSent('919800000006');
    const claim = {
      entity: 'event',
      account_id: 'acc_forged',
      event: 'payment_link.paid',
      contains: ['payment_link', 'payment'],
      payload: {
        payment_link: { entity: { ...link, status: 'paid', amount_paid: 4200 } },
        payment: { entity: { id: 'pay_FORGED000001', amount: 4200, currency: 'INR', status: 'captured', notes: { duka_reference: reference } } },
      },
      created_at: Math.floor(Date.now() / 1000),
    };
    const forged = signedWebhook(claim);
    forged.headers['x-razorpay-signature'] = createHmac('sha256', 'not-the-secret').update(forged.body).digest('hex');
    expect((await fetch(`${w.duka.baseUrl}/webhooks/razorpay`, forged)).status).toBe(403);
    const unsigned = signedWebhook(claim);
    delete (unsigned.headers as Record<string, string>)['x-razorpay-signature'];
    expect((await fetch(`${w.duka.baseUrl}/webhooks/razorpay`, unsigned)).status).toBe(403);
    const [payment] = await paymentRows(w.duka, orderNumber);
    // Refused before the body is looked up (checked against every webhook secret duka knows): security events of no payment.
    expect(await paymentEvents(w.duka, { paymentId: payment!.id })).toEqual([]);
    const security = (await paymentEvents(w.duka, { provider: 'razorpay' })).filter((e) => e.security && e.outcome === 'rejected' && e.raw.includes('pay_FORGED000001'));
    expect(security).toHaveLength(2);

    // Signed with the real secret (a leaked secret, or a confused sender), but Razorpay says the link is not paid.
    expect((await fetch(`${w.duka.baseUrl}/webhooks/razorpay`, signedWebhook(claim))).status).toBe(200);
    const unconfirmed = await eventually(() => orderOf(w.duka, orderNumber), (o) => o.timeline.some((e) => e.type === 'payment_unconfirmed'), 'the claim checked');
    expect(unconfirmed).toMatchObject({ status: 'AWAITING_PAYMENT', paymentStatus: 'PENDING' });
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);

    // The attempt is still alive: the real payment goes through.
    await w.providers.razorpay.pay(link.id);
    const [receipt] = await c.next();
    expect(receipt!.text).not.toContain('pay_FORGED000001');
    const paid = await orderOf(w.duka, orderNumber);
    expect(paid.status).toBe('PAID');
    // Paid within the same attempt, not as a late arrival after an attempt the false claim had ended.
    expect(paid.timeline.some((e) => e.detail === 'late confirmation')).toBe(false);
  });

  it('waits while Razorpay is down (link creation retried, visible as a pending activity), then the link is sent and paid', async () => {
    const c = new Customer(w.duka, PUNE, '919800000007');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'pune', CHAI);
    w.providers.razorpay.setBehaviour({ down: true });
    try {
      await c.tap('pay:razorpay_link', 'Pay online', 0);
      const stuck = await eventually(() => pendingActivities(w.duka, orderNumber), (a) => a.some((x) => x.type === 'initiatePayment' && x.attempt >= 2), 'initiatePayment retrying');
      expect(stuck.find((x) => x.type === 'initiatePayment')!.lastFailure).toMatch(/Razorpay payment link create failed: SERVER_ERROR/);
    } finally {
      w.providers.razorpay.setBehaviour({ down: false });
    }
    const [button] = await c.next(2, 30_000);
    const link = await waitForLink(w.providers, await latestAttempt(w.duka, orderNumber, 1));
    expect(button!.ids).toEqual([link.short_url]);
    await w.providers.razorpay.pay(link.id);
    await c.next();
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);

  it('completes after the worker was stopped between the link and the webhook', async () => {
    const { c, orderNumber, link } = await linkSent('919800000008');
    await w.duka.stopWorker();
    try {
      const deliveries = await w.providers.razorpay.pay(link.id);
      expect(deliveries.map((d) => d.status)).toEqual([200]);
      expect(receiptsTo(w.duka, c.waId)).toHaveLength(0);
    } finally {
      await w.duka.startWorker();
    }
    const [receipt] = await c.next(1, 20_000);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');
  }, 90_000);

  it('Help under "Pay now" explains how to pay and offers another method: the open link is closed and the new one pays', async () => {
    const { c, orderNumber, link } = await linkSent('919800000012');
    const [help] = await c.tap('pay:help', 'Help');
    expect(help!.text).toMatch(/Tap \*Pay now\* above: a secure payment page opens, where you pay in any way it offers/);
    expect(help!.ids).toEqual(['pay:other', 'order:cancel']);
    const [methods] = await c.tap('pay:other', 'Other method');
    expect(methods!.ids).toEqual(['pay:razorpay_link']);
    const [button] = await c.tap('pay:razorpay_link', 'Pay online', 2);
    const second = await waitForLink(w.providers, await latestAttempt(w.duka, orderNumber, 2));
    expect(button!.ids).toEqual([second.short_url]);
    // The link the customer left can no longer be paid: only one of the two ever can.
    expect(w.providers.razorpay.link(link.id)!.status).toBe('cancelled');
    await w.providers.razorpay.pay(second.id);
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', paid: 4200, attention: null });
    expect(order.payments.map((p) => p.status)).toEqual(['cancelled', 'succeeded']);
    expect(order.timeline.some((e) => e.type === 'payment_switched')).toBe(true);
  });

  it('operators: cancelling a paid order refunds it through Razorpay and tells the customer', async () => {
    const { c, orderNumber, link } = await linkSent('919800000009');
    await w.providers.razorpay.pay(link.id);
    await c.next();
    const res = await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/cancel`, { reason: 'out of chai' });
    expect(res.status).toBe(200);
    const [cancelled, refunded] = await c.next(2);
    expect(cancelled!.text).toBe(`Order ${orderNumber} has been cancelled.`);
    expect(refunded!.text).toMatch(new RegExp(`Order ${orderNumber}: .*refund`, 'i'));
    const order = await orderOf(w.duka, orderNumber).catch(() => (res.body.live as never));
    expect(order).toMatchObject({ status: 'REFUNDED', paymentStatus: 'REFUNDED' });
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment!.status).toBe('refunded');
    expect((payment!.data.refund as { refundId: string }).refundId).toMatch(/^rfnd_/);
    expect((await eventually(() => orderRow(w.duka, orderNumber), (r) => r.status === 'REFUNDED', 'row REFUNDED')).payment_status).toBe('REFUNDED');
  });

  it('operators: refunding a paid order, and retrying a failed payment', async () => {
    const { c, orderNumber, link } = await linkSent('919800000010');
    await w.providers.razorpay.pay(link.id);
    await c.next();
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/refund`, { reason: 'customer asked' })).status).toBe(200);
    const [told] = await c.next();
    expect(told!.text).toMatch(new RegExp(`Order ${orderNumber}: .*refund`, 'i'));
    expect((await paymentRows(w.duka, orderNumber))[0]!.status).toBe('refunded');
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/refund`, {})).status).toBe(409);

    const other = await linkSent('919800000011');
    await w.providers.razorpay.expire(other.link.id);
    await other.c.next();
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${other.orderNumber}/retry-payment`, {})).status).toBe(200);
    const [button] = await other.c.next(2);
    const second = await waitForLink(w.providers, await latestAttempt(w.duka, other.orderNumber, 2));
    expect(button!.ids).toEqual([second.short_url]);
    await w.providers.razorpay.pay(second.id);
    const [receipt] = await other.c.next();
    expect(receipt!.text).toContain(`Receipt — order ${other.orderNumber}`);
  });
});

/**
 * Seed 004's webhook subscribes `payment.captured` alone. Polling is every 10 minutes here (the link lives 25 s), so a
 * poll never runs before the link's timeout: an order paid within seconds was paid by the webhook.
 */
describe('Razorpay, a shop whose webhook subscribes only payment.captured (seed 004)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_razorpay_captured', { PAYMENT_LINK_TIMEOUT: '25s', PAYMENT_POLL_INTERVAL: '10m' });
    // Razorpay's samples show payment notes empty: the payment is tied to its link by its description alone.
    w.providers.razorpay.setBehaviour({ subscribedEvents: ['payment.captured'], notesOnPayments: false });
  });
  // Recording histories (DUKA_RECORD_HISTORIES=1) fetches every workflow of the run: more than a hook's default 5 s.
  afterAll(async () => {
    await w?.stop();
  }, 120_000);

  it('is paid by payment.captured, not by polling; a redelivery and the link\'s own payment_link.paid for the same payment do nothing more', async () => {
    const { c, orderNumber, link } = await linkSentIn(w, '919800000101');
    w.providers.razorpay.setBehaviour({ duplicateCallbacks: true });
    let sent;
    try {
      sent = await w.providers.razorpay.pay(link.id);
    } finally {
      w.providers.razorpay.setBehaviour({ duplicateCallbacks: false });
    }
    expect(sent.map((d) => [d.event, d.status])).toEqual([['payment.captured', 200], ['payment.captured', 200]]);
    const [receipt] = await c.next(1, 10_000);
    const paid = w.providers.razorpay.link(link.id)!;
    const paymentId = paid.payments![0]!.payment_id;
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain(paymentId);
    const order = await orderOf(w.duka, orderNumber);
    expect(order).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED', paid: 4200 });
    expect(order.timeline.find((e) => e.type === 'payment_received')?.detail).toContain('(callback)');
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ status: 'succeeded', provider_reference: link.id, transaction_reference: paymentId });
    expect((await paymentEvents(w.duka, { paymentId: payment!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate']);

    // Had the shop also subscribed payment_link.paid: another event id for the same payment, accepted and signalled,
    // and the attempt it names is already settled.
    const linkPaid = {
      entity: 'event',
      account_id: 'acc_e2e',
      event: 'payment_link.paid',
      contains: ['payment_link', 'order', 'payment'],
      payload: {
        payment_link: { entity: paid },
        payment: { entity: { id: paymentId, entity: 'payment', amount: 4200, currency: 'INR', status: 'captured', notes: [] } },
      },
      created_at: Math.floor(Date.now() / 1000),
    };
    expect((await fetch(`${w.duka.baseUrl}/webhooks/razorpay`, signedWebhook(linkPaid))).status).toBe(200);
    expect((await paymentEvents(w.duka, { paymentId: payment!.id })).map((e) => e.outcome)).toEqual(['accepted', 'duplicate', 'accepted']);
    // An operator update after the signal: when it answers, the workflow has handled the signal before it.
    expect((await admin(w.duka, 'POST', `/api/admin/orders/${orderNumber}/status`, { status: 'PREPARING' }, { 'idempotency-key': `prep-${orderNumber}` })).status).toBe(200);
    await c.next();
    const after = await orderOf(w.duka, orderNumber);
    expect(after).toMatchObject({ status: 'PREPARING', paid: 4200, attention: null });
    expect(after.payments).toHaveLength(1);
    expect(receiptsTo(w.duka, c.waId)).toHaveLength(1);
  });
});
