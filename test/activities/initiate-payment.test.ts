import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.ts';
import type { InitiatePaymentInput } from '../../activities/payments.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { PAYMENT_ACTIVITY_TIMEOUT_MS, PROVIDER_HTTP_TIMEOUT_MS, PROVIDER_OPERATION_TIMEOUT_MS } from '../../providers/payments/http.ts';
import { ProviderUnavailableError, type InitiateInput, type PaymentProvider, type ProviderId } from '../../providers/payments/types.ts';
import type { ShopProviderSettings } from '../../db/entities.ts';
import { Payment } from '../../db/entities.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startProviders, type Providers } from '../payments-e2e/support.ts';

/**
 * A payment initiation whose answer was lost (the worker died between the provider's answer and storing it, or the
 * answer timed out): the retry never starts a second payment for the same attempt. Real activities, real PostgreSQL,
 * and the providers' simulators over HTTP.
 */

type Shop = { id: string; providerSettings: ShopProviderSettings };

/** The real providers, with a switch that loses the answer of the next initiations after the provider took them. */
class LosingProviders extends PaymentProviders {
  loseNext = 0;
  /** Replaces a provider's initiate entirely (for fakes of what a provider may answer). */
  fake: Partial<Record<ProviderId, PaymentProvider>> = {};
  initiations: InitiateInput[] = [];

  override forShop(shop: Shop, id: ProviderId): PaymentProvider {
    const real = this.fake[id] ?? super.forShop(shop, id);
    return {
      ...real,
      initiate: async (input) => {
        this.initiations.push(input);
        const result = await real.initiate(input);
        if (this.loseNext > 0) {
          this.loseNext -= 1;
          throw new Error('socket hang up');
        }
        return result;
      },
    };
  }
}

const rejectionOf = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => Promise.reject(new Error('expected the call to fail')),
    (error: unknown) => error,
  );

describe('initiatePayment retried after a lost answer', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let providers: Providers;
  let config: Config;
  let payments: LosingProviders;
  let acts: ReturnType<typeof createActivities>;
  let pushes: string[];

  beforeAll(async () => {
    db = await createTestDatabase('initiate');
    providers = await startProviders();
    config = loadConfig({ SANDBOX: 'on', CUSTOMER_REF_SECRET: 'secret-for-callback-tokens', ...providers.env });
    pushes = [];
    providers.mpesa.onPush((push) => pushes.push(push.checkoutRequestId));
  });
  afterAll(async () => {
    await providers?.close();
    await db?.drop();
  });
  beforeEach(() => {
    payments = new LosingProviders(config);
    acts = createActivities({ orm: db.orm, whatsapp: null as never, temporal: null as never, config, payments });
    pushes.length = 0;
    providers.mpesa.setBehaviour({ pushAnswerDelayMs: 0, down: false });
    providers.omari.setBehaviour({ otpReference: null, down: false, declineWith: null });
  });

  let orders = 0;
  async function attempt(shopId: 'nairobi' | 'harare' | 'pune', method: InitiatePaymentInput['method'], waId: string, amount: number): Promise<InitiatePaymentInput> {
    orders += 1;
    const customerRef = `ref-${waId}`;
    await acts.registerCustomer({ shopId, waId, customerRef, at: Date.now() });
    const orderNumber = `T-${orders}-${randomUUID().slice(0, 6)}`;
    const currency = ({ nairobi: 'KES', harare: 'USD', pune: 'INR' } as const)[shopId];
    return { reference: randomUUID(), idempotencyKey: `${orderNumber}:1`, orderNumber, shopId, customerRef, method, amount, currency, attempt: 1, expiresInSeconds: 1800 };
  }
  const row = (input: InitiatePaymentInput) => db.orm.em.fork().findOneOrFail(Payment, { idempotencyKey: input.idempotencyKey });

  it('keeps every provider timeout well inside the activity timeout', () => {
    expect(PROVIDER_HTTP_TIMEOUT_MS * 2).toBeLessThanOrEqual(PROVIDER_OPERATION_TIMEOUT_MS);
    expect(PROVIDER_OPERATION_TIMEOUT_MS).toBeLessThanOrEqual(PAYMENT_ACTIVITY_TIMEOUT_MS - 10_000);
  });

  it('M-Pesa: the push was taken and its answer lost: the retry sends no second push and lets the workflow wait', async () => {
    const input = await attempt('nairobi', 'mpesa', '254712000701', 150000);
    payments.loseNext = 1;
    expect(String(await rejectionOf(acts.initiatePayment(input)))).toMatch(/socket hang up/);
    expect(pushes).toHaveLength(1);

    // The marker was committed before the push: the retry does not call Daraja again.
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone', answerLost: true });
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone', answerLost: true });
    expect(pushes).toHaveLength(1);
    expect(payments.initiations).toHaveLength(1);
    const lost = await row(input);
    expect(lost).toMatchObject({ status: 'pending', initiation: 'lost', providerReference: null });

    // Nothing to query yet (no CheckoutRequestID): the provider cannot say, so the check says pending.
    await expect(acts.checkPayment({ reference: input.reference })).resolves.toEqual({ reference: input.reference, status: 'pending', source: 'poll' });
  });

  it('M-Pesa: a slow Daraja times out at the HTTP layer, well before the activity would, and the retry pushes nothing more', async () => {
    const input = await attempt('nairobi', 'mpesa', '254712000702', 150000);
    // Daraja takes the push (the phone rings) and answers after the client stopped waiting.
    providers.mpesa.setBehaviour({ pushAnswerDelayMs: PAYMENT_ACTIVITY_TIMEOUT_MS * 2 });
    const started = Date.now();
    const error = await rejectionOf(acts.initiatePayment(input));
    const took = Date.now() - started;
    expect(String(error)).toMatch(/M-Pesa .*no answer in time/);
    expect(error).not.toBeInstanceOf(ApplicationFailure);
    expect(took).toBeGreaterThanOrEqual(PROVIDER_HTTP_TIMEOUT_MS - 100);
    expect(took).toBeLessThan(PAYMENT_ACTIVITY_TIMEOUT_MS - 10_000);
    expect(pushes).toHaveLength(1);

    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone', answerLost: true });
    expect(pushes).toHaveLength(1);
  }, 40_000);

  it('a call that certainly did not reach the provider is sent again, with the same callback URL', async () => {
    const input = await attempt('nairobi', 'mpesa', '254712000777', 150000);
    let calls = 0;
    payments.fake.mpesa = {
      id: 'mpesa',
      async initiate() {
        calls += 1;
        if (calls === 1) throw new ProviderUnavailableError('M-Pesa: HTTP 503');
        return { providerReference: `ws_CO_${input.reference}`, data: { checkoutRequestId: `ws_CO_${input.reference}` }, customerAction: { type: 'approve_on_phone' } };
      },
      async status() {
        throw new Error('not used');
      },
    };
    await expect(acts.initiatePayment(input)).rejects.toThrow('HTTP 503');
    expect(await row(input)).toMatchObject({ initiation: 'not_sent' });
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone' });
    const [first, second] = payments.initiations;
    expect(payments.initiations).toHaveLength(2);
    expect(second!.context.callbackUrl).toBe(first!.context.callbackUrl);
    expect(first!.context.callbackUrl).toMatch(/\/webhooks\/mpesa\/[\w-]{32}$/);
    expect(first!.context.customerPhone).toBe('254712000777');
    expect(await db.orm.em.fork().find(Payment, { idempotencyKey: input.idempotencyKey })).toHaveLength(1);
    expect(await row(input)).toMatchObject({ initiation: 'answered', providerReference: `ws_CO_${input.reference}` });
    // A third call finds the answer and does not ask the provider again.
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone' });
    expect(payments.initiations).toHaveLength(2);
  });

  it("O'mari: a lost /auth answer ends the attempt (the customer has no OTP reference); no second /auth", async () => {
    const input = await attempt('harare', 'omari', '263771000701', 640);
    payments.loseNext = 1;
    await rejectionOf(acts.initiatePayment(input));
    expect(providers.omari.get(input.reference)?.status).toBe('Pending');

    for (let i = 0; i < 2; i++) {
      const error = await rejectionOf(acts.initiatePayment(input));
      expect(error).toBeInstanceOf(ApplicationFailure);
      expect(error).toMatchObject({ type: 'PaymentDeclined', nonRetryable: true, details: [{ reason: 'provider_error', answerLost: true }] });
    }
    expect(payments.initiations).toHaveLength(1);
    expect(await row(input)).toMatchObject({ status: 'failed', failureReason: 'provider_error', initiation: 'lost' });
  });

  it('Razorpay: a lost create answer is found by its reference_id; no second link', async () => {
    const input = await attempt('pune', 'razorpay_link', '919812000701', 4200);
    payments.loseNext = 1;
    await rejectionOf(acts.initiatePayment(input));
    const links = () => providers.razorpay.links().filter((l) => l.reference_id === input.reference);
    expect(links()).toHaveLength(1);
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'open_url', url: links()[0]!.short_url });
    expect(links()).toHaveLength(1);
    expect(payments.initiations).toHaveLength(1);
    expect(await row(input)).toMatchObject({ initiation: 'answered', providerReference: links()[0]!.id });
  });

  it("O'mari: two payments given the same otpReference both go through (it is a display code, not a key)", async () => {
    providers.omari.setBehaviour({ otpReference: 'ETDC' });
    const first = await attempt('harare', 'omari', '263771000702', 640);
    const second = await attempt('harare', 'omari', '263771000703', 1280);
    await expect(acts.initiatePayment(first)).resolves.toEqual({ type: 'enter_otp' });
    await expect(acts.initiatePayment(second)).resolves.toEqual({ type: 'enter_otp' });
    for (const input of [first, second]) {
      expect(providers.omari.get(input.reference)?.otpReference).toBe('ETDC');
      const signal = await acts.submitPaymentOtp({ reference: input.reference, otp: providers.omari.lastOtp(input.reference)! });
      expect(signal).toMatchObject({ reference: input.reference, status: 'succeeded', amount: input.amount, currency: 'USD' });
      const stored = await row(input);
      expect(stored.data).toMatchObject({ otpReference: 'ETDC', reference: input.reference });
      expect(stored.providerReference).toBeNull();
    }
  });

  describe('checkPayment and awaitPaymentResult', () => {
    it("answer the provider's own status: pending while the customer has not answered", async () => {
      const input = await attempt('nairobi', 'mpesa', '254712000703', 150000);
      await acts.initiatePayment(input);
      await expect(acts.checkPayment({ reference: input.reference })).resolves.toMatchObject({ status: 'pending' });
      const push = providers.mpesa.pending().find((p) => p.phoneNumber === '254712000703')!;
      await providers.mpesa.complete(push.checkoutRequestId, { resultCode: 1032 }, { sendCallback: false });
      await expect(acts.checkPayment({ reference: input.reference })).resolves.toMatchObject({ status: 'cancelled', failureReason: 'cancelled_by_customer' });
    });

    it('a reference the provider does not know is a non-retryable ProviderError; an outage is retryable', async () => {
      const input = await attempt('nairobi', 'mpesa', '254712000704', 150000);
      await acts.initiatePayment(input);
      await db.orm.em.getConnection().execute(`update payment set data = jsonb_set(data, '{checkoutRequestId}', '"ws_CO_unknown"') where reference = ?`, [input.reference]);

      const unknown = await rejectionOf(acts.checkPayment({ reference: input.reference }));
      expect(unknown).toBeInstanceOf(ApplicationFailure);
      expect(unknown).toMatchObject({ type: 'ProviderError', nonRetryable: true });
      expect((unknown as Error).message).toMatch(/M-Pesa STK query failed: .*CheckoutRequestID/);
      const polled = await rejectionOf(new MockActivityEnvironment().run(acts.awaitPaymentResult, { reference: input.reference, intervalMs: 1, until: Date.now() + 20_000 }));
      expect(polled).toMatchObject({ type: 'ProviderError', nonRetryable: true });

      providers.mpesa.setBehaviour({ down: true });
      const down = await rejectionOf(acts.checkPayment({ reference: input.reference }));
      expect(down).not.toBeInstanceOf(ApplicationFailure);
      expect(String(down)).toMatch(/M-Pesa/);
    });
  });
});
