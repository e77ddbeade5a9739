import { createHash, randomBytes } from 'node:crypto';
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
      const token = randomBytes(24).toString('base64url');
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
      } else {
        payment.callbackTokenHash = tokenHash(token);
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

    /** Polls the provider with back-off until the payment settles or `until` passes; heartbeats so it can be cancelled. */
    async awaitPaymentResult(input: { reference: string; intervalMs: number; until: number }): Promise<PaymentSignal | null> {
      const { payment, provider } = await load(input.reference);
      let wait = input.intervalMs;
      const ctx = Context.current();
      for (let polls = 0; Date.now() < input.until; polls += 1) {
        try {
          await sleep(Math.min(wait, Math.max(0, input.until - Date.now())));
        } catch (err) {
          if (err instanceof CancelledFailure) return null;
          throw err;
        }
        ctx.heartbeat({ polls });
        try {
          const e = await provider.status(payment.data, money(payment));
          if (e.status !== 'pending') return toSignal(payment.reference, e, 'poll');
        } catch (err) {
          // A provider outage while polling is not a verdict on the payment: keep trying until the deadline.
          ctx.log.warn('payment status poll failed', { reference: payment.reference, error: String(err) });
        }
        wait = Math.min(wait * 1.5, 60_000);
      }
      return null;
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

    /** True when the provider took the refund; false when it cannot refund (an operator refunds by hand). */
    async refundPayment(input: { reference: string; reason: string }): Promise<boolean> {
      const { payment, provider, em } = await load(input.reference);
      if (payment.status === 'refunded') return true;
      if (!provider.refund) return false;
      const result = await provider.refund(payment.data, money(payment)).catch(classify);
      if (result.status === 'failed') return false;
      payment.status = 'refunded';
      payment.data = { ...payment.data, refund: result.data };
      await em.flush();
      return true;
    },

    async recordPaymentResult(input: { reference: string; status: IPayment['status']; transactionReference: string | null; failureReason: string | null }): Promise<void> {
      const { payment, em } = await load(input.reference);
      payment.status = input.status;
      payment.transactionReference = input.transactionReference ?? payment.transactionReference ?? null;
      payment.failureReason = input.failureReason;
      await em.flush();
      if (input.status === 'succeeded' && payment.booking) {
        const booking = await em.findOneOrFail(Booking, { id: payment.booking.id });
        const credited = (booking as { paid: number }).paid;
        // Booking payments are credited once: a replayed record finds the payment already counted.
        if (!(payment.data.credited as boolean | undefined)) {
          booking.paid = credited + payment.amount;
          payment.data = { ...payment.data, credited: true };
          await em.flush();
        }
      }
    },

  };
}
