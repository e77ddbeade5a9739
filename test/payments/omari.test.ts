import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { money } from '../../domain/money.ts';
import { createOmariProvider, type OmariProvider } from '../../providers/payments/omari.ts';
import { PaymentDeclinedError, ProviderRejectedError, ProviderUnavailableError, type PaymentContext } from '../../providers/payments/types.ts';
import { createOmariSimulator, type OmariOtpMessage, type OmariSimulatorControl } from '../../sandbox/providers/omari.ts';

const MERCHANT_KEY = 'omari-test-merchant-key';
const USD_20_48 = money(2048, 'USD');

let server: Server;
let baseUrl: string;
let control: OmariSimulatorControl;
let provider: OmariProvider;
let requests: Array<{ url: string; method: string; headers: Headers; body: unknown }>;

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

function paymentContext(overrides: Partial<PaymentContext> = {}): PaymentContext {
  return {
    idempotencyKey: randomUUID(),
    reference: randomUUID(),
    orderNumber: 'HRE-1042',
    description: 'Booking BK-DEMO-0001 deposit',
    callbackUrl: 'https://duka.example/webhooks/omari',
    returnUrl: 'https://duka.example/return',
    customerPhone: '263771234567',
    ...overrides,
  };
}

beforeAll(async () => {
  const simulator = createOmariSimulator({ merchantKey: MERCHANT_KEY });
  control = simulator.control;
  const app = express();
  app.use('/sandbox/omari', simulator.router);
  server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(s)));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/omari`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  control.setBehaviour({ down: false, declineWith: null });
  requests = [];
  const recordingFetch: typeof fetch = (input, init) => {
    requests.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    });
    return fetch(input, init);
  };
  provider = createOmariProvider({ baseUrl, merchantKey: MERCHANT_KEY }, { fetch: recordingFetch });
});

describe("O'mari OTP payment against the simulator", () => {
  it('sends the OTP, takes the money with the right OTP, and the query agrees', async () => {
    const sms: OmariOtpMessage[] = [];
    const stop = control.onOtp((message) => sms.push(message));
    const context = paymentContext();
    const result = await provider.initiate({ amount: USD_20_48, method: 'omari', context }).finally(stop);

    expect(requests[0]).toMatchObject({
      url: `${baseUrl}/auth`,
      method: 'POST',
      body: { msisdn: '263771234567', reference: context.reference, amount: 20.48, currency: 'USD', channel: 'WEB' },
    });
    expect(requests[0]?.headers.get('x-merchant-key')).toBe(MERCHANT_KEY);
    expect(result.customerAction).toEqual({ type: 'enter_otp' });
    expect(sms).toHaveLength(1);
    // The otpReference is a code shown beside the SMS, not an id: it is data, and never the payment's key.
    expect(result.providerReference).toBeUndefined();
    expect(result.data).toMatchObject({ reference: context.reference, otpReference: sms[0]?.otpReference });
    expect(control.lastOtp(context.reference)).toBe(sms[0]?.otp);

    const event = await provider.submitOtp(result.data, sms[0]?.otp ?? '', USD_20_48);
    const paid = control.get(context.reference);
    expect(event).toMatchObject({
      reference: context.reference,
      status: 'succeeded',
      amount: USD_20_48,
      transactionReference: paid?.paymentReference,
      dedupKey: `omari:${context.reference}:succeeded`,
    });
    expect(requests[1]).toMatchObject({ url: `${baseUrl}/request`, body: { msisdn: '263771234567', reference: context.reference, otp: sms[0]?.otp } });

    const queried = await provider.status(result.data, USD_20_48);
    expect(queried).toMatchObject({ status: 'succeeded', amount: USD_20_48, transactionReference: paid?.paymentReference, dedupKey: event.dedupKey });
  });

  it('lets the customer try again after a wrong OTP', async () => {
    const context = paymentContext();
    const result = await provider.initiate({ amount: USD_20_48, method: 'omari', context });
    const otp = control.lastOtp(context.reference) ?? '';
    const wrong = otp === '000000' ? '111111' : '000000';

    const error = await rejectionOf(provider.submitOtp(result.data, wrong, USD_20_48));
    expect(error).toBeInstanceOf(PaymentDeclinedError);
    expect((error as PaymentDeclinedError).reason).toBe('wrong_otp');
    expect(control.get(context.reference)?.status).toBe('Pending');
    expect(await provider.status(result.data, USD_20_48)).toMatchObject({ status: 'pending' });

    expect(await provider.submitOtp(result.data, ` ${otp} `, USD_20_48)).toMatchObject({ status: 'succeeded', amount: USD_20_48 });
  });

  it('reconciles through the query: pending before the OTP, paid after, and a repeated OTP still reports paid', async () => {
    const context = paymentContext();
    const result = await provider.initiate({ amount: USD_20_48, method: 'omari', context });
    expect(await provider.status(result.data, USD_20_48)).toMatchObject({ reference: context.reference, status: 'pending' });

    const otp = control.lastOtp(context.reference) ?? '';
    await provider.submitOtp(result.data, otp, USD_20_48);
    // The simulator answers a second /request with a refusal; the provider asks the query before believing it.
    expect(await provider.submitOtp(result.data, otp, USD_20_48)).toMatchObject({ status: 'succeeded' });
    expect(requests.map((r) => r.url.replace(baseUrl, ''))).toContain(`/query/${context.reference}`);
  });

  it('reports a decline after the OTP as a failed payment with the reason', async () => {
    control.setBehaviour({ declineWith: { stage: 'request', message: 'Insufficient funds in wallet' } });
    const context = paymentContext();
    const result = await provider.initiate({ amount: USD_20_48, method: 'omari', context });
    const event = await provider.submitOtp(result.data, control.lastOtp(context.reference) ?? '', USD_20_48);
    expect(event).toMatchObject({ status: 'failed', failureReason: 'insufficient_funds', dedupKey: `omari:${context.reference}:failed` });
    expect(await provider.status(result.data, USD_20_48)).toMatchObject({ status: 'failed' });
  });

  it('lets a configured responseCode override the message wording', async () => {
    control.setBehaviour({ declineWith: { stage: 'request', message: 'Transaction declined', responseCode: '051' } });
    const configured = createOmariProvider({ baseUrl, merchantKey: MERCHANT_KEY, responseCodeMap: { '051': 'limit_exceeded' } });
    const context = paymentContext();
    const result = await configured.initiate({ amount: USD_20_48, method: 'omari', context });
    expect(await configured.submitOtp(result.data, control.lastOtp(context.reference) ?? '', USD_20_48)).toMatchObject({
      status: 'failed',
      failureReason: 'limit_exceeded',
    });
  });
});

describe("O'mari initiation failures", () => {
  it('refuses a number that is not 2637XXXXXXXX before calling O\'mari', async () => {
    for (const customerPhone of ['0771234567', '254712345678', '26377123456', undefined]) {
      const error = await rejectionOf(provider.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext({ customerPhone }) }));
      expect(error).toBeInstanceOf(PaymentDeclinedError);
      expect((error as PaymentDeclinedError).reason).toBe('invalid_number');
    }
    expect(requests).toHaveLength(0);
  });

  it("maps the simulator's own msisdn refusal to invalid_number", async () => {
    control.setBehaviour({ declineWith: { stage: 'auth', message: 'Msisdn is not registered for O\'mari' } });
    const error = await rejectionOf(provider.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext() }));
    expect(error).toBeInstanceOf(PaymentDeclinedError);
    expect((error as PaymentDeclinedError).reason).toBe('invalid_number');
  });

  it('treats an unrecognised auth refusal as an operator problem', async () => {
    const context = paymentContext();
    await provider.initiate({ amount: USD_20_48, method: 'omari', context });
    const error = await rejectionOf(provider.initiate({ amount: USD_20_48, method: 'omari', context }));
    expect(error).toBeInstanceOf(ProviderRejectedError);
    expect((error as Error).message).toMatch(/Duplicate reference/);
  });

  it('uses a fresh UUID when the payment reference is not one', async () => {
    const withUuid = createOmariProvider({ baseUrl, merchantKey: MERCHANT_KEY }, { uuid: () => '5b0c6f2e-3d1a-4c7e-9a51-0f0c9a6f1e22' });
    const result = await withUuid.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext({ reference: 'HRE-1042-1' }) });
    expect(result.data.reference).toBe('5b0c6f2e-3d1a-4c7e-9a51-0f0c9a6f1e22');
  });

  it('refuses a currency O\'mari does not take', async () => {
    const error = await rejectionOf(provider.initiate({ amount: money(150000, 'KES'), method: 'omari', context: paymentContext() }));
    expect(error).toBeInstanceOf(ProviderRejectedError);
  });

  it('treats a refused merchant key as an operator problem', async () => {
    const wrongKey = createOmariProvider({ baseUrl, merchantKey: 'not-the-key' });
    const error = await rejectionOf(wrongKey.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext() }));
    expect(error).toBeInstanceOf(ProviderRejectedError);
    expect((error as ProviderRejectedError).httpStatus).toBe(401);
  });

  it('fails with a retryable error while O\'mari is down, and submitOtp does not guess', async () => {
    const context = paymentContext();
    const result = await provider.initiate({ amount: USD_20_48, method: 'omari', context });
    control.setBehaviour({ down: true });
    for (const error of [
      await rejectionOf(provider.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext() })),
      await rejectionOf(provider.submitOtp(result.data, control.lastOtp(context.reference) ?? '', USD_20_48)),
      await rejectionOf(provider.status(result.data, USD_20_48)),
    ]) {
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ProviderRejectedError);
      expect(error).not.toBeInstanceOf(PaymentDeclinedError);
    }
    control.setBehaviour({ down: false });
    expect(await provider.submitOtp(result.data, control.lastOtp(context.reference) ?? '', USD_20_48)).toMatchObject({ status: 'succeeded' });
  });

  it('says for sure when O\'mari did not take a request (down, or nothing listening), so a retry may send it again', async () => {
    control.setBehaviour({ down: true });
    expect(await rejectionOf(provider.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext() }))).toBeInstanceOf(ProviderUnavailableError);
    control.setBehaviour({ down: false });
    const closed = await new Promise<Server>((resolve) => {
      const s = express().listen(0, '127.0.0.1', () => resolve(s));
    });
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const gone = createOmariProvider({ baseUrl: `http://127.0.0.1:${port}/omari`, merchantKey: MERCHANT_KEY });
    expect(await rejectionOf(gone.initiate({ amount: USD_20_48, method: 'omari', context: paymentContext() }))).toBeInstanceOf(ProviderUnavailableError);
  });

  it('a query for a reference O\'mari does not know is an operator problem, not "pending"', async () => {
    const error = await rejectionOf(provider.status({ reference: randomUUID(), msisdn: '263771234567' }, USD_20_48));
    expect(error).toBeInstanceOf(ProviderRejectedError);
    expect((error as ProviderRejectedError).httpStatus).toBe(404);
  });

  it('a lost /auth answer cannot be recovered: the customer has no OTP reference, so the attempt ends', async () => {
    expect(await provider.recoverLost!({ amount: USD_20_48, method: 'omari', context: paymentContext() })).toMatchObject({ kind: 'unusable', reason: 'provider_error' });
  });

  it('has no cancel: /void is not in the O\'mari spec', () => {
    expect(provider.cancel).toBeUndefined();
  });
});
