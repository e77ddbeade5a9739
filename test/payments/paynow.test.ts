import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import express from 'express';
import { money } from '../../domain/money.ts';
import {
  createPaynowProvider,
  paynowHash,
  parsePaynowFields,
  parsePaynowStatusUpdate,
  paynowWebhook,
  referenceFromPaynowUpdate,
  signPaynowFields,
  verifyPaynowHash,
} from '../../providers/payments/paynow.ts';
import {
  CallbackSignatureError,
  InvalidCallbackError,
  PaymentDeclinedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  type PaymentContext,
  type PaymentProvider,
} from '../../providers/payments/types.ts';
import { createPaynowSimulator, type PaynowSimulatorControl, type SimulatedPaynowTransaction } from '../../sandbox/providers/paynow.ts';

/** The official SDK ships no type declarations; these are the parts the interop checks call. */
interface SdkPayment {
  add(title: string, amount: number): SdkPayment;
}
interface SdkPaynow {
  generateHash(values: Record<string, string>, integrationKey: string): string;
  verifyHash(values: Record<string, string>): boolean;
  parseQuery(query: string): Record<string, string>;
  parse(response: string): { success: boolean; pollUrl: string; redirectUrl?: string };
  parseStatusUpdate(body: string): { reference: string; amount: string; paynowReference: string; pollUrl: string; status: string };
  createPayment(reference: string, authEmail: string): SdkPayment;
  buildMobile(payment: SdkPayment, phone: string, method: string): Record<string, string>;
}
const sdk = createRequire(import.meta.url)('paynow') as {
  Paynow: new (integrationId: string, integrationKey: string, resultUrl: string, returnUrl: string) => SdkPaynow;
};

const DOC_KEY = '3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977';
const INTEGRATION_ID = '1201';
const INTEGRATION_KEY = '9f3c2a51-7d4e-4b8a-a1c6-2e5f0d9b7c34';
const USD_15 = money(1500, 'USD');

interface Listening {
  url: string;
  close(): Promise<void>;
}

async function listen(app: express.Express): Promise<Listening> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** duka's side of the resulturl: keeps each raw body, as the webhook route must, and can refuse the first few. */
function createReceiver() {
  const bodies: string[] = [];
  const waiting: Array<() => void> = [];
  let refuse = 0;
  const app = express();
  app.post('/webhooks/paynow', express.text({ type: () => true }), (req, res) => {
    if (refuse > 0) {
      refuse -= 1;
      res.status(500).end();
      return;
    }
    bodies.push(req.body as string);
    waiting.splice(0).forEach((wake) => wake());
    res.status(200).end();
  });
  return {
    app,
    bodies,
    refuseNext(count: number) {
      refuse = count;
    },
    async next(count = 1, timeoutMs = 5000): Promise<string[]> {
      const deadline = Date.now() + timeoutMs;
      while (bodies.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} status update(s), got ${bodies.length}`);
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return bodies.splice(0, count);
    },
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

let simulatorServer: Listening;
let receiverServer: Listening;
let control: PaynowSimulatorControl;
let receiver: ReturnType<typeof createReceiver>;
let provider: PaymentProvider;
let sent: string[];

function paymentContext(overrides: Partial<PaymentContext> = {}): PaymentContext {
  const reference = `HRE-${randomUUID().slice(0, 8)}`;
  return {
    idempotencyKey: randomUUID(),
    reference,
    orderNumber: 'HRE-1042',
    description: 'Order HRE-1042 at Harare Demo Shop',
    callbackUrl: `${receiverServer.url}/webhooks/paynow`,
    returnUrl: 'https://shop.example/return?order=HRE-1042',
    customerPhone: '263771111111',
    customerEmail: 'buyer@example.com',
    ...overrides,
  };
}

async function initiateExpress(overrides: Partial<PaymentContext> = {}) {
  const seen: SimulatedPaynowTransaction[] = [];
  const stop = control.onInitiate((t) => seen.push(t));
  const context = paymentContext(overrides);
  const result = await provider.initiate({ amount: USD_15, method: 'ecocash', context }).finally(stop);
  const transaction = seen[0];
  if (!transaction) throw new Error('the simulator saw no initiate');
  return { context, result, transaction };
}

beforeAll(async () => {
  const simulator = createPaynowSimulator({ integrationId: INTEGRATION_ID, integrationKey: INTEGRATION_KEY });
  control = simulator.control;
  const app = express();
  app.use('/sandbox/paynow', simulator.router);
  simulatorServer = await listen(app);
  receiver = createReceiver();
  receiverServer = await listen(receiver.app);
});

afterAll(async () => {
  await simulatorServer.close();
  await receiverServer.close();
});

beforeEach(() => {
  control.setBehaviour({ dropCallbacks: false, duplicateCallbacks: false, callbackDelayMs: 0, callbackRetryDelayMs: 20, down: false, autoComplete: null });
  receiver.bodies.splice(0);
  sent = [];
  const recordingFetch: typeof fetch = (input, init) => {
    if (typeof init?.body === 'string') sent.push(init.body);
    return fetch(input, init);
  };
  provider = createPaynowProvider(
    { baseUrl: `${simulatorServer.url}/sandbox/paynow`, integrationId: INTEGRATION_ID, integrationKey: INTEGRATION_KEY, authEmail: 'merchant@example.com' },
    { fetch: recordingFetch },
  );
});

describe('Paynow hash (§4.5)', () => {
  const outbound: Array<[string, string]> = [
    ['id', '1201'],
    ['reference', 'TEST REF'],
    ['amount', '99.99'],
    ['additionalinfo', 'A test ticket transaction'],
    ['returnurl', 'http://www.google.com/search?q=returnurl'],
    ['resulturl', 'http://www.google.com/search?q=resulturl'],
    ['status', 'Message'],
  ];
  const outboundHash = '2A033FC38798D913D42ECB786B9B19645ADEDBDE788862032F1BD82CF3B92DEF84F316385D5B40DBB35F1A4FD7D5BFE73835174136463CDD48C9366B0749C689';
  const inboundBody =
    'status=Ok&browserurl=https%3a%2f%2fstaging.paynow.co.zw%2fPayment%2fConfirmPayment%2f9510' +
    '&pollurl=https%3a%2f%2fstaging.paynow.co.zw%2fInterface%2fCheckPayment%2f%3fguid%3dc7ed41da-0159-46da-b428-69549f770413&paynowreference=9510';
  const inboundHash = '750DD0B0DF374678707BB5AF915AF81C228B9058AD57BB7120569EC68BBB9C2EFC1B26C6375D2BC562AC909B3CD6B2AF1D42E1A5E479FFAC8F4FB3FDCE71DF4D';

  it('reproduces both test vectors from the Paynow docs', () => {
    expect(paynowHash(outbound, DOC_KEY)).toBe(outboundHash);
    expect(paynowHash(Object.fromEntries(outbound), DOC_KEY)).toBe(outboundHash);
    expect(paynowHash(parsePaynowFields(inboundBody), DOC_KEY)).toBe(inboundHash);
    expect(verifyPaynowHash(parsePaynowFields(`${inboundBody}&hash=${inboundHash}`), DOC_KEY)).toBe(true);
    expect(verifyPaynowHash(parsePaynowFields(`${inboundBody}&hash=${inboundHash.toLowerCase()}`), DOC_KEY)).toBe(true);
  });

  it('agrees with the official SDK generateHash on the doc vectors', () => {
    const client = new sdk.Paynow(INTEGRATION_ID, DOC_KEY, '', '');
    expect(client.generateHash(Object.fromEntries(outbound), DOC_KEY)).toBe(outboundHash);
    const inbound = client.parseQuery(`${inboundBody}&hash=${inboundHash}`);
    expect(client.generateHash(inbound, DOC_KEY)).toBe(inboundHash);
    expect(client.verifyHash(inbound)).toBe(true);
  });

  it('rejects a changed value, a missing hash, a different key and a hash of another length', () => {
    const signed = parsePaynowFields(signPaynowFields(outbound, DOC_KEY));
    expect(verifyPaynowHash(signed, DOC_KEY)).toBe(true);
    expect(verifyPaynowHash(signed.map(([k, v]): [string, string] => [k, k === 'amount' ? '9.99' : v]), DOC_KEY)).toBe(false);
    expect(verifyPaynowHash(outbound, DOC_KEY)).toBe(false);
    expect(verifyPaynowHash(signed, INTEGRATION_KEY)).toBe(false);
    expect(verifyPaynowHash([...outbound, ['hash', 'ABC']], DOC_KEY)).toBe(false);
  });

  it('interoperates with the SDK on real messages both ways', async () => {
    const client = new sdk.Paynow(INTEGRATION_ID, INTEGRATION_KEY, `${receiverServer.url}/webhooks/paynow`, 'https://shop.example/return');
    const { result, transaction } = await initiateExpress();

    // duka → Paynow: the SDK computes the same hash for what the provider sent.
    const request = client.parseQuery(sent[0] ?? '');
    expect(client.generateHash(request, INTEGRATION_KEY)).toBe(request.hash);

    // Paynow (simulated) → duka: the SDK accepts the simulator's initiate reply and status update.
    const reply = await fetch(`${simulatorServer.url}/sandbox/paynow/interface/remotetransaction`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(client.buildMobile(client.createPayment('SDK-ORDER-7', 'merchant@example.com').add('Coffee', 15), '0771111111', 'ecocash')),
    });
    const parsed = client.parse(await reply.text());
    expect(parsed.success).toBe(true);
    expect(parsed.pollUrl).toContain('/Interface/CheckPayment/');

    await control.complete(transaction.pollId, { status: 'Paid' });
    const [update] = await receiver.next();
    const viaSdk = client.parseStatusUpdate(update ?? '');
    expect(viaSdk).toMatchObject({ status: 'Paid', amount: '15.00', pollUrl: result.providerReference });
  });
});

describe('Paynow express checkout against the simulator', () => {
  it('initiates with the documented fields and learns of the payment from the status update', async () => {
    const { context, result, transaction } = await initiateExpress();
    const request = parsePaynowFields(sent[0] ?? '');
    expect(request.map(([k]) => k)).toEqual(['id', 'reference', 'amount', 'additionalinfo', 'returnurl', 'resulturl', 'authemail', 'phone', 'method', 'status', 'hash']);
    expect(Object.fromEntries(request)).toMatchObject({ amount: '15.00', phone: '0771111111', method: 'ecocash', status: 'Message', resulturl: context.callbackUrl });
    expect(result.customerAction).toEqual({ type: 'approve_on_phone' });
    expect(result.providerReference).toBe(transaction.pollUrl);
    expect(result.data).toMatchObject({ pollUrl: transaction.pollUrl, paynowReference: transaction.paynowReference, method: 'ecocash' });
    expect(control.pending().map((t) => t.pollId)).toContain(transaction.pollId);

    await control.complete(transaction.pollId, { status: 'Paid' });
    const [update = ''] = await receiver.next();
    expect(referenceFromPaynowUpdate(update)).toBe(context.reference);
    const event = parsePaynowStatusUpdate(update, INTEGRATION_KEY, 'USD');
    expect(event).toMatchObject({
      reference: context.reference,
      providerReference: result.providerReference,
      transactionReference: transaction.paynowReference,
      status: 'succeeded',
      amount: USD_15,
      dedupKey: `paynow:${transaction.paynowReference}:Paid`,
    });

    // The update carries what a payment whose initiation answer was lost needs to poll.
    expect(event.providerData).toEqual({ pollUrl: transaction.pollUrl, reference: context.reference, paynowReference: transaction.paynowReference });
    expect(await provider.status(event.providerData!, USD_15)).toMatchObject({ status: 'succeeded' });

    // §4.4: confirm an important update by polling.
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'succeeded', amount: USD_15, transactionReference: transaction.paynowReference });
    expect(control.pending().map((t) => t.pollId)).not.toContain(transaction.pollId);
  });

  it('learns of the payment by polling alone when no update arrives', async () => {
    control.setBehaviour({ dropCallbacks: true });
    const { result, transaction } = await initiateExpress();
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'pending' });

    await control.complete(transaction.pollId, { status: 'Paid' });
    const event = await provider.status(result.data, USD_15);
    expect(event).toMatchObject({ status: 'succeeded', amount: USD_15, reference: transaction.reference, providerReference: transaction.pollUrl });
    expect(receiver.bodies).toHaveLength(0);
    expect(control.callbacks().filter((c) => c.pollId === transaction.pollId)).toHaveLength(0);
  });

  it('reports the amount Paynow received, not the amount asked for', async () => {
    const { result, transaction } = await initiateExpress();
    await control.complete(transaction.pollId, { status: 'Paid', amount: '10.00' });
    const event = parsePaynowStatusUpdate((await receiver.next())[0] ?? '', INTEGRATION_KEY, 'USD');
    expect(event.amount).toEqual(money(1000, 'USD'));
    expect((await provider.status(result.data, USD_15)).amount).toEqual(money(1000, 'USD'));
  });

  it('reports a cancelled payment', async () => {
    const { result, transaction } = await initiateExpress();
    await control.complete(transaction.pollId, { status: 'Cancelled' });
    const event = parsePaynowStatusUpdate((await receiver.next())[0] ?? '', INTEGRATION_KEY, 'USD');
    expect(event).toMatchObject({ status: 'cancelled', failureReason: 'cancelled_by_customer', dedupKey: `paynow:${transaction.paynowReference}:Cancelled` });
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'cancelled' });
  });

  it('reports a failed payment', async () => {
    const { result, transaction } = await initiateExpress();
    await control.complete(transaction.pollId, { status: 'Failed' });
    expect(parsePaynowStatusUpdate((await receiver.next())[0] ?? '', INTEGRATION_KEY, 'USD')).toMatchObject({ status: 'failed', failureReason: 'declined' });
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'failed' });
  });

  it('resends an update the merchant answered with an error, and duplicates share one dedup key', async () => {
    receiver.refuseNext(2);
    control.setBehaviour({ duplicateCallbacks: true });
    const { transaction } = await initiateExpress();
    await control.complete(transaction.pollId, { status: 'Paid' });
    const updates = await receiver.next(2);
    const keys = updates.map((body) => parsePaynowStatusUpdate(body, INTEGRATION_KEY, 'USD').dedupKey);
    expect(new Set(keys)).toEqual(new Set([`paynow:${transaction.paynowReference}:Paid`]));
    expect(control.callbacks().filter((c) => c.pollId === transaction.pollId).map((c) => c.httpStatus)).toEqual([500, 500, 200, 200]);
  });

  it('gives Innbucks customers the deep link for their authorisation code', async () => {
    const seen: SimulatedPaynowTransaction[] = [];
    const stop = control.onInitiate((t) => seen.push(t));
    const result = await provider.initiate({ amount: USD_15, method: 'innbucks', context: paymentContext() }).finally(stop);
    const code = seen[0]?.authorizationCode;
    expect(code).toMatch(/^\d{9}$/);
    expect(result.customerAction).toEqual({ type: 'open_url', url: `schinn.wbpycode://innbucks.co.zw?pymInnCode=${code}` });
    expect(result.data).toMatchObject({ authorizationCode: code, method: 'innbucks' });
    expect(result.data.authorizationExpires).toMatch(/^\d{1,2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}$/);
  });

  it('turns an invalid wallet number into a decline the customer can fix', async () => {
    const error = await rejectionOf(provider.initiate({ amount: USD_15, method: 'onemoney', context: paymentContext({ customerPhone: '26371234' }) }));
    expect(error).toBeInstanceOf(PaymentDeclinedError);
    expect((error as PaymentDeclinedError).reason).toBe('invalid_number');
  });

  it("maps Paynow's insufficient-balance test number to insufficient funds", async () => {
    const error = await rejectionOf(provider.initiate({ amount: USD_15, method: 'ecocash', context: paymentContext({ customerPhone: '263774444444' }) }));
    expect(error).toBeInstanceOf(PaymentDeclinedError);
    expect((error as PaymentDeclinedError).reason).toBe('insufficient_funds');
  });

  it('treats a wrong integration key as an operator problem', async () => {
    const wrongKey = createPaynowProvider({ baseUrl: `${simulatorServer.url}/sandbox/paynow`, integrationId: INTEGRATION_ID, integrationKey: DOC_KEY, authEmail: 'merchant@example.com' });
    const error = await rejectionOf(wrongKey.initiate({ amount: USD_15, method: 'ecocash', context: paymentContext() }));
    expect(error).toBeInstanceOf(ProviderRejectedError);
    expect((error as Error).message).toMatch(/Invalid Hash/);
  });

  it('has no refund: Paynow offers no refund API', () => {
    expect(provider.refund).toBeUndefined();
  });
});

describe('Paynow web checkout', () => {
  it('sends the customer to the hosted page and learns the outcome from the update', async () => {
    const context = paymentContext({ customerPhone: undefined });
    const result = await provider.initiate({ amount: USD_15, method: 'paynow_web', context });
    expect(parsePaynowFields(sent[0] ?? '').map(([k]) => k)).toEqual(['id', 'reference', 'amount', 'additionalinfo', 'returnurl', 'resulturl', 'authemail', 'status', 'hash']);
    expect(result.customerAction.type).toBe('open_url');
    const url = result.customerAction.type === 'open_url' ? result.customerAction.url : '';
    expect(url).toBe(result.data.browserUrl);

    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(context.reference);

    const paid = await fetch(url, { method: 'POST', body: new URLSearchParams({ action: 'pay' }), redirect: 'manual' });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(context.returnUrl);

    const event = parsePaynowStatusUpdate((await receiver.next())[0] ?? '', INTEGRATION_KEY, 'USD');
    expect(event).toMatchObject({ reference: context.reference, status: 'succeeded', amount: USD_15, providerReference: result.providerReference });
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'succeeded' });
  });
});

describe('ZimSwitch through Paynow (seed 003)', () => {
  it('a ZimSwitch bank card is paid on the hosted page: a web transaction, never express checkout (which needs a card token)', async () => {
    const before = sent.length;
    const context = paymentContext({ customerPhone: undefined });
    const result = await provider.initiate({ amount: USD_15, method: 'zimswitch', context });
    const fields = new Map(parsePaynowFields(sent[before] ?? ''));
    expect(fields.has('method')).toBe(false);
    expect(fields.get('reference')).toBe(context.reference);
    expect(result.customerAction).toEqual({ type: 'open_url', url: result.data.browserUrl });
    expect(result.data).toMatchObject({ method: 'zimswitch', pollUrl: result.providerReference });

    const url = result.customerAction.type === 'open_url' ? result.customerAction.url : '';
    expect((await fetch(url, { method: 'POST', body: new URLSearchParams({ action: 'pay' }), redirect: 'manual' })).status).toBe(303);
    const event = parsePaynowStatusUpdate((await receiver.next())[0] ?? '', INTEGRATION_KEY, 'USD');
    expect(event).toMatchObject({ reference: context.reference, status: 'succeeded', amount: USD_15 });
    expect(await provider.status(result.data, USD_15)).toMatchObject({ status: 'succeeded' });
    await expect(provider.recoverLost!({ amount: USD_15, method: 'zimswitch', context })).resolves.toMatchObject({ kind: 'unusable' });
  });
});

describe('Paynow status updates that must not be trusted', () => {
  async function paidUpdate(): Promise<string> {
    const { transaction } = await initiateExpress();
    await control.complete(transaction.pollId, { status: 'Paid' });
    return (await receiver.next())[0] ?? '';
  }

  it('throws CallbackSignatureError for a forged amount, a missing hash or another key', async () => {
    const genuine = await paidUpdate();
    const forged = genuine.replace('amount=15.00', 'amount=1500.00');
    expect(forged).not.toBe(genuine);
    expect(() => parsePaynowStatusUpdate(forged, INTEGRATION_KEY, 'USD')).toThrow(CallbackSignatureError);
    expect(() => parsePaynowStatusUpdate(genuine.replace(/&hash=[^&]*/, ''), INTEGRATION_KEY, 'USD')).toThrow(CallbackSignatureError);
    expect(() => parsePaynowStatusUpdate(genuine, DOC_KEY, 'USD')).toThrow(CallbackSignatureError);
    const rehashedWithoutKey = signPaynowFields(parsePaynowFields(forged), '');
    expect(() => parsePaynowStatusUpdate(rehashedWithoutKey, INTEGRATION_KEY, 'USD')).toThrow(CallbackSignatureError);
  });

  it('the provider reads its own webhook: hash-checked with its integration key, about the payment it names', async () => {
    const genuine = await paidUpdate();
    const request = (text: string) => ({ rawBody: Buffer.from(text), header: () => undefined });
    const reference = referenceFromPaynowUpdate(genuine)!;
    expect(paynowWebhook.claim(request(genuine))).toEqual({ by: 'reference', value: reference });
    const payment = { reference, currency: 'USD' as const, providerReference: null };
    expect(await provider.parseWebhook!(request(genuine), payment)).toMatchObject({ action: 'succeeded', data: { reference, amount: USD_15 } });
    expect(await provider.parseWebhook!(request(genuine.replace('amount=15.00', 'amount=1500.00')), payment)).toMatchObject({ action: 'forged' });
    expect(await provider.parseWebhook!(request(genuine), { ...payment, reference: 'another' })).toMatchObject({ action: 'forged' });
    const incomplete = signPaynowFields([['reference', reference], ['status', 'Paid']], INTEGRATION_KEY);
    expect(await provider.parseWebhook!(request(incomplete), payment)).toMatchObject({ action: 'malformed' });
  });

  it('throws InvalidCallbackError for a body that is not a status update', () => {
    expect(() => parsePaynowStatusUpdate('', INTEGRATION_KEY, 'USD')).toThrow(InvalidCallbackError);
    const incomplete = signPaynowFields([['reference', 'HRE-1'], ['status', 'Paid']], INTEGRATION_KEY);
    expect(() => parsePaynowStatusUpdate(incomplete, INTEGRATION_KEY, 'USD')).toThrow(InvalidCallbackError);
    const badAmount = signPaynowFields([['reference', 'HRE-1'], ['amount', 'lots'], ['paynowreference', '1'], ['pollurl', 'x'], ['status', 'Paid']], INTEGRATION_KEY);
    expect(() => parsePaynowStatusUpdate(badAmount, INTEGRATION_KEY, 'USD')).toThrow(InvalidCallbackError);
  });

  it('never reports success from a poll answer whose hash does not match', async () => {
    const forgedPoll: typeof fetch = async () =>
      new Response('reference=HRE-1&paynowreference=9510&amount=15.00&status=Paid&pollurl=https%3a%2f%2fpaynow.example%2fpoll&hash=' + 'A'.repeat(128));
    const fooled = createPaynowProvider({ baseUrl: 'https://paynow.example', integrationId: INTEGRATION_ID, integrationKey: INTEGRATION_KEY }, { fetch: forgedPoll });
    const error = await rejectionOf(fooled.status({ pollUrl: 'https://paynow.example/poll', reference: 'HRE-1' }, USD_15));
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ProviderRejectedError);
    expect((error as Error).message).toMatch(/hash/);
  });
});

describe('Paynow unavailable', () => {
  it('fails initiate and poll with a retryable error while the simulator is down', async () => {
    const { result } = await initiateExpress();
    control.setBehaviour({ down: true });
    for (const error of [
      await rejectionOf(provider.initiate({ amount: USD_15, method: 'ecocash', context: paymentContext() })),
      await rejectionOf(provider.status(result.data, USD_15)),
    ]) {
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ProviderRejectedError);
      expect(error).not.toBeInstanceOf(PaymentDeclinedError);
      expect((error as Error).message).toMatch(/HTTP 503/);
    }
  });

  it('a lost initiation answer: an express prompt is waited for; a web page or an InnBucks code nobody got ends the attempt', async () => {
    const lost = (method: 'ecocash' | 'onemoney' | 'innbucks' | 'paynow_web') => provider.recoverLost!({ amount: USD_15, method, context: paymentContext() });
    await expect(lost('ecocash')).resolves.toEqual({ kind: 'wait', customerAction: { type: 'approve_on_phone' } });
    await expect(lost('onemoney')).resolves.toEqual({ kind: 'wait', customerAction: { type: 'approve_on_phone' } });
    await expect(lost('innbucks')).resolves.toMatchObject({ kind: 'unusable', reason: 'provider_error' });
    await expect(lost('paynow_web')).resolves.toMatchObject({ kind: 'unusable', reason: 'provider_error' });
  });

  it('fails with a retryable error when nothing listens', async () => {
    const gone = await listen(express());
    await gone.close();
    const unreachable = createPaynowProvider({ baseUrl: gone.url, integrationId: INTEGRATION_ID, integrationKey: INTEGRATION_KEY, authEmail: 'merchant@example.com' });
    const error = await rejectionOf(unreachable.initiate({ amount: USD_15, method: 'ecocash', context: paymentContext() }));
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ProviderRejectedError);
    // Nothing listening: Paynow never saw it, so a retry may send it again.
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as Error).message).toMatch(/request failed/);
  });
});
