import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { accountReferenceFor, createMpesaProvider, darajaPassword, darajaTimestamp, mpesaWebhook, parseMpesaWebhook, parseStkCallback } from '../../providers/payments/mpesa.ts';
import type { MpesaSettings } from '../../providers/payments/mpesa.ts';
import { InvalidCallbackError, PaymentDeclinedError, ProviderRejectedError, ProviderUnavailableError } from '../../providers/payments/types.ts';
import type { InitiateInput, PaymentProvider } from '../../providers/payments/types.ts';
import { createMpesaSimulator } from '../../sandbox/providers/mpesa.ts';
import type { MpesaSimulator } from '../../sandbox/providers/mpesa.ts';

const SANDBOX_PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919';
const PHONE = '254708374149';

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

/** Stands in for duka's /webhooks/mpesa: keeps every body Daraja posts. */
class CallbackReceiver {
  readonly bodies: unknown[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  readonly app = express();
  constructor() {
    this.app.post('/mpesa/callback/:token', express.json(), (req, res) => {
      this.bodies.push(req.body);
      this.waiters = this.waiters.filter((w) => (this.bodies.length >= w.count ? (w.resolve(), false) : true));
      res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
    });
  }
  received(count: number): Promise<void> {
    if (this.bodies.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

interface Harness {
  simulator: MpesaSimulator;
  settings: MpesaSettings;
  daraja: Listening;
  receiver: CallbackReceiver;
  receiverServer: Listening;
  calls: string[];
  provider: PaymentProvider;
  input(overrides?: Partial<InitiateInput['context']> & { amount?: number }): InitiateInput;
}

let h: Harness;
let run = 0;

async function harness(now?: () => Date): Promise<Harness> {
  run += 1;
  const credentials = { consumerKey: `key-${run}`, consumerSecret: `secret-${run}`, shortcode: '174379', passkey: SANDBOX_PASSKEY };
  const simulator = createMpesaSimulator(credentials);
  const app = express();
  app.use(simulator.router);
  const daraja = await listen(app);
  const receiver = new CallbackReceiver();
  const receiverServer = await listen(receiver.app);
  const calls: string[] = [];
  const countingFetch: typeof fetch = (url, init) => {
    calls.push(new URL(String(url)).pathname);
    return fetch(url, init);
  };
  const settings: MpesaSettings = { baseUrl: daraja.url, ...credentials };
  const provider = createMpesaProvider(settings, { fetch: countingFetch, ...(now ? { now } : {}) });
  return {
    simulator,
    settings,
    daraja,
    receiver,
    receiverServer,
    calls,
    provider,
    input: ({ amount = 150_000, ...context } = {}) => ({
      amount: { amount, currency: 'KES' },
      method: 'mpesa',
      context: {
        idempotencyKey: 'idem-1',
        reference: 'pay_01HXYZ',
        orderNumber: 'NBO-2025-000123',
        description: 'Order NBO-2025-000123 at Nairobi Demo',
        callbackUrl: `${receiverServer.url}/mpesa/callback/tok3n`,
        returnUrl: 'https://duka.example/return',
        customerPhone: PHONE,
        ...context,
      },
    }),
  };
}

describe('Daraja helpers', () => {
  test('password matches the documented sandbox sample', () => {
    expect(darajaPassword('174379', SANDBOX_PASSKEY, '20160216165627')).toBe(
      'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3',
    );
  });

  test('timestamp is Nairobi wall-clock time, also across midnight', () => {
    expect(darajaTimestamp(new Date('2025-03-01T11:30:05Z'))).toBe('20250301143005');
    expect(darajaTimestamp(new Date('2025-12-31T22:15:00Z'))).toBe('20260101011500');
  });

  test('account reference keeps the distinctive tail of the order number within 12 characters', () => {
    expect(accountReferenceFor('NBO-2025-000123')).toBe('BO2025000123');
    expect(accountReferenceFor('ORD8841')).toBe('ORD8841');
  });
});

describe('M-Pesa provider against the Daraja simulator', () => {
  beforeEach(async () => {
    h = await harness(() => new Date('2025-03-01T11:30:05Z'));
  });

  afterEach(async () => {
    h.simulator.control.close();
    await h.daraja.close();
    await h.receiverServer.close();
  });

  test('STK push carries whole shillings, Nairobi timestamp and the callback URL; the callback parses to succeeded', async () => {
    const result = await h.provider.initiate(h.input());
    expect(result.customerAction).toEqual({ type: 'approve_on_phone' });
    const [push] = h.simulator.control.pending();
    expect(push).toMatchObject({
      checkoutRequestId: result.providerReference,
      amount: 1500,
      phoneNumber: PHONE,
      partyB: '174379',
      transactionType: 'CustomerPayBillOnline',
      accountReference: 'BO2025000123',
      timestamp: '20250301143005',
      callbackUrl: `${h.receiverServer.url}/mpesa/callback/tok3n`,
    });
    expect(push?.transactionDesc.length).toBeLessThanOrEqual(13);
    expect(result.data).toEqual({ checkoutRequestId: push?.checkoutRequestId, merchantRequestId: push?.merchantRequestId });

    const deliveries = await h.simulator.control.complete(push!.checkoutRequestId, { resultCode: 0, receipt: 'SGR7OWQX0R' });
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.status).toBe(200);
    await h.receiver.received(1);
    const event = parseStkCallback(h.receiver.bodies[0]);
    expect(event).toMatchObject({
      providerReference: push!.checkoutRequestId,
      status: 'succeeded',
      amount: { amount: 150_000, currency: 'KES' },
      transactionReference: 'SGR7OWQX0R',
      dedupKey: `mpesa:${push!.checkoutRequestId}:0`,
    });
    expect(JSON.stringify(event.raw)).not.toContain(PHONE);

    const confirmed = await h.provider.status(result.data, { amount: 150_000, currency: 'KES' });
    expect(confirmed).toMatchObject({ status: 'succeeded', dedupKey: event.dedupKey });
  });

  test('status by STK query alone: "being processed" is pending, then the recorded result', async () => {
    const { data } = await h.provider.initiate(h.input());
    const before = await h.provider.status(data, { amount: 150_000, currency: 'KES' });
    expect(before.status).toBe('pending');

    await h.simulator.control.complete(String(data.checkoutRequestId), { resultCode: 0 }, { sendCallback: false });
    const after = await h.provider.status(data, { amount: 150_000, currency: 'KES' });
    expect(after.status).toBe('succeeded');
    expect(h.receiver.bodies).toHaveLength(0);
  });

  test.each([
    [1, 'failed', 'insufficient_funds'],
    [1032, 'cancelled', 'cancelled_by_customer'],
    [1037, 'failed', 'timeout'],
    [2001, 'failed', 'wrong_pin'],
    [1019, 'expired', 'expired'],
    [1001, 'pending', undefined],
    [4, 'failed', 'limit_exceeded'],
    [17, 'failed', 'declined'],
    [1025, 'failed', 'declined'],
  ] as const)('result code %i → %s (%s) by callback and by query', async (resultCode, status, reason) => {
    const { data } = await h.provider.initiate(h.input());
    const id = String(data.checkoutRequestId);
    await h.simulator.control.complete(id, { resultCode });
    await h.receiver.received(1);
    const fromCallback = parseStkCallback(h.receiver.bodies[0]);
    expect(fromCallback.status).toBe(status);
    expect(fromCallback.failureReason).toBe(reason);
    expect(fromCallback.amount).toBeUndefined();
    expect(fromCallback.dedupKey).toBe(`mpesa:${id}:${resultCode}`);

    const fromQuery = await h.provider.status(data, { amount: 150_000, currency: 'KES' });
    expect(fromQuery.status).toBe(status);
    expect(fromQuery.failureReason).toBe(reason);
  });

  test('one OAuth call serves two pushes and a query; a new token is fetched shortly before expiry', async () => {
    let clock = new Date('2025-03-01T11:30:05Z').getTime();
    h.simulator.control.close();
    await h.daraja.close();
    await h.receiverServer.close();
    h = await harness(() => new Date(clock));

    const first = await h.provider.initiate(h.input());
    await h.provider.initiate(h.input({ customerPhone: '254712345678' }));
    await h.provider.status(first.data, { amount: 150_000, currency: 'KES' });
    expect(h.calls.filter((p) => p === '/oauth/v1/generate')).toHaveLength(1);

    // A second provider from the same credentials (a fresh activity) shares the token.
    const again = createMpesaProvider({ ...h.settings }, { fetch: (url, init) => (h.calls.push(new URL(String(url)).pathname), fetch(url, init)), now: () => new Date(clock) });
    await again.status(first.data, { amount: 150_000, currency: 'KES' });
    expect(h.calls.filter((p) => p === '/oauth/v1/generate')).toHaveLength(1);

    clock += 3_550_000;
    await h.provider.status(first.data, { amount: 150_000, currency: 'KES' });
    expect(h.calls.filter((p) => p === '/oauth/v1/generate')).toHaveLength(2);
  });

  test('a token Daraja no longer accepts is replaced once, transparently', async () => {
    let spoil = false;
    const provider = createMpesaProvider(
      { ...h.settings, consumerKey: `${h.settings.consumerKey}` },
      {
        fetch: (url, init) => {
          const headers = new Headers(init?.headers);
          if (spoil && headers.get('authorization')?.startsWith('Bearer ')) {
            spoil = false;
            headers.set('authorization', 'Bearer revoked');
          }
          return fetch(url, { ...init, headers });
        },
      },
    );
    await provider.initiate(h.input());
    spoil = true;
    await expect(provider.initiate(h.input({ customerPhone: '254712345678' }))).resolves.toMatchObject({ customerAction: { type: 'approve_on_phone' } });
    expect(h.simulator.control.pending()).toHaveLength(2);
  });

  test('Daraja down → a plain (retryable) Error, then recovery', async () => {
    h.simulator.control.setBehaviour({ down: true });
    const failure = await h.provider.initiate(h.input()).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ProviderRejectedError);
    expect(failure).not.toBeInstanceOf(PaymentDeclinedError);

    h.simulator.control.setBehaviour({ down: false });
    await expect(h.provider.initiate(h.input())).resolves.toMatchObject({ customerAction: { type: 'approve_on_phone' } });
  });

  test('unreachable Daraja → a plain (retryable) Error', async () => {
    const provider = createMpesaProvider({ ...h.settings, baseUrl: 'http://127.0.0.1:1', consumerKey: 'nobody-home' });
    const failure = await provider.initiate(h.input()).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ProviderRejectedError);
  });

  test('down or unreachable is a ProviderUnavailableError: Daraja certainly took nothing, so a retry may push', async () => {
    h.simulator.control.setBehaviour({ down: true });
    await expect(h.provider.initiate(h.input())).rejects.toBeInstanceOf(ProviderUnavailableError);
    h.simulator.control.setBehaviour({ down: false });
    const nobody = createMpesaProvider({ ...h.settings, baseUrl: 'http://127.0.0.1:1', consumerKey: 'nobody-home-2' });
    await expect(nobody.initiate(h.input())).rejects.toBeInstanceOf(ProviderUnavailableError);
  });

  test('a push Daraja took but answered too late is a plain Error (it may be on the phone), after the HTTP timeout', async () => {
    const quick = createMpesaProvider(h.settings, { timeoutMs: 300 });
    h.simulator.control.setBehaviour({ pushAnswerDelayMs: 5_000 });
    const started = Date.now();
    const failure = await quick.initiate(h.input()).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ProviderUnavailableError);
    expect(failure).not.toBeInstanceOf(ProviderRejectedError);
    expect((failure as Error).message).toMatch(/no answer in time/);
    expect(h.simulator.control.pending()).toHaveLength(1);
    // The answer is lost: nothing to look the push up by, so the provider says to wait for its callback.
    expect(await quick.recoverLost!(h.input())).toEqual({ kind: 'wait', customerAction: { type: 'approve_on_phone' } });
  });

  test('the callback carries what a payment whose push answer was lost needs to be queried', async () => {
    const { data } = await h.provider.initiate(h.input());
    await h.simulator.control.complete(String(data.checkoutRequestId), { resultCode: 0 });
    await h.receiver.received(1);
    expect(parseStkCallback(h.receiver.bodies[0]).providerData).toEqual(data);
  });

  test('a query for a CheckoutRequestID Daraja does not know is a ProviderRejectedError', async () => {
    await expect(h.provider.status({ checkoutRequestId: 'ws_CO_unknown' }, { amount: 150_000, currency: 'KES' })).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('a number Daraja rejects → PaymentDeclinedError(invalid_number); no number at all likewise', async () => {
    const rejected = await h.provider.initiate(h.input({ customerPhone: '254612345678' })).catch((err: unknown) => err);
    expect(rejected).toBeInstanceOf(PaymentDeclinedError);
    expect((rejected as PaymentDeclinedError).reason).toBe('invalid_number');
    expect((rejected as Error).message).not.toContain('254612345678');

    const { customerPhone: _omitted, ...context } = h.input().context;
    await expect(h.provider.initiate({ ...h.input(), context })).rejects.toBeInstanceOf(PaymentDeclinedError);
  });

  test('amounts with cents and non-KES currencies are refused before any call', async () => {
    await expect(h.provider.initiate(h.input({ amount: 150_050 }))).rejects.toBeInstanceOf(ProviderRejectedError);
    await expect(h.provider.initiate({ ...h.input(), amount: { amount: 1000, currency: 'USD' } })).rejects.toBeInstanceOf(ProviderRejectedError);
    expect(h.calls).toHaveLength(0);
  });

  test('wrong passkey or consumer secret → ProviderRejectedError', async () => {
    const badPasskey = createMpesaProvider({ ...h.settings, passkey: 'not-the-passkey' });
    await expect(badPasskey.initiate(h.input())).rejects.toBeInstanceOf(ProviderRejectedError);
    const badSecret = createMpesaProvider({ ...h.settings, consumerKey: 'other-key', consumerSecret: 'wrong' });
    await expect(badSecret.initiate(h.input())).rejects.toBeInstanceOf(ProviderRejectedError);
  });

  test('till payments send the till as PartyB', async () => {
    const till = createMpesaProvider({ ...h.settings, transactionType: 'CustomerBuyGoodsOnline', partyB: '600980' });
    await till.initiate(h.input());
    expect(h.simulator.control.pending()[0]).toMatchObject({ transactionType: 'CustomerBuyGoodsOnline', partyB: '600980' });
  });

  test('duplicate callbacks share one dedup key; dropped callbacks leave the query to tell', async () => {
    h.simulator.control.setBehaviour({ duplicateCallbacks: true });
    const first = await h.provider.initiate(h.input());
    await h.simulator.control.complete(String(first.data.checkoutRequestId), { resultCode: 0 });
    await h.receiver.received(2);
    const [a, b] = h.receiver.bodies.map((body) => parseStkCallback(body));
    expect(a?.dedupKey).toBe(b?.dedupKey);

    h.simulator.control.setBehaviour({ duplicateCallbacks: false, dropCallbacks: true });
    const second = await h.provider.initiate(h.input({ customerPhone: '254712345678' }));
    expect(await h.simulator.control.complete(String(second.data.checkoutRequestId), { resultCode: 1032 })).toEqual([]);
    expect(h.receiver.bodies).toHaveLength(2);
    await expect(h.provider.status(second.data, { amount: 150_000, currency: 'KES' })).resolves.toMatchObject({ status: 'cancelled' });
  });

  test('auto-complete answers the prompt by itself, after a delay', async () => {
    h.simulator.control.setBehaviour({ autoComplete: { resultCode: 0, afterMs: 20 }, callbackDelayMs: 10 });
    const pushes: string[] = [];
    h.simulator.control.onPush((push) => pushes.push(push.checkoutRequestId));
    const { providerReference } = await h.provider.initiate(h.input());
    expect(pushes).toEqual([providerReference]);
    await h.receiver.received(1);
    expect(parseStkCallback(h.receiver.bodies[0])).toMatchObject({ status: 'succeeded', providerReference });
    expect(h.simulator.control.result(providerReference!)?.receipt).toMatch(/^[A-Z0-9]{10}$/);
  });

  test('a prompt nobody answers expires as on Daraja: callback 1037, and the STK query answers it instead of "being processed"', async () => {
    expect(h.simulator.control.behaviour().promptExpiry).toEqual({ afterMs: 60_000, resultCode: 1037 });
    h.simulator.control.setBehaviour({ promptExpiry: { afterMs: 50, resultCode: 1037 } });
    const { data } = await h.provider.initiate(h.input());
    await expect(h.provider.status(data, { amount: 150_000, currency: 'KES' })).resolves.toMatchObject({ status: 'pending' });
    await h.receiver.received(1);
    expect(parseStkCallback(h.receiver.bodies[0])).toMatchObject({ status: 'failed', failureReason: 'timeout' });
    await expect(h.provider.status(data, { amount: 150_000, currency: 'KES' })).resolves.toMatchObject({ status: 'failed', failureReason: 'timeout' });
    expect(h.simulator.control.pending()).toEqual([]);
  });
});

describe('parseStkCallback', () => {
  const success = (items: unknown[]) => ({
    Body: {
      stkCallback: {
        MerchantRequestID: '29115-34620561-1',
        CheckoutRequestID: 'ws_CO_191220191020363925',
        ResultCode: 0,
        ResultDesc: 'The service request is processed successfully.',
        CallbackMetadata: { Item: items },
      },
    },
  });

  test('reads items by name whatever their order, with a valueless Balance', () => {
    const event = parseStkCallback(
      success([
        { Name: 'PhoneNumber', Value: 254712345678 },
        { Name: 'Balance' },
        { Name: 'MpesaReceiptNumber', Value: 'SGR7OWQX0R' },
        { Name: 'TransactionDate', Value: 20250301143112 },
        { Name: 'Amount', Value: 150.0 },
      ]),
    );
    expect(event).toMatchObject({ status: 'succeeded', amount: { amount: 15_000, currency: 'KES' }, transactionReference: 'SGR7OWQX0R' });
    expect(JSON.stringify(event.raw)).not.toContain('254712345678');
  });

  test('rejects bodies that are not an STK callback, and successes without receipt or amount', () => {
    expect(() => parseStkCallback({})).toThrow(InvalidCallbackError);
    expect(() => parseStkCallback('nonsense')).toThrow(InvalidCallbackError);
    expect(() => parseStkCallback({ Body: { stkCallback: { CheckoutRequestID: 'x', ResultCode: 0 } } })).toThrow(InvalidCallbackError);
    expect(() => parseStkCallback(success([{ Name: 'Amount', Value: 150 }, { Name: 'PhoneNumber', Value: 254712345678 }]))).toThrow(InvalidCallbackError);
    expect(() => parseStkCallback(success([{ Name: 'MpesaReceiptNumber', Value: 'X' }, { Name: 'PhoneNumber', Value: 254712345678 }]))).toThrow(InvalidCallbackError);
  });

  test('the provider reads its own webhook: on the payment\'s token, about its own push, else forged; not a callback, malformed', () => {
    const request = (body: unknown, pathToken?: string) => ({ rawBody: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), header: () => undefined, ...(pathToken ? { pathToken } : {}) });
    const cancelled = { Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'ws_CO_1', ResultCode: 1032, ResultDesc: 'Request cancelled by user' } } };
    expect(mpesaWebhook.claim(request(cancelled, 'tok'))).toEqual({ by: 'callbackToken', value: 'tok' });
    expect(mpesaWebhook.claim(request(cancelled))).toBeNull();
    const payment = { reference: 'r', currency: 'KES' as const, providerReference: 'ws_CO_1' };
    expect(parseMpesaWebhook(request(cancelled), payment)).toMatchObject({ action: 'cancelled', data: { status: 'cancelled', providerReference: 'ws_CO_1' } });
    expect(parseMpesaWebhook(request(cancelled), { ...payment, providerReference: 'ws_CO_2' })).toMatchObject({ action: 'forged' });
    expect(parseMpesaWebhook(request(cancelled), { ...payment, providerReference: null })).toMatchObject({ action: 'cancelled', data: { providerData: { checkoutRequestId: 'ws_CO_1' } } });
    expect(parseMpesaWebhook(request(cancelled), null)).toMatchObject({ action: 'forged' });
    expect(parseMpesaWebhook(request('{oops'), payment)).toMatchObject({ action: 'malformed' });
    expect(parseMpesaWebhook(request({ Body: {} }), payment)).toMatchObject({ action: 'malformed' });
  });

  test('accepts a string ResultCode', () => {
    const body = { Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: '1032', ResultDesc: 'Request cancelled by user' } } };
    expect(parseStkCallback(body)).toMatchObject({ status: 'cancelled', failureReason: 'cancelled_by_customer', failureMessage: 'Request cancelled by user', dedupKey: 'mpesa:c:1032' });
  });
});
