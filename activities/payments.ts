import { createHash, createHmac } from 'node:crypto';
import { ApplicationFailure, Context, CancelledFailure, sleep } from '@temporalio/activity';
import { Booking, Customer, Order, Payment, Shop, type IPayment } from '../db/entities.ts';
import { phoneForMethod } from '../domain/phone.ts';
import type { CurrencyCode } from '../domain/money.ts';
import { logger, maskPhones } from '../lib/logger.ts';
import {
  PaymentDeclinedError,
  PROVIDER_OF,
  ProviderRejectedError,
  ProviderUnavailableError,
  type CustomerAction,
  type InitiateInput,
  type InitiateResult,
  type NormalisedPaymentEvent,
  type PaymentMethod,
  type PaymentProvider,
} from '../providers/payments/types.ts';
import type { PaymentSignal } from '../workflows/definitions.ts';
import type { ActivityDeps } from './deps.ts';
import { paymentResults } from '../lib/metrics.ts';

export interface InitiatePaymentInput {
  reference: string;
  idempotencyKey: string;
  orderNumber: string;
  shopId: string;
  customerRef: string;
  method: PaymentMethod;
  amount: number;
  currency: CurrencyCode;
  attempt: number;
  phone?: string;
  /** For the provider's receipt (Paynow, Razorpay). */
  email?: string;
  bookingReference?: string;
  expiresInSeconds: number;
}

/**
 * What the customer must do next. `answerLost`: an earlier try of this initiation may have reached the provider and
 * its answer was lost, so the provider was not asked again; the attempt's callback (matched by its own token or
 * reference) or a status query settles it, or it expires. Absent when the provider's answer is known.
 */
export type InitiatePaymentResult = CustomerAction & { answerLost?: true };

/** A booking a customer pays against (seed 003); amounts in minor units. */
export interface BookingView {
  reference: string;
  description: string;
  total: number;
  paid: number;
  currency: CurrencyCode;
}

/** How often a polling activity proves it is alive, so a lost worker is noticed within the heartbeat timeout. */
const HEARTBEAT_EVERY_MS = 2_000;

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

function toSignal(reference: string, e: NormalisedPaymentEvent, source: PaymentSignal['source']): PaymentSignal {
  return {
    reference,
    status: e.status,
    ...(e.amount ? { amount: e.amount.amount, currency: e.amount.currency } : {}),
    ...(e.transactionReference ? { transactionReference: e.transactionReference } : {}),
    ...(e.failureReason ? { failureReason: e.failureReason } : {}),
    source,
  };
}

/** Provider errors become Temporal's language: the customer's fault and the provider's refusal are never retried. */
function classify(err: unknown): never {
  if (err instanceof PaymentDeclinedError) {
    throw ApplicationFailure.create({ type: 'PaymentDeclined', message: err.message, nonRetryable: true, details: [{ reason: err.reason }] });
  }
  if (err instanceof ProviderRejectedError) {
    throw ApplicationFailure.create({ type: 'ProviderRejected', message: `${err.provider}: ${err.message}`, nonRetryable: true, details: [{ httpStatus: err.httpStatus }] });
  }
  throw err;
}

/**
 * Errors of a status check (checkPayment, awaitPaymentResult). A provider that refuses the question itself (bad
 * credentials, a reference it does not know) answers the same on every retry: `ProviderError`, not retryable, with a
 * plain message for the operator. Anything else (unreachable, 5xx, a timeout) is retried.
 */
function classifyCheck(err: unknown): never {
  if (err instanceof ProviderRejectedError || err instanceof PaymentDeclinedError) {
    const provider = err instanceof ProviderRejectedError ? err.provider : undefined;
    throw ApplicationFailure.create({
      type: 'ProviderError',
      message: maskPhones(err.message),
      nonRetryable: true,
      details: [{ provider, httpStatus: err instanceof ProviderRejectedError ? err.httpStatus : undefined }],
    });
  }
  throw err;
}

/** The provider certainly did not start anything for this call: a retry may call it again. */
const notTaken = (err: unknown) => err instanceof ProviderUnavailableError || err instanceof ProviderRejectedError || err instanceof PaymentDeclinedError;

/** A payment whose provider never gave duka a way to ask about it (its initiation answer was lost): only a callback can. */
const unanswered = (p: IPayment) => p.providerReference === null && p.data.customerAction === undefined && p.initiation !== 'answered';

function activityLog() {
  try {
    return Context.current().log;
  } catch {
    return { warn: (message: string, attrs: Record<string, unknown>) => logger.warn(attrs, message) };
  }
}

export function createPaymentActivities({ orm, payments, config }: ActivityDeps) {
  async function load(reference: string) {
    const em = orm.em.fork();
    const payment = await em.findOne(Payment, { reference }, { populate: ['shop'] });
    if (!payment) throw ApplicationFailure.nonRetryable(`no payment ${reference}`, 'UnknownPayment');
    return { em, payment, provider: payments.forShop(payment.shop, payment.provider) };
  }
  const money = (p: IPayment) => ({ amount: p.amount, currency: p.currency as CurrencyCode });
  const sql = () => orm.em.getConnection();

  /** The provider's answer, kept beside anything a callback taught the row meanwhile. */
  async function storeAnswer(paymentId: string, result: InitiateResult): Promise<void> {
    await sql().execute(
      `update payment set provider_reference = coalesce(provider_reference, ?), data = coalesce(data, '{}'::jsonb) || ?::jsonb, initiation = 'answered', updated_at = now() where id = ?`,
      [result.providerReference ?? null, JSON.stringify({ ...result.data, customerAction: result.customerAction }), paymentId],
    );
  }

  /** One call to the provider, under the `sending` marker this activity holds. */
  async function send(paymentId: string, provider: PaymentProvider, request: InitiateInput): Promise<InitiatePaymentResult> {
    let result: InitiateResult;
    try {
      result = await provider.initiate(request);
    } catch (err) {
      if (notTaken(err)) {
        const declined = err instanceof PaymentDeclinedError ? { status: 'failed' as const, failureReason: err.reason } : {};
        await orm.em.fork().nativeUpdate(Payment, { id: paymentId, initiation: { $in: ['sending', 'lost'] } }, { initiation: 'not_sent', updatedAt: new Date(), ...declined });
      }
      return classify(err);
    }
    await storeAnswer(paymentId, result);
    return result.customerAction;
  }

  /**
   * A retry that finds the `sending` marker without an answer: an earlier try may have reached the provider. The
   * provider is never asked to start again for this attempt; it is asked only what the first call started, if it can say.
   */
  async function recover(payment: IPayment, provider: PaymentProvider, request: InitiateInput): Promise<InitiatePaymentResult> {
    const log = activityLog();
    const recovery = provider.recoverLost
      ? await provider.recoverLost(request).catch(classify)
      : ({ kind: 'wait', customerAction: { type: 'approve_on_phone' } } as const);
    const em = orm.em.fork();
    switch (recovery.kind) {
      case 'found':
        log.warn('payment initiation: answer lost, found at the provider', { reference: payment.reference });
        await storeAnswer(payment.id, recovery.result);
        return recovery.result.customerAction;
      case 'absent':
        // The provider says the first call started nothing (Razorpay: no link with this reference_id): safe to start.
        return send(payment.id, provider, request);
      case 'wait':
        log.warn('payment initiation: answer lost, not sent again; the callback or a status query settles it', { reference: payment.reference, provider: payment.provider });
        await em.nativeUpdate(Payment, { id: payment.id, initiation: { $ne: 'answered' } }, { initiation: 'lost' });
        return { ...recovery.customerAction, answerLost: true };
      case 'unusable':
        log.warn('payment initiation: answer lost, the attempt ends', { reference: payment.reference, provider: payment.provider, reason: recovery.reason });
        await em.nativeUpdate(Payment, { id: payment.id, status: 'pending' }, { initiation: 'lost', status: 'failed', failureReason: recovery.reason, updatedAt: new Date() });
        throw ApplicationFailure.create({ type: 'PaymentDeclined', message: recovery.message, nonRetryable: true, details: [{ reason: recovery.reason, answerLost: true }] });
    }
  }

  /** Where a payment stands at its provider; `pending` when the provider cannot be asked yet (answer lost, no callback). */
  async function statusOf(reference: string): Promise<PaymentSignal | null> {
    const { payment, provider } = await load(reference);
    if (payment.provider === 'cash') return null;
    if (unanswered(payment)) return { reference: payment.reference, status: 'pending', source: 'poll' };
    const e = await provider.status(payment.data, money(payment)).catch(classifyCheck);
    return toSignal(payment.reference, e, 'poll');
  }

  return {
    /**
     * Creates the payment row (once per idempotency key) and asks the provider to start. The row's `sending` marker is
     * committed before the provider is called: a retry that finds it (the worker died, the answer timed out) never
     * calls again for the same attempt, so a customer never gets a second prompt for one attempt. Run again after the
     * answer was stored, it returns that answer.
     */
    async initiatePayment(input: InitiatePaymentInput): Promise<InitiatePaymentResult> {
      const em = orm.em.fork();
      const shop = await em.findOneOrFail(Shop, { id: input.shopId });
      const providerId = PROVIDER_OF[input.method];
      let payment = await em.findOne(Payment, { idempotencyKey: input.idempotencyKey });
      if (payment?.data.customerAction) return payment.data.customerAction as CustomerAction;
      if (payment?.status === 'failed' && payment.initiation === 'lost') {
        throw ApplicationFailure.create({ type: 'PaymentDeclined', message: 'the provider\'s answer to this attempt was lost', nonRetryable: true, details: [{ reason: payment.failureReason ?? 'provider_error', answerLost: true }] });
      }
      // Derived, not random: a retried initiation (the first answer lost in transit) gives the provider the same
      // CallBackURL, so a callback for the first request is still accepted.
      const token = createHmac('sha256', config.customerRefSecret).update(`mpesa-callback:${input.idempotencyKey}`).digest('base64url').slice(0, 32);
      if (!payment) {
        const order = await em.findOne(Order, { number: input.orderNumber });
        const booking = input.bookingReference ? await em.findOne(Booking, { shop: shop.id, reference: input.bookingReference }) : null;
        payment = em.create(Payment, {
          reference: input.reference,
          idempotencyKey: input.idempotencyKey,
          order,
          booking,
          shop,
          provider: providerId,
          method: input.method,
          attempt: input.attempt,
          status: 'pending',
          amount: input.amount,
          currency: input.currency,
          callbackTokenHash: tokenHash(token),
          initiation: 'not_sent',
          data: {},
        });
        await em.flush();
      }
      const customer = await em.findOneOrFail(Customer, { shop: shop.id, ref: input.customerRef });
      const phone = phoneForMethod(input.phone ?? customer.waId, input.method);
      if (!phone && ['mpesa', 'ghala_mpesa', 'ecocash', 'onemoney', 'innbucks', 'omari'].includes(input.method)) {
        throw ApplicationFailure.create({ type: 'PaymentDeclined', message: 'not a mobile number for this method', nonRetryable: true, details: [{ reason: 'invalid_number' }] });
      }
      const callbackPath = { mpesa: `/webhooks/mpesa/${token}`, paynow: '/webhooks/paynow', razorpay: '/webhooks/razorpay', ghala: '/webhooks/ghala', omari: '/webhooks/omari', cash: '/webhooks/cash' }[providerId];
      const request: InitiateInput = {
        amount: { amount: input.amount, currency: input.currency },
        method: input.method,
        context: {
          idempotencyKey: input.idempotencyKey,
          reference: input.reference,
          orderNumber: input.orderNumber,
          description: `${shop.name} ${input.bookingReference ?? input.orderNumber}`,
          callbackUrl: `${config.publicBaseUrl}${callbackPath}`,
          returnUrl: `${config.publicBaseUrl}/paid/${encodeURIComponent(input.reference)}`,
          ...(phone ? { customerPhone: phone } : {}),
          ...(input.email ? { customerEmail: input.email } : {}),
          ...(customer.name ? { customerName: customer.name } : {}),
          expiresAt: Math.floor(Date.now() / 1000) + input.expiresInSeconds,
        },
      };
      const provider = payments.forShop(shop, providerId);
      // The marker, committed before the provider hears of this attempt. Only a row whose last call certainly did not
      // reach the provider (or a new one) can be claimed; anything else means a call may have reached it.
      const claimed = await orm.em.fork().nativeUpdate(Payment, { id: payment.id, initiation: 'not_sent' }, { initiation: 'sending', updatedAt: new Date() });
      if (claimed === 1) return send(payment.id, provider, request);
      const current = await orm.em.fork().findOneOrFail(Payment, { id: payment.id });
      if (current.data.customerAction) return current.data.customerAction as CustomerAction;
      return recover(current, provider, request);
    },

    /**
     * Polls the provider with back-off until the payment settles or `until` passes. It heartbeats every few seconds
     * (with the last provider error, so a stuck provider shows in the Temporal UI) and stops when the workflow cancels
     * it; a worker shutting down is not the workflow's wish, so that attempt fails and another worker picks it up.
     * Each poll reads the payment again (a callback may have taught it the provider's id meanwhile). A provider that
     * refuses the question for good ends the polling with a non-retryable `ProviderError`.
     */
    async awaitPaymentResult(input: { reference: string; intervalMs: number; until: number }): Promise<PaymentSignal | null> {
      await load(input.reference);
      const ctx = Context.current();
      let wait = Math.max(1, input.intervalMs);
      let lastError: string | undefined;
      for (let polls = 0; Date.now() < input.until; polls += 1) {
        const pollAt = Math.min(Date.now() + wait, input.until);
        try {
          while (Date.now() < pollAt) {
            ctx.heartbeat({ polls, ...(lastError ? { lastError } : {}) });
            await sleep(Math.min(HEARTBEAT_EVERY_MS, pollAt - Date.now()));
          }
        } catch (err) {
          if (err instanceof CancelledFailure && ctx.cancellationDetails?.cancelRequested) return null;
          throw err;
        }
        ctx.heartbeat({ polls: polls + 1, ...(lastError ? { lastError } : {}) });
        try {
          const e = await statusOf(input.reference);
          lastError = undefined;
          if (e && e.status !== 'pending') return e;
        } catch (err) {
          if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
          // A provider outage while polling is not a verdict on the payment: keep trying until the deadline.
          lastError = maskPhones(String(err));
          ctx.log.warn('payment status poll failed', { reference: input.reference, error: lastError });
        }
        wait = Math.min(wait * 1.5, 60_000);
      }
      return null;
    },

    /** A booking as the customer sees it before paying against it; the reference is matched ignoring case. */
    async findBooking(input: { shopId: string; reference: string }): Promise<BookingView | null> {
      const reference = input.reference.trim();
      if (!reference || reference.length > 64) return null;
      const rows = await orm.em
        .fork()
        .getConnection()
        .execute<{ reference: string; description: string; total: number; paid: number; currency: string }[]>(
          'select reference, description, total, paid, currency from booking where shop_id = ? and upper(reference) = upper(?) limit 1',
          [input.shopId, reference],
        );
      const row = rows[0];
      if (!row) return null;
      return { reference: row.reference, description: row.description, total: Number(row.total), paid: Number(row.paid), currency: row.currency as CurrencyCode };
    },

    /**
     * One authoritative look (STK query, poll URL, link status) before anything is marked paid or ended: the provider's
     * own current status, `pending` while the customer has not answered or the provider cannot say yet. Null for cash.
     * Errors: `ProviderError` (non-retryable) when the provider refuses the question for good, else retryable.
     */
    async checkPayment(input: { reference: string }): Promise<PaymentSignal | null> {
      return statusOf(input.reference);
    },

    async submitPaymentOtp(input: { reference: string; otp: string }): Promise<PaymentSignal> {
      const { payment, provider } = await load(input.reference);
      if (!provider.submitOtp) throw ApplicationFailure.nonRetryable(`${payment.provider} takes no OTP`, 'NoOtp');
      try {
        return toSignal(payment.reference, await provider.submitOtp(payment.data, input.otp, money(payment)), 'poll');
      } catch (err) {
        if (err instanceof PaymentDeclinedError) return { reference: payment.reference, status: 'failed', failureReason: err.reason, source: 'poll' };
        return classify(err);
      }
    },

    async cancelPayment(input: { reference: string }): Promise<void> {
      const { payment, provider, em } = await load(input.reference);
      if (payment.status !== 'pending') return;
      await provider.cancel?.(payment.data);
      payment.status = 'cancelled';
      await em.flush();
    },

    /**
     * True when the provider took the refund; false when it cannot refund (an operator refunds by hand). `amount`
     * (minor units) refunds part; `alreadyRefunded` names which refund of this payment this is, so a retried call
     * finds the refund it made instead of making another.
     */
    async refundPayment(input: { reference: string; reason: string; amount?: number; alreadyRefunded?: number }): Promise<boolean> {
      const { payment, provider, em } = await load(input.reference);
      if (payment.status === 'refunded') return true;
      const amount = input.amount ?? payment.amount - (input.alreadyRefunded ?? 0);
      const key = `${input.alreadyRefunded ?? 0}+${amount}`;
      const refunds = (payment.data.refunds ?? {}) as Record<string, unknown>;
      if (refunds[key]) return true;
      if (!provider.refund) return false;
      const result = await provider.refund(payment.data, { ...money(payment), amount }).catch(classify);
      if (result.status === 'failed') return false;
      const whole = (input.alreadyRefunded ?? 0) + amount >= payment.amount;
      if (whole) payment.status = 'refunded';
      payment.data = { ...payment.data, refund: result.data, refunds: { ...refunds, [key]: result.data ?? true } };
      await em.flush();
      return true;
    },

    /**
     * Writes an attempt's outcome to its Payment row. A succeeded payment against a booking credits the booking once
     * (a replayed call finds it credited) and answers with the booking as it now stands, for the receipt.
     */
    async recordPaymentResult(input: { reference: string; status: IPayment['status']; transactionReference: string | null; failureReason: string | null }): Promise<{ booking: BookingView | null }> {
      const { payment, em } = await load(input.reference);
      const changed = payment.status !== input.status;
      payment.status = input.status;
      payment.transactionReference = input.transactionReference ?? payment.transactionReference ?? null;
      payment.failureReason = input.failureReason;
      await em.flush();
      // Counted once per change: a retry of this activity finds the status already written.
      if (changed) paymentResults.inc({ provider: payment.provider, result: input.status });
      if (input.status !== 'succeeded' || !payment.booking) return { booking: null };
      const bookingId = payment.booking.id;
      await orm.em.fork().transactional(async (tx) => {
        const conn = tx.getConnection();
        const [locked] = await conn.execute<{ data: Record<string, unknown> | null }[]>('select data from payment where id = ? for update', [payment.id], 'all', tx.getTransactionContext());
        if (locked?.data?.credited === true) return;
        await conn.execute('update booking set paid = paid + ?, updated_at = now() where id = ?', [payment.amount, bookingId], 'run', tx.getTransactionContext());
        await conn.execute(`update payment set data = coalesce(data, '{}'::jsonb) || '{"credited": true}'::jsonb where id = ?`, [payment.id], 'run', tx.getTransactionContext());
      });
      const booking = await orm.em.fork().findOneOrFail(Booking, { id: bookingId });
      return { booking: { reference: booking.reference, description: booking.description, total: booking.total, paid: booking.paid, currency: booking.currency as CurrencyCode } };
    },
  };
}
