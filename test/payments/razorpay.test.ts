import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import express from 'express';
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import Razorpay from 'razorpay';
import type { validatePaymentVerification as ValidatePaymentVerification } from 'razorpay/dist/utils/razorpay-utils.js';
import {
  createRazorpayProvider,
  parseRazorpayWebhook,
  razorpayWebhook,
  referenceFromRazorpayWebhook,
  verifyRazorpaySignature,
} from '../../providers/payments/razorpay.ts';
import type { RazorpaySettings } from '../../providers/payments/razorpay.ts';
import { InvalidCallbackError, PaymentDeclinedError, ProviderRejectedError } from '../../providers/payments/types.ts';
import type { InitiateInput, PaymentProvider } from '../../providers/payments/types.ts';
import { createRazorpaySimulator } from '../../sandbox/providers/razorpay.ts';
import type { RazorpaySimulator } from '../../sandbox/providers/razorpay.ts';

/** The SDK exposes payment-link verification only from its utils module, which is CommonJS. */
const razorpayUtils = createRequire(import.meta.url)('razorpay/dist/utils/razorpay-utils') as { validatePaymentVerification: typeof ValidatePaymentVerification };

const WEBHOOK_SECRET = 'whsec-test-1234';
const EXPIRES_AT = Math.floor(Date.now() / 1000) + 3600;

interface Listening {
  url: string;
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Listening> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

interface Delivery {
  raw: Buffer;
  signature: string | undefined;
  eventId: string | undefined;
}

/** Stands in for duka's /webhooks/razorpay: keeps the raw bytes, as signature checks need them. */
class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  readonly app = express();
  constructor() {
    this.app.post('/webhooks/razorpay', express.raw({ type: '*/*' }), (req, res) => {
      this.deliveries.push({ raw: req.body as Buffer, signature: req.get('x-razorpay-signature'), eventId: req.get('x-razorpay-event-id') });
      this.waiters = this.waiters.filter((w) => (this.deliveries.length >= w.count ? (w.resolve(), false) : true));
      res.json({ ok: true });
    });
  }
  received(count: number): Promise<Delivery[]> {
    if (this.deliveries.length >= count) return Promise.resolve(this.deliveries);
    return new Promise((resolve) => this.waiters.push({ count, resolve: () => resolve(this.deliveries) }));
  }
}

let simulator: RazorpaySimulator;
let api: Listening;
let receiver: WebhookReceiver;
let receiverServer: Listening;
let settings: RazorpaySettings;
let provider: PaymentProvider;
let counter = 0;

function input(overrides: Partial<InitiateInput['context']> & { amount?: number } = {}): InitiateInput {
  const { amount = 204_800, ...context } = overrides;
  return {
    amount: { amount, currency: 'INR' },
    method: 'razorpay_link',
    context: {
      idempotencyKey: `idem-${counter}`,
      reference: `pay_ref_${counter}`,
      orderNumber: 'PUN-000042',
      description: 'Order PUN-000042 via WhatsApp',
      callbackUrl: 'https://duka.example/webhooks/razorpay',
      returnUrl: 'https://duka.example/pay/return',
      customerPhone: '919812345678',
      customerName: 'Asha Rao',
      expiresAt: EXPIRES_AT,
      ...context,
    },
  };
}

beforeEach(async () => {
  counter += 1;
  receiver = new WebhookReceiver();
  receiverServer = await listen(receiver.app);
  const keys = { keyId: 'rzp_test_duka', keySecret: 'key-secret-abc' };
  simulator = createRazorpaySimulator({ ...keys, webhookSecret: WEBHOOK_SECRET, webhookUrl: `${receiverServer.url}/webhooks/razorpay` });
  const app = express();
  app.use(simulator.router);
  api = await listen(app);
  settings = { baseUrl: api.url, ...keys, webhookSecret: WEBHOOK_SECRET };
  provider = createRazorpayProvider(settings);
});

afterEach(async () => {
  await api.close();
  await receiverServer.close();
});

async function verifiedEvent(index: number) {
  const deliveries = await receiver.received(index + 1);
  const delivery = deliveries[index]!;
  expect(verifyRazorpaySignature(delivery.raw, delivery.signature, WEBHOOK_SECRET)).toBe(true);
  return { delivery, event: parseRazorpayWebhook(delivery.raw, delivery.eventId) };
}

describe('Razorpay provider against the simulator', () => {
  test('creates a link in paise with duka reference, customer and expiry, and hands back the short URL', async () => {
    const result = await provider.initiate(input());
    const link = simulator.control.link(result.providerReference!);
    expect(link).toMatchObject({
      amount: 204_800,
      currency: 'INR',
      reference_id: `pay_ref_${counter}`,
      customer: { name: 'Asha Rao', contact: '+919812345678' },
      notify: { sms: false, email: false },
      expire_by: EXPIRES_AT,
      callback_url: 'https://duka.example/pay/return',
      callback_method: 'get',
      accept_partial: false,
      status: 'created',
    });
    expect(result).toEqual({
      providerReference: link!.id,
      data: { paymentLinkId: link!.id, shortUrl: link!.short_url },
      customerAction: { type: 'open_url', url: link!.short_url },
    });
    const page = await fetch(link!.short_url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('INR 2048.00');
  });

  test('paid: the webhook is signed, verified and parsed; status agrees', async () => {
    const { data } = await provider.initiate(input());
    await expect(provider.status(data, { amount: 204_800, currency: 'INR' })).resolves.toMatchObject({ status: 'pending' });

    await simulator.control.pay(String(data.paymentLinkId));
    const { delivery, event } = await verifiedEvent(0);
    expect(event).toMatchObject({
      reference: `pay_ref_${counter}`,
      providerReference: data.paymentLinkId,
      status: 'succeeded',
      amount: { amount: 204_800, currency: 'INR' },
      dedupKey: `razorpay:${delivery.eventId}`,
    });
    expect(event?.transactionReference).toMatch(/^pay_/);
    expect(JSON.stringify(event?.raw)).not.toContain('9812345678');
    expect(referenceFromRazorpayWebhook(delivery.raw)).toBe(`pay_ref_${counter}`);

    await expect(provider.status(data, { amount: 204_800, currency: 'INR' })).resolves.toMatchObject({
      status: 'succeeded',
      amount: { amount: 204_800, currency: 'INR' },
      transactionReference: event?.transactionReference,
    });
  });

  test('a webhook subscribed only to payment.captured (seed 004) gets that one event, which names the link and pays', async () => {
    simulator.control.setBehaviour({ subscribedEvents: ['payment.captured'], notesOnPayments: false });
    try {
      const { data } = await provider.initiate(input());
      const sent = await simulator.control.pay(String(data.paymentLinkId));
      expect(sent.map((d) => d.event)).toEqual(['payment.captured']);
      const { delivery, event } = await verifiedEvent(0);
      expect(razorpayWebhook.claim({ rawBody: delivery.raw, header: () => undefined })).toEqual({ by: 'providerReference', value: data.paymentLinkId });
      const paymentId = simulator.control.link(String(data.paymentLinkId))!.payments![0]!.payment_id;
      expect(event).toMatchObject({ providerReference: data.paymentLinkId, status: 'succeeded', amount: { amount: 204_800, currency: 'INR' }, transactionReference: paymentId });
    } finally {
      simulator.control.setBehaviour({ subscribedEvents: undefined, notesOnPayments: undefined });
    }
  });

  test('subscribed to both, payment.captured comes first and payment_link.paid after, for the same payment', async () => {
    simulator.control.setBehaviour({ subscribedEvents: ['payment.captured', 'payment_link.paid'] });
    try {
      const { data } = await provider.initiate(input());
      const sent = await simulator.control.pay(String(data.paymentLinkId));
      expect(sent.map((d) => d.event)).toEqual(['payment.captured', 'payment_link.paid']);
      const first = await verifiedEvent(0);
      const second = await verifiedEvent(1);
      expect(first.event?.dedupKey).not.toBe(second.event?.dedupKey);
      expect(first.event?.transactionReference).toBe(second.event?.transactionReference);
      expect(first.event?.reference).toBe(`pay_ref_${counter}`);
      expect(second.event?.reference).toBe(`pay_ref_${counter}`);
    } finally {
      simulator.control.setBehaviour({ subscribedEvents: undefined });
    }
  });

  test('expired: webhook and status', async () => {
    const { data } = await provider.initiate(input());
    await simulator.control.expire(String(data.paymentLinkId));
    const { event } = await verifiedEvent(0);
    expect(event).toMatchObject({ status: 'expired', failureReason: 'expired', providerReference: data.paymentLinkId, reference: `pay_ref_${counter}` });
    await expect(provider.status(data, { amount: 204_800, currency: 'INR' })).resolves.toMatchObject({ status: 'expired' });
  });

  test('cancelled through the provider: webhook, status, and a repeated cancel is harmless', async () => {
    const { data } = await provider.initiate(input());
    await provider.cancel!(data);
    const { event } = await verifiedEvent(0);
    expect(event).toMatchObject({ status: 'cancelled', providerReference: data.paymentLinkId, reference: `pay_ref_${counter}` });
    await expect(provider.status(data, { amount: 204_800, currency: 'INR' })).resolves.toMatchObject({ status: 'cancelled' });
    await expect(provider.cancel!(data)).resolves.toBeUndefined();
  });

  test('cancelling a paid link is refused', async () => {
    const { data } = await provider.initiate(input());
    await simulator.control.pay(String(data.paymentLinkId));
    await expect(provider.cancel!(data)).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('payment.failed: parsed with the reference from the payment notes; the link stays payable', async () => {
    const { data } = await provider.initiate(input());
    await simulator.control.fail(String(data.paymentLinkId));
    const { delivery, event } = await verifiedEvent(0);
    expect(event).toMatchObject({ status: 'failed', failureReason: 'declined', reference: `pay_ref_${counter}`, amount: { amount: 204_800, currency: 'INR' } });
    expect(event?.failureMessage).toBeTruthy();
    expect(referenceFromRazorpayWebhook(delivery.raw)).toBe(`pay_ref_${counter}`);
    await expect(provider.status(data, { amount: 204_800, currency: 'INR' })).resolves.toMatchObject({ status: 'pending' });
  });

  test('a forged or re-signed webhook is rejected', async () => {
    const { data } = await provider.initiate(input());
    await simulator.control.pay(String(data.paymentLinkId));
    const [delivery] = await receiver.received(1);
    const tampered = Buffer.from(delivery!.raw.toString('utf8').replace('"amount_paid":204800', '"amount_paid":1'));
    expect(tampered.equals(delivery!.raw)).toBe(false);
    expect(verifyRazorpaySignature(tampered, delivery!.signature, WEBHOOK_SECRET)).toBe(false);
    expect(verifyRazorpaySignature(delivery!.raw, delivery!.signature, 'another-shops-secret')).toBe(false);
    expect(verifyRazorpaySignature(delivery!.raw, undefined, WEBHOOK_SECRET)).toBe(false);
    expect(verifyRazorpaySignature(delivery!.raw, delivery!.signature!.slice(1), WEBHOOK_SECRET)).toBe(false);
    expect(verifyRazorpaySignature(delivery!.raw, delivery!.signature, '')).toBe(false);
  });

  test('a retried create (duplicate reference_id) returns the link the first attempt made', async () => {
    const first = await provider.initiate(input());
    const retried = await provider.initiate(input());
    expect(retried).toEqual(first);
    expect(simulator.control.links()).toHaveLength(1);

    await expect(provider.initiate(input({ amount: 100_000 }))).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('a create whose answer was lost is found by its reference_id; none found means none was made', async () => {
    const first = await provider.initiate(input());
    await expect(provider.recoverLost!(input())).resolves.toEqual({ kind: 'found', result: first });
    counter += 1;
    await expect(provider.recoverLost!(input())).resolves.toEqual({ kind: 'absent' });
    expect(simulator.control.links()).toHaveLength(1);
  });

  test('refunds the captured payment of a paid link', async () => {
    const { data } = await provider.initiate(input());
    await simulator.control.pay(String(data.paymentLinkId));
    const refund = await provider.refund!(data, { amount: 100_000, currency: 'INR' });
    expect(refund).toMatchObject({ status: 'succeeded', providerReference: expect.stringMatching(/^rfnd_/) });
    await expect(provider.refund!(data, { amount: 200_000, currency: 'INR' })).rejects.toBeInstanceOf(ProviderRejectedError);
    await expect(provider.refund!(data, { amount: 104_800, currency: 'INR' })).resolves.toMatchObject({ status: 'succeeded' });
  });

  test('refunding an unpaid link is refused', async () => {
    const { data } = await provider.initiate(input());
    await expect(provider.refund!(data, { amount: 100_000, currency: 'INR' })).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('Razorpay down → a plain (retryable) Error; bad keys → ProviderRejectedError', async () => {
    simulator.control.setBehaviour({ down: true });
    const failure = await provider.initiate(input()).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ProviderRejectedError);
    expect(failure).not.toBeInstanceOf(PaymentDeclinedError);
    simulator.control.setBehaviour({ down: false });

    const wrongKeys = createRazorpayProvider({ ...settings, keySecret: 'wrong' });
    await expect(wrongKeys.initiate(input())).rejects.toBeInstanceOf(ProviderRejectedError);
    await expect(provider.initiate({ ...input(), method: 'mpesa' })).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('duplicate deliveries share the event id and so the dedup key; dropped ones never arrive', async () => {
    simulator.control.setBehaviour({ duplicateCallbacks: true, callbackDelayMs: 5 });
    const { data } = await provider.initiate(input());
    await simulator.control.pay(String(data.paymentLinkId));
    const [a, b] = await receiver.received(2);
    expect(parseRazorpayWebhook(a!.raw, a!.eventId)?.dedupKey).toBe(parseRazorpayWebhook(b!.raw, b!.eventId)?.dedupKey);

    simulator.control.setBehaviour({ duplicateCallbacks: false, dropCallbacks: true });
    const second = await provider.initiate(input({ reference: `pay_ref_${counter}_b` }));
    await expect(simulator.control.expire(String(second.data.paymentLinkId))).resolves.toEqual([]);
    expect(receiver.deliveries).toHaveLength(2);
  });

  test('hosted page: Pay redirects to callback_url with a signature the SDK accepts, and sends the webhook', async () => {
    const { data } = await provider.initiate(input());
    const page = await fetch(String(data.shortUrl));
    const html = await page.text();
    const action = /action="([^"]+\/pay)"/.exec(html)?.[1];
    expect(action).toBeDefined();
    const paid = await fetch(action!, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    const target = new URL(paid.headers.get('location')!);
    expect(target.origin + target.pathname).toBe('https://duka.example/pay/return');
    const q = Object.fromEntries(target.searchParams);
    const signed = {
      payment_id: q.razorpay_payment_id!,
      payment_link_id: q.razorpay_payment_link_id!,
      payment_link_reference_id: q.razorpay_payment_link_reference_id!,
      payment_link_status: q.razorpay_payment_link_status!,
    };
    expect(razorpayUtils.validatePaymentVerification(signed, q.razorpay_signature!, 'key-secret-abc')).toBe(true);
    expect(razorpayUtils.validatePaymentVerification({ ...signed, payment_link_status: 'partially_paid' }, q.razorpay_signature!, 'key-secret-abc')).toBe(false);
    expect(q).toMatchObject({ razorpay_payment_link_id: data.paymentLinkId, razorpay_payment_link_status: 'paid', razorpay_payment_link_reference_id: `pay_ref_${counter}` });
    const { event } = await verifiedEvent(0);
    expect(event).toMatchObject({ status: 'succeeded', transactionReference: q.razorpay_payment_id });
  });
});

describe('Razorpay webhooks', () => {
  const body = (event: unknown) => Buffer.from(JSON.stringify(event));
  const sign = (raw: Buffer, secret = WEBHOOK_SECRET) => createHmac('sha256', secret).update(raw).digest('hex');

  test('signature check agrees with the official SDK, including non-ASCII bodies', () => {
    const samples = [
      body({ entity: 'event', event: 'payment_link.paid', payload: {} }),
      body({ entity: 'event', event: 'payment_link.paid', payload: { note: 'Chai ☕ – ₹20' } }),
    ];
    for (const raw of samples) {
      const good = sign(raw);
      const forged = sign(raw, 'not-the-secret');
      expect(verifyRazorpaySignature(raw, good, WEBHOOK_SECRET)).toBe(Razorpay.validateWebhookSignature(raw.toString(), good, WEBHOOK_SECRET));
      expect(verifyRazorpaySignature(raw, good, WEBHOOK_SECRET)).toBe(true);
      expect(verifyRazorpaySignature(raw, forged, WEBHOOK_SECRET)).toBe(Razorpay.validateWebhookSignature(raw.toString(), forged, WEBHOOK_SECRET));
      expect(verifyRazorpaySignature(raw, forged, WEBHOOK_SECRET)).toBe(false);
    }
  });

  test('the provider reads its own webhook: verified with its secret, then normalised or not supported', async () => {
    const request = (raw: Buffer, signature: string, eventId?: string) => ({
      rawBody: raw,
      header: (name: string) => ({ 'x-razorpay-signature': signature, 'x-razorpay-event-id': eventId })[name],
    });
    const payment = { reference: 'r1', currency: 'INR' as const, providerReference: 'plink_1' };
    const expired = body({
      entity: 'event',
      event: 'payment_link.expired',
      payload: { payment_link: { entity: { id: 'plink_1', status: 'expired', amount: 100, amount_paid: 0, currency: 'INR', reference_id: 'r1', notes: [] } } },
    });
    expect(razorpayWebhook.claim(request(expired, sign(expired)))).toEqual({ by: 'reference', value: 'r1' });
    expect(await provider.parseWebhook!(request(expired, sign(expired), 'evt_9'), payment)).toMatchObject({ action: 'expired', data: { dedupKey: 'razorpay:evt_9', reference: 'r1' } });
    expect(await provider.parseWebhook!(request(expired, sign(expired, 'other-secret')), payment)).toMatchObject({ action: 'forged' });
    const orderPaid = body({ entity: 'event', event: 'order.paid', contains: ['payment', 'order'], payload: { payment: { entity: { id: 'pay_1', contact: '+919812345678' } } } });
    const ignored = await provider.parseWebhook!(request(orderPaid, sign(orderPaid), 'evt_10'), null);
    expect(ignored).toMatchObject({ action: 'not_supported', data: { dedupKey: 'razorpay:evt_10' } });
    expect(JSON.stringify(ignored.data)).not.toContain('9812345678');
    const broken = body({ entity: 'event', event: 'payment_link.paid', payload: {} });
    expect(await provider.parseWebhook!(request(broken, sign(broken)), payment)).toMatchObject({ action: 'malformed' });
  });

  test('events duka does not act on are recognised and left alone', () => {
    const raw = body({ entity: 'event', event: 'order.paid', contains: ['payment', 'order'], payload: { payment: { entity: { id: 'pay_1' } } }, created_at: 1 });
    expect(parseRazorpayWebhook(raw, 'evt1')).toBeNull();
  });

  test('payment.captured pays: the link is found by the notes, or by the description when the notes are empty', () => {
    const captured = (notes: unknown, description = '#Qfl1abcDEF23') =>
      body({
        entity: 'event',
        event: 'payment.captured',
        contains: ['payment'],
        payload: { payment: { entity: { id: 'pay_9', entity: 'payment', amount: 4200, currency: 'INR', status: 'captured', order_id: 'order_X1', description, contact: '+919812345678', notes } } },
      });
    const withNotes = captured({ duka_reference: 'r1', order_number: 'PNQ-1' });
    expect(razorpayWebhook.claim({ rawBody: withNotes, header: () => undefined })).toEqual({ by: 'reference', value: 'r1' });
    expect(parseRazorpayWebhook(withNotes, 'evt_c1')).toMatchObject({
      reference: 'r1',
      providerReference: 'plink_Qfl1abcDEF23',
      status: 'succeeded',
      amount: { amount: 4200, currency: 'INR' },
      transactionReference: 'pay_9',
      dedupKey: 'razorpay:evt_c1',
    });
    expect(JSON.stringify(parseRazorpayWebhook(withNotes, 'evt_c1')?.raw)).not.toContain('9812345678');
    const bare = captured([]);
    expect(razorpayWebhook.claim({ rawBody: bare, header: () => undefined })).toEqual({ by: 'providerReference', value: 'plink_Qfl1abcDEF23' });
    const event = parseRazorpayWebhook(bare, 'evt_c2');
    expect(event).toMatchObject({ providerReference: 'plink_Qfl1abcDEF23', status: 'succeeded', transactionReference: 'pay_9' });
    expect(event?.reference).toBeUndefined();
    // A payment made elsewhere on the account (no notes, no link in its description) names no duka payment.
    expect(razorpayWebhook.claim({ rawBody: captured([], 'Checkout order 7'), header: () => undefined })).toBeNull();
  });

  test('malformed bodies are InvalidCallbackError; the reference lookup never throws', () => {
    expect(() => parseRazorpayWebhook(Buffer.from('not json'), 'e')).toThrow(InvalidCallbackError);
    expect(() => parseRazorpayWebhook(body({ event: 'payment_link.paid' }), 'e')).toThrow(InvalidCallbackError);
    expect(() => parseRazorpayWebhook(body({ entity: 'event', event: 'payment_link.paid', payload: { payment_link: { entity: { id: 'plink_1' } } } }), 'e')).toThrow(
      InvalidCallbackError,
    );
    expect(referenceFromRazorpayWebhook(Buffer.from('not json'))).toBeUndefined();
    expect(referenceFromRazorpayWebhook(body(null))).toBeUndefined();
    expect(referenceFromRazorpayWebhook(body({ payload: { payment_link: { entity: { reference_id: 42 } } } }))).toBeUndefined();
  });

  test('without an event id the dedup key is a hash of the body', () => {
    const raw = body({
      entity: 'event',
      event: 'payment_link.expired',
      payload: { payment_link: { entity: { id: 'plink_1', status: 'expired', amount: 100, amount_paid: 0, currency: 'INR', reference_id: 'r1', notes: [] } } },
    });
    const a = parseRazorpayWebhook(raw, undefined);
    expect(a?.dedupKey).toMatch(/^razorpay:sha256:[0-9a-f]{64}$/);
    expect(parseRazorpayWebhook(raw, undefined)?.dedupKey).toBe(a?.dedupKey);
  });

  test('partially paid links stay pending with the amount paid so far', () => {
    const raw = body({
      entity: 'event',
      event: 'payment_link.partially_paid',
      payload: {
        payment_link: { entity: { id: 'plink_1', status: 'partially_paid', amount: 1000, amount_paid: 400, currency: 'INR', reference_id: 'r1', notes: [] } },
        payment: { entity: { id: 'pay_1', amount: 400, currency: 'INR', status: 'captured', notes: [] } },
      },
    });
    expect(parseRazorpayWebhook(raw, 'e1')).toMatchObject({ status: 'pending', amount: { amount: 400, currency: 'INR' }, transactionReference: 'pay_1', reference: 'r1' });
  });
});
