import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, log, proxyActivities, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ActivityInterfaceFor } from '@temporalio/workflow';
import { durationMs } from '../domain/duration.ts';
import { texts, price, type TemplateKey } from '../domain/i18n.ts';
import { isCurrencyCode } from '../domain/money.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { METHOD_COUNTRY, phoneForMethod } from '../domain/phone.ts';
import type { OrderStatus } from '../domain/status.ts';
import { PROVIDER_OF, type FailureReason, type PaymentMethod } from '../providers/payments/types.ts';
import type { OrderInput, OrderView, PaymentAttemptView, PaymentSignal, PlaceOrderInput } from './definitions.ts';

const MAX_OTP_TRIES = 3;

interface Deps {
  order: OrderView;
  input: OrderInput;
  acts: ActivityInterfaceFor<Activities>;
  say: (m: OutboundMessage, template?: { key: TemplateKey; params: string[] }) => Promise<void>;
  event: (type: string, detail?: string) => void;
  setStatus: (to: OrderStatus, detail?: string) => void;
  touch: () => void;
  persist: () => Promise<void>;
  restore: unknown;
}

interface Snapshot {
  requested: PlaceOrderInput | null;
  lastMethod: PaymentMethod | null;
  lastPhone: string | null;
  attempts: number;
}

/**
 * The payment step of an order: one attempt at a time, each with its own reference and idempotency key (a retry is a
 * new attempt, so one attempt never charges twice). Whichever comes first wins: the provider's callback (a signal),
 * the polling activity, or the timeout; a success that arrives later still marks the order paid.
 */
export class PaymentStep {
  private readonly d: Deps;
  private requested: PlaceOrderInput | null;
  private lastMethod: PaymentMethod | null;
  private lastPhone: string | null;
  private attempts: number;
  private readonly events: PaymentSignal[] = [];
  private current: { reference: string; method: PaymentMethod; otpTries: number; awaitingOtp: boolean } | null = null;
  private abandoned = false;
  private awaitingChoice = false;

  constructor(deps: Deps) {
    this.d = deps;
    const s = (deps.restore as Snapshot | null) ?? null;
    this.requested = s?.requested ?? null;
    this.lastMethod = s?.lastMethod ?? null;
    this.lastPhone = s?.lastPhone ?? null;
    this.attempts = s?.attempts ?? deps.order.payments.length;
  }

  private get t() {
    return texts(this.d.input.language);
  }

  snapshot(): Snapshot {
    return { requested: this.requested, lastMethod: this.lastMethod, lastPhone: this.lastPhone, attempts: this.attempts };
  }

  validateRequest(choice: PlaceOrderInput): void {
    if (choice.phone !== undefined && METHOD_COUNTRY[choice.method] && !phoneForMethod(choice.phone, choice.method)) {
      throw new Error(`${choice.phone.replace(/\d(?=\d{3})/g, '•')} is not a valid number for ${choice.method}`);
    }
  }

  request(choice: PlaceOrderInput): void {
    // "Try again" with the same method charges the same number the customer gave last time.
    this.requested = choice.phone === undefined && choice.method === this.lastMethod && this.lastPhone ? { ...choice, phone: this.lastPhone } : choice;
    this.abandoned = false;
    this.awaitingChoice = false;
  }

  validateRetry(method?: PaymentMethod): void {
    const o = this.d.order;
    if (o.paymentStatus === 'SUCCEEDED') throw new Error('the order is already paid');
    if (!['CHECKOUT', 'AWAITING_PAYMENT'].includes(o.status)) throw new Error(`order ${o.orderNumber} is ${o.status}`);
    if (this.current) throw new Error('a payment attempt is still running');
    const m = method ?? this.lastMethod;
    if (!m) throw new Error('no payment method chosen yet');
    if (!this.d.input.shop.paymentMethods.includes(m)) throw new Error(`${m} is not offered by this shop`);
    if (m === 'cash') throw new Error('cash is collected by the shop, not through a payment attempt');
  }

  retry(method?: PaymentMethod): void {
    const m = (method ?? this.lastMethod) as PaymentMethod;
    this.d.order.paymentMethod = m;
    this.request({ method: m });
  }

  hasWork(): boolean {
    return this.requested !== null || this.events.some((e) => !this.isCurrent(e.reference));
  }

  busy(): boolean {
    return this.current !== null || this.requested !== null;
  }

  awaiting(): 'otp' | 'payment_choice' | null {
    if (this.current?.awaitingOtp) return 'otp';
    return this.awaitingChoice ? 'payment_choice' : null;
  }

  onEvent(e: PaymentSignal): void {
    if (this.d.order.payments.some((p) => p.reference === e.reference)) this.events.push(e);
    else log.warn('payment event for an unknown attempt', { reference: e.reference });
  }

  validateOtp(otp: string): void {
    if (!this.current?.awaitingOtp) throw new Error('no payment is waiting for an OTP');
    if (typeof otp !== 'string' || !/^\d{4,8}$/.test(otp.trim())) throw new Error('an OTP is 4 to 8 digits');
  }

  async submitOtp(otp: string): Promise<{ accepted: boolean; triesLeft: number }> {
    const c = this.current;
    if (!c) return { accepted: false, triesLeft: 0 };
    c.otpTries += 1;
    const result = await this.d.acts.submitPaymentOtp({ reference: c.reference, otp: otp.trim() });
    if (result.status === 'failed' && result.failureReason === 'wrong_otp' && c.otpTries < MAX_OTP_TRIES) {
      await this.d.say({ kind: 'text', body: this.t.payment.wrongOtp(MAX_OTP_TRIES - c.otpTries) });
      return { accepted: false, triesLeft: MAX_OTP_TRIES - c.otpTries };
    }
    c.awaitingOtp = false;
    this.events.push(result);
    return { accepted: result.status === 'succeeded', triesLeft: MAX_OTP_TRIES - c.otpTries };
  }

  async abandon(): Promise<void> {
    this.requested = null;
    this.awaitingChoice = false;
    if (this.current) {
      this.abandoned = true;
      await this.d.acts.cancelPayment({ reference: this.current.reference }).catch((err: unknown) => log.warn('cancel failed', { error: String(err) }));
    }
  }

  async refund(reason: string): Promise<boolean> {
    const paid = [...this.d.order.payments].reverse().find((p) => p.status === 'succeeded');
    if (!paid) return false;
    const ok = await this.d.acts.refundPayment({ reference: paid.reference, reason });
    if (ok) {
      paid.status = 'refunded';
      this.d.order.paymentStatus = 'REFUNDED';
      this.d.event('refunded', `${paid.method} ${price(paid.amount, paid.currency)}`);
    }
    return ok;
  }

  private isCurrent(reference: string): boolean {
    return this.current?.reference === reference;
  }

  /**
   * After the order closed: waits out the payment window of the last attempt, if it was still open when the order
   * closed, and settles a success that arrives meanwhile (recorded as paid, the customer told the shop will contact
   * them). Nothing is waited for when no attempt could still take money.
   */
  async lingerForLatePayments(): Promise<void> {
    const last = this.d.order.payments.at(-1);
    if (!last || !['pending', 'cancelled'].includes(last.status) || last.method === 'cash') return;
    const isLink = last.method === 'razorpay_link' || last.method === 'paynow_web';
    const until = Date.parse(last.startedAt) + durationMs(isLink ? this.d.input.timing.paymentLinkTimeout : this.d.input.timing.paymentTimeout);
    while (Date.now() < until) {
      if (!(await condition(() => this.events.length > 0, until - Date.now()))) return;
      this.current = null;
      await this.run();
      await this.d.persist();
    }
  }

  /** Runs the requested attempt to its end, or applies late events for earlier attempts. */
  async run(): Promise<void> {
    const late = this.events.filter((e) => !this.isCurrent(e.reference));
    if (late.length) {
      this.events.splice(0, this.events.length, ...this.events.filter((e) => this.isCurrent(e.reference)));
      for (const e of late) await this.settle(e, true);
    }
    const choice = this.requested;
    if (!choice) return;
    this.requested = null;
    await this.attempt(choice);
  }

  private async attempt(choice: PlaceOrderInput): Promise<void> {
    const { order, acts, input } = this.d;
    const t = this.t;
    this.attempts += 1;
    this.abandoned = false;
    this.lastMethod = choice.method;
    if (choice.phone) this.lastPhone = choice.phone;
    const reference = uuid4();
    const view: PaymentAttemptView = {
      attempt: this.attempts,
      reference,
      method: choice.method,
      provider: PROVIDER_OF[choice.method],
      status: 'pending',
      amount: order.total,
      currency: order.currency,
      startedAt: new Date(Date.now()).toISOString(),
    };
    order.payments.push(view);
    order.paymentStatus = 'PENDING';
    order.paymentMethod = choice.method;
    this.current = { reference, method: choice.method, otpTries: 0, awaitingOtp: false };
    this.d.event('payment_started', `${t.methodName[choice.method] ?? choice.method} attempt ${this.attempts}`);
    this.d.touch();
    await this.d.persist();

    let action;
    try {
      action = await acts.initiatePayment.executeWithOptions({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m' }, summary: `initiate ${choice.method} attempt ${this.attempts}` }, [{
        reference,
        idempotencyKey: `${order.orderNumber}:${this.attempts}`,
        orderNumber: order.orderNumber,
        shopId: order.shopId,
        customerRef: order.customerRef,
        method: choice.method,
        amount: order.total,
        currency: order.currency,
        attempt: this.attempts,
        ...(choice.phone ? { phone: choice.phone } : {}),
        ...(input.booking ? { bookingReference: input.booking.reference } : {}),
        expiresInSeconds: Math.round(durationMs(input.timing.paymentLinkTimeout) / 1000),
      }]);
    } catch (err) {
      const reason = declineReason(err);
      this.current = null;
      if (!reason) throw err;
      await this.finish(view, { reference, status: 'failed', failureReason: reason, source: 'poll' });
      return;
    }

    const methodName = t.methodName[choice.method] ?? choice.method;
    if (action.type === 'approve_on_phone') {
      await this.d.say({ kind: 'text', body: t.payment.approvePrompt(methodName, price(order.total, order.currency)) });
    } else if (action.type === 'open_url' && /^https?:\/\//i.test(action.url)) {
      await this.d.say({ kind: 'cta_url', body: t.payment.payLinkBody(order.orderNumber, price(order.total, order.currency)), displayText: t.payment.payNow, url: action.url });
    } else if (action.type === 'open_url') {
      // An app deep link (InnBucks) is no http(s) URL, which a WhatsApp button cannot carry: give the code to type.
      const code = /[?&]pymInnCode=([^&]+)/.exec(action.url)?.[1];
      await this.d.say({ kind: 'text', body: t.payment.appCodePrompt(methodName, price(order.total, order.currency), code ? decodeURIComponent(code) : action.url) });
    } else if (action.type === 'enter_otp') {
      this.current.awaitingOtp = true;
      // The conversation learns from this persist that the next digits the customer types are the OTP.
      this.d.touch();
      await this.d.persist();
      await this.d.say({ kind: 'text', body: t.payment.otpPrompt });
    }

    const isLink = choice.method === 'razorpay_link' || choice.method === 'paynow_web';
    const timeoutMs = durationMs(isLink ? input.timing.paymentLinkTimeout : input.timing.paymentTimeout);
    const outcome = () => this.events.find((e) => e.reference === reference && e.status !== 'pending');

    // Polling runs beside the wait for the callback; whichever reports first ends the other. It heartbeats, so a lost
    // worker is noticed and another one takes over, and it may run as long as the attempt does.
    const poller = proxyActivities<Activities>({
      startToCloseTimeout: timeoutMs + 60_000,
      heartbeatTimeout: '30s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
    });
    const polling = new CancellationScope();
    const poll = action.type === 'enter_otp'
      ? Promise.resolve()
      : polling
          .run(() => poller.awaitPaymentResult({ reference, intervalMs: durationMs(input.timing.pollInterval), until: Date.now() + timeoutMs }))
          .then((e) => void (e && this.events.push({ ...e, source: 'poll' })))
          .catch((err: unknown) => {
            if (!isCancellation(err)) log.warn('polling stopped', { error: String(err) });
          });
    // A callback that says "paid" is only a hint until the provider confirms it (STK query, poll URL, link status): an
    // unconfirmed one does not end the wait, so the poll, a later callback or the timeout still decide.
    const deadline = Date.now() + timeoutMs;
    let result: PaymentSignal | undefined;
    let confirmation: PaymentSignal | null | undefined;
    while (!this.abandoned && Date.now() < deadline) {
      const arrived = await condition(() => outcome() !== undefined || this.abandoned, deadline - Date.now(), { summary: `payment ${choice.method} timeout` } as never);
      if (!arrived || this.abandoned) break;
      const e = outcome()!;
      if (e.status === 'succeeded' && e.source === 'callback') {
        const checked = await acts.checkPayment({ reference });
        if (!checked || checked.status === 'pending') {
          this.events.splice(this.events.indexOf(e), 1);
          this.d.event('payment_unconfirmed', 'callback said paid, the provider did not confirm it');
          continue;
        }
        confirmation = checked;
      }
      result = e;
      break;
    }
    polling.cancel();
    await poll;

    if (this.abandoned) {
      view.status = 'cancelled';
      view.finishedAt = new Date(Date.now()).toISOString();
      order.paymentStatus = 'CANCELLED';
      this.current = null;
      return;
    }
    if (result) {
      this.events.splice(0, this.events.length, ...this.events.filter((e) => e.reference !== reference));
      this.current = null;
      await this.finish(view, result, false, confirmation);
      return;
    }
    // Timed out: one last look at the provider, then hand the choice back to the customer. A provider that does not
    // answer now must not hold the customer: the attempt expires, and a success it reports later still pays the order.
    let last: PaymentSignal | null = null;
    try {
      last = await proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumAttempts: 3 } }).checkPayment({ reference });
    } catch (err) {
      log.warn('no last look at the provider', { reference, error: String(err) });
    }
    this.current = null;
    await this.finish(view, last && last.status !== 'pending' ? last : { reference, status: 'expired', failureReason: 'timeout', source: 'poll' });
  }

  /** An event for an attempt that is no longer the current one: a late success still pays the order. */
  private async settle(e: PaymentSignal, late: boolean): Promise<void> {
    const view = this.d.order.payments.find((p) => p.reference === e.reference);
    if (!view || view.status === 'succeeded' || view.status === 'refunded' || e.status !== 'succeeded') return;
    await this.finish(view, e, late);
  }

  private async finish(view: PaymentAttemptView, e: PaymentSignal, late = false, checked?: PaymentSignal | null): Promise<void> {
    const { order, input } = this.d;
    const t = this.t;
    view.finishedAt = new Date(Date.now()).toISOString();
    if (e.status === 'succeeded') {
      // Confirm with the provider (STK query, poll URL) unless the fact came from it already.
      const confirmed = e.source === 'poll' ? e : checked !== undefined ? checked : await this.d.acts.checkPayment({ reference: view.reference });
      if (!confirmed || confirmed.status !== 'succeeded') {
        view.status = 'pending';
        this.d.event('payment_unconfirmed', 'callback said paid, provider did not confirm');
        if (confirmed && confirmed.status !== 'pending') return this.finish(view, confirmed, late);
        return;
      }
      const amount = confirmed.amount ?? e.amount;
      const currency = confirmed.currency ?? e.currency;
      // Daraja's STK query confirms the push it was asked about without repeating its amount: no amount is the amount pushed.
      if ((amount !== undefined && amount !== view.amount) || (currency !== undefined && currency !== view.currency)) {
        view.status = 'flagged';
        order.paymentStatus = 'FLAGGED';
        const received = amount !== undefined && currency !== undefined && isCurrencyCode(currency) ? price(amount, currency) : `${amount ?? '?'} ${currency ?? '?'}`;
        this.d.event('payment_flagged', `received ${received}, expected ${price(view.amount, view.currency)}: for an operator`);
        await this.d.acts.recordPaymentResult({ reference: view.reference, status: 'flagged', transactionReference: confirmed.transactionReference ?? e.transactionReference ?? null, failureReason: 'amount_mismatch' });
        this.d.touch();
        await this.d.persist();
        await this.d.say({ kind: 'text', body: t.payment.flaggedText(order.orderNumber, received, price(view.amount, view.currency)) });
        return;
      }
      view.status = 'succeeded';
      const receiptRef = confirmed.transactionReference ?? e.transactionReference;
      if (receiptRef) view.transactionReference = receiptRef;
      order.paymentStatus = 'SUCCEEDED';
      const { booking } = await this.d.acts.recordPaymentResult({ reference: view.reference, status: 'succeeded', transactionReference: receiptRef ?? null, failureReason: null });
      const methodName = t.methodName[view.method] ?? view.method;
      this.d.event('payment_received', `${methodName} ${receiptRef ?? view.reference} (${e.source === 'callback' ? 'callback' : 'provider'})`);
      const open = ['CHECKOUT', 'AWAITING_PAYMENT', 'CONFIRMED'].includes(order.status);
      if (open) this.d.setStatus('PAID', late ? 'late confirmation' : undefined);
      // A booking payment has nothing left to fulfil once the money is in.
      if (open && input.booking) this.d.setStatus('COMPLETED', `booking ${input.booking.reference}`);
      this.d.touch();
      await this.d.persist();
      const lines = order.items.map((l) => `${l.quantity} × ${l.name} — ${price(l.lineTotal, order.currency)}`);
      const bookingNote = booking ? `\n${t.payment.bookingBalance(booking.reference, price(booking.total, booking.currency), price(booking.paid, booking.currency), price(Math.max(0, booking.total - booking.paid), booking.currency))}` : '';
      const body = t.payment.receipt(order.orderNumber, lines, price(order.total, order.currency), receiptRef ?? view.reference, methodName, !open) + bookingNote;
      await this.d.say({ kind: 'text', body }, { key: 'paymentReceived', params: [order.orderNumber, price(order.total, order.currency), receiptRef ?? view.reference] });
      return;
    }
    view.status = e.status === 'cancelled' ? 'cancelled' : e.status === 'expired' ? 'expired' : 'failed';
    if (e.failureReason) view.failureReason = e.failureReason;
    order.paymentStatus = e.status === 'cancelled' ? 'CANCELLED' : e.status === 'expired' ? 'EXPIRED' : 'FAILED';
    if (e.status === 'failed' && !late) {
      // A payment link stays payable after a failed try: close it, so that it and a retry can never both be paid. Best
      // effort: if it was paid meanwhile, that success still arrives and pays the order.
      try {
        await proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumAttempts: 3 } }).cancelPayment({ reference: view.reference });
      } catch (err) {
        log.warn('could not close the failed attempt', { reference: view.reference, error: String(err) });
      }
    }
    await this.d.acts.recordPaymentResult({ reference: view.reference, status: view.status, transactionReference: null, failureReason: e.failureReason ?? null });
    this.d.event('payment_failed', e.failureReason ?? e.status);
    if (order.status === 'AWAITING_PAYMENT') this.d.setStatus('CHECKOUT', 'payment did not go through');
    this.awaitingChoice = true;
    this.d.touch();
    await this.d.persist();
    await this.d.say({
      kind: 'buttons',
      body: t.payment.failureText((e.failureReason as FailureReason | undefined) ?? (e.status === 'expired' ? 'timeout' : 'declined')),
      buttons: [
        { id: 'pay:retry', title: t.payment.tryAgain },
        { id: 'pay:other', title: t.payment.otherMethod },
        { id: 'order:cancel', title: t.cancel },
      ],
    });
  }
}

function declineReason(err: unknown): FailureReason | null {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === 'PaymentDeclined') {
    const details = cause.details?.[0] as { reason?: FailureReason } | undefined;
    return details?.reason ?? 'declined';
  }
  if (cause instanceof ApplicationFailure && cause.type === 'ProviderRejected') return 'declined';
  return null;
}
