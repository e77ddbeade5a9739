import { createHash, createHmac } from 'node:crypto';
import { ApplicationFailure, Context, CancelledFailure, sleep } from '@temporalio/activity';
import { Booking, Customer, Order, Payment, Shop, type IPayment } from '../db/entities.ts';
import { phoneForMethod } from '../domain/phone.ts';
import type { CurrencyCode } from '../domain/money.ts';
import {
  PaymentDeclinedError,
  PROVIDER_OF,
  ProviderRejectedError,
  type CustomerAction,
  type NormalisedPaymentEvent,
  type PaymentMethod,
} from '../providers/payments/types.ts';
import type { PaymentSignal } from '../workflows/definitions.ts';
import type { ActivityDeps } from './deps.ts';

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
  bookingReference?: string;
  expiresInSeconds: number;
}

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

export function createPaymentActivities({ orm, payments, config }: ActivityDeps) {
  async function load(reference: string) {
    const em = orm.em.fork();
    const payment = await em.findOne(Payment, { reference }, { populate: ['shop'] });
    if (!payment) throw ApplicationFailure.nonRetryable(`no payment ${reference}`, 'UnknownPayment');
    return { em, payment, provider: payments.forShop(payment.shop, payment.provider) };
  }
  const money = (p: IPayment) => ({ amount: p.amount, currency: p.currency as CurrencyCode });

  return {
    /**
     * Creates the payment row (once per idempotency key) and asks the provider to start. Run twice, it finds the row
     * and, when the provider already answered, returns that answer instead of charging again.
     */
    async initiatePayment(input: InitiatePaymentInput): Promise<CustomerAction> {
      const em = orm.em.fork();
      const shop = await em.findOneOrFail(Shop, { id: input.shopId });
      const provider = PROVIDER_OF[input.method];
      let payment = await em.findOne(Payment, { idempotencyKey: input.idempotencyKey });
      if (payment?.data.customerAction) return payment.data.customerAction as CustomerAction;
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
          provider,
          method: input.method,
          attempt: input.attempt,
          status: 'pending',
          amount: input.amount,
          currency: input.currency,
          callbackTokenHash: tokenHash(token),
          data: {},
        });
        await em.flush();
      }
      const customer = await em.findOneOrFail(Customer, { shop: shop.id, ref: input.customerRef });
      const phone = phoneForMethod(input.phone ?? customer.waId, input.method);
      if (!phone && ['mpesa', 'ecocash', 'onemoney', 'innbucks', 'omari'].includes(input.method)) {
        throw ApplicationFailure.create({ type: 'PaymentDeclined', message: 'not a mobile number for this method', nonRetryable: true, details: [{ reason: 'invalid_number' }] });
      }
      const callbackPath = { mpesa: `/webhooks/mpesa/${token}`, paynow: '/webhooks/paynow', razorpay: '/webhooks/razorpay', omari: '/webhooks/omari', cash: '/webhooks/cash' }[provider];
      try {
        const result = await payments.forShop(shop, provider).initiate({
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
            ...(customer.name ? { customerName: customer.name } : {}),
            expiresAt: Math.floor(Date.now() / 1000) + input.expiresInSeconds,
          },
        });
        payment.providerReference = result.providerReference ?? null;
        payment.data = { ...result.data, customerAction: result.customerAction };
        await em.flush();
        return result.customerAction;
      } catch (err) {
        if (err instanceof PaymentDeclinedError) {
          payment.status = 'failed';
          payment.failureReason = err.reason;
          await em.flush();
        }
        return classify(err);
      }
    },

    /**
     * Polls the provider with back-off until the payment settles or `until` passes. It heartbeats every few seconds
     * (with the last provider error, so a stuck provider shows in the Temporal UI) and stops when the workflow cancels
     * it; a worker shutting down is not the workflow's wish, so that attempt fails and another worker picks it up.
     */
    async awaitPaymentResult(input: { reference: string; intervalMs: number; until: number }): Promise<PaymentSignal | null> {
      const { payment, provider } = await load(input.reference);
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
          const e = await provider.status(payment.data, money(payment));
          lastError = undefined;
          if (e.status !== 'pending') return toSignal(payment.reference, e, 'poll');
        } catch (err) {
          // A provider outage while polling is not a verdict on the payment: keep trying until the deadline.
          lastError = String(err);
          ctx.log.warn('payment status poll failed', { reference: payment.reference, error: lastError });
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

    /** One authoritative look (STK query, poll URL, link status) before anything is marked paid. */
    async checkPayment(input: { reference: string }): Promise<PaymentSignal | null> {
      const { payment, provider } = await load(input.reference);
      if (payment.provider === 'cash') return null;
      const e = await provider.status(payment.data, money(payment)).catch(classify);
      return toSignal(payment.reference, e, 'poll');
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
      payment.status = input.status;
      payment.transactionReference = input.transactionReference ?? payment.transactionReference ?? null;
      payment.failureReason = input.failureReason;
      await em.flush();
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
