import { ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, log, patched, proxyActivities, proxyLocalActivities, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ActivityInterfaceFor } from '@temporalio/workflow';
import { durationMs } from '../domain/duration.ts';
import { texts, price, type TemplateKey } from '../domain/i18n.ts';
import { isCurrencyCode } from '../domain/money.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { METHOD_COUNTRY, phoneForMethod, readEmail } from '../domain/phone.ts';
import type { Attention, OrderStatus, PaymentStatusValue } from '../domain/status.ts';
import { ledger, paymentTransitionRefusal } from '../domain/order-machine.ts';
import { PROVIDER_OF, isLinkMethod, nextPollWait, type FailureReason, type PaymentMethod } from '../domain/payment-methods.ts';
import type { OrderInput, OrderView, PaymentAttemptView, PaymentSignal, PlaceOrderInput } from './definitions.ts';
import { discountTexts } from '../domain/screens.ts';

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
  /** Provider events not yet applied: a late success must survive continue-as-new. */
  events?: PaymentSignal[];
}

/** Refunds go to the provider a bounded number of times: one it keeps refusing is owed by hand, never a stalled order. */
const REFUND_OPTIONS = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 } } as const;

/**
 * The status poll between timers as a local activity (patch `poll-local`): it runs in the workflow task the timer
 * wakes, so a poll is one workflow task and no activity task round trip. A status query is read-only at the provider,
 * so running it again is safe. Every retry is inside `localRetryThreshold` (1 s, then 2 s), in the worker, with the
 * task kept alive by the SDK; after the third try the poll gives up (an outage is no verdict) and the next timer
 * looks again, so an outage never holds the order and never ends it.
 */
const STATUS_POLL = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  localRetryThreshold: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 },
});


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
    this.events.push(...(s?.events ?? []));
  }

  private get t() {
    return texts(this.d.input.language);
  }

  snapshot(): Snapshot {
    return { requested: this.requested, lastMethod: this.lastMethod, lastPhone: this.lastPhone, attempts: this.attempts, events: [...this.events] };
  }

  /** Payment status moves only as the table allows (domain/order-machine.ts): never back from SUCCEEDED or REFUNDED. */
  private setPaymentStatus(to: PaymentStatusValue): void {
    const o = this.d.order;
    if (o.paymentStatus === to) return;
    const refusal = paymentTransitionRefusal(o.paymentStatus, to);
    if (refusal) {
      log.info('payment status kept', { orderNumber: o.orderNumber, from: o.paymentStatus, to });
      return;
    }
    o.paymentStatus = to;
  }

  /** Something an operator must act on: the search attribute `Attention` and a timeline entry say what. */
  flag(attention: Attention, detail: string): void {
    this.d.order.attention = attention;
    this.d.event(`attention_${attention.toLowerCase()}`, detail);
    this.d.touch();
  }

  private book(): void {
    const { paid, refunded } = ledger(this.d.order.payments);
    this.d.order.paid = paid;
    this.d.order.refunded = refunded;
  }

  validateRequest(choice: PlaceOrderInput): void {
    if (choice.phone !== undefined && METHOD_COUNTRY[choice.method] && !phoneForMethod(choice.phone, choice.method)) {
      throw new Error(`${choice.phone.replace(/\d(?=\d{3})/g, '•')} is not a valid number for ${choice.method}`);
    }
    if (choice.email !== undefined && !readEmail(choice.email)) throw new Error('the e-mail address is not valid');
  }

  request(choice: PlaceOrderInput): void {
    // "Try again" with the same method charges the same number the customer gave last time.
    this.requested = choice.phone === undefined && choice.method === this.lastMethod && this.lastPhone ? { ...choice, phone: this.lastPhone } : choice;
    this.abandoned = false;
    this.awaitingChoice = false;
  }

  /** The customer may leave an open payment link for another method (Help → Other method): never for an OTP or a prompt on the phone. */
  validateSwitch(choice: PlaceOrderInput): void {
    const c = this.current;
    if (!c || !isLinkMethod(c.method) || c.awaitingOtp) throw new Error('no payment link is open to switch from');
    if (choice.method === 'cash') throw new Error('cash is chosen at checkout, not instead of an open payment link');
    this.validateRequest(choice);
  }

  switching(): boolean {
    return this.current !== null && isLinkMethod(this.current.method) && !this.current.awaitingOtp;
  }

  /**
   * Closes the open link and starts the chosen method once it is closed. A link paid meanwhile still pays the order
   * (a late success), and a second payment is then flagged like any double payment.
   */
  async switchTo(choice: PlaceOrderInput): Promise<void> {
    const c = this.current!;
    this.abandoned = true;
    this.requested = choice;
    this.awaitingChoice = false;
    await this.d.acts.cancelPayment({ reference: c.reference }).catch((err: unknown) => log.warn('cancel failed', { error: String(err) }));
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

  /**
   * Gives back `amount` (everything still paid when absent), newest payment first. What the provider took is recorded
   * per payment; what it could not take is returned as owed, for an operator to refund by hand.
   */
  async refund(reason: string, amount?: number): Promise<{ refunded: number; owed: number }> {
    const o = this.d.order;
    let want = amount ?? ledger(o.payments).paid;
    let refunded = 0;
    let owed = 0;
    for (const p of [...o.payments].reverse()) {
      if (want <= 0) break;
      if (p.status !== 'succeeded') continue;
      const take = Math.min(p.amount - (p.refundedAmount ?? 0), want);
      if (take <= 0) continue;
      want -= take;
      if (await this.refundOne(p, take, reason)) refunded += take;
      else owed += take;
    }
    if (refunded > 0) {
      if (ledger(o.payments).paid === 0) this.setPaymentStatus('REFUNDED');
      this.d.event('refunded', price(refunded, o.currency));
    }
    return { refunded, owed };
  }

  private async refundOne(p: PaymentAttemptView, amount: number, reason: string): Promise<boolean> {
    let ok = false;
    try {
      ok = await proxyActivities<Activities>(REFUND_OPTIONS).refundPayment({ reference: p.reference, reason, amount, alreadyRefunded: p.refundedAmount ?? 0 });
    } catch (err) {
      log.warn('refund failed', { reference: p.reference, error: String(err) });
    }
    if (!ok) return false;
    p.refundedAmount = (p.refundedAmount ?? 0) + amount;
    if (p.refundedAmount >= p.amount) p.status = 'refunded';
    this.book();
    return true;
  }

  /** An operator gave money back outside duka: recorded in the ledger, the flag cleared. Returns the amount marked. */
  markRefundedByHand(note: string, amount?: number): number {
    const o = this.d.order;
    // A double payment is what is owed first: the duplicate, not the sale.
    const candidates = [...o.payments].reverse().filter((p) => p.status === 'succeeded').sort((a, b) => Number(b.duplicate ?? false) - Number(a.duplicate ?? false));
    let want = amount ?? (o.attention === 'DOUBLE_PAYMENT' ? candidates.filter((p) => p.duplicate).reduce((n, p) => n + p.amount - (p.refundedAmount ?? 0), 0) : ledger(o.payments).paid);
    let marked = 0;
    for (const p of candidates) {
      if (want <= 0) break;
      const take = Math.min(p.amount - (p.refundedAmount ?? 0), want);
      if (take <= 0) continue;
      p.refundedAmount = (p.refundedAmount ?? 0) + take;
      if (p.refundedAmount >= p.amount) p.status = 'refunded';
      want -= take;
      marked += take;
    }
    if (marked === 0) return 0;
    this.book();
    if (o.paid === 0) this.setPaymentStatus('REFUNDED');
    o.attention = null;
    this.d.event('refunded_by_hand', `${price(marked, o.currency)}: ${note.trim()}`);
    return marked;
  }

  private isCurrent(reference: string): boolean {
    return this.current?.reference === reference;
  }

  /**
   * After the order closed: waits out the payment window of the last attempt, if it was still open when the order
   * closed, and settles a success that arrives meanwhile (recorded as paid, the customer told the shop will contact
   * them). Nothing is waited for when no attempt could still take money.
   */
  /** Until when the last attempt could still be approved, if it was open when the order closed (0 if none). */
  lateWindowEnd(): number {
    const last = this.d.order.payments.at(-1);
    if (!last || !['pending', 'cancelled'].includes(last.status) || last.method === 'cash') return 0;
    return Date.parse(last.startedAt) + durationMs(isLinkMethod(last.method) ? this.d.input.timing.paymentLinkTimeout : this.d.input.timing.paymentTimeout);
  }

  async lingerForLatePayments(): Promise<void> {
    const last = this.d.order.payments.at(-1);
    if (!last || !['pending', 'cancelled'].includes(last.status) || last.method === 'cash') return;
    const isLink = isLinkMethod(last.method);
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
    this.setPaymentStatus('PENDING');
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
        ...(choice.email ? { email: choice.email } : {}),
        ...(input.booking ? { bookingReference: input.booking.reference } : {}),
        expiresInSeconds: Math.round(durationMs(input.timing.paymentLinkTimeout) / 1000),
      }]);
    } catch (err) {
      const reason = declineReason(err);
      this.current = null;
      if (!reason && !(err instanceof ActivityFailure)) throw err;
      // A provider that refuses for good (bad credentials, a broken request) ends this attempt, not the order.
      if (!reason) this.flag('PROVIDER_ERROR', `${choice.method}: ${failureMessage(err)}`);
      await this.finish(view, { reference, status: 'failed', failureReason: reason ?? 'provider_error', source: 'poll' });
      return;
    }

    const methodName = t.methodName[choice.method] ?? choice.method;
    if (action.type === 'approve_on_phone') {
      await this.d.say({ kind: 'text', body: t.payment.approvePrompt(methodName, price(order.total, order.currency)) });
    } else if (action.type === 'open_url' && /^https?:\/\//i.test(action.url)) {
      await this.d.say({ kind: 'cta_url', body: t.payment.payLinkBody(order.orderNumber, price(order.total, order.currency)), displayText: t.payment.payNow, url: action.url });
      // Seed 004's [Pay now] [Help]: a CTA message carries one button only, so Help is a reply button right after it.
      if (patched('pay-link-help')) await this.d.say({ kind: 'buttons', body: t.payment.linkHelpPrompt, buttons: [{ id: 'pay:help', title: t.payment.helpButton }] });
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

    const isLink = isLinkMethod(choice.method);
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
    // Newer runs poll between durable timers with short status checks: a payment waiting for the customer holds no
    // activity slot (a long polling activity did, for the whole window: a hundred of them starved every chat reply).
    // The wait below owns the one timer: the next look or the deadline.
    const onTimers = action.type !== 'enter_otp' && patched('poll-on-timers');
    const poll = action.type === 'enter_otp' || onTimers
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
    // Polling on timers: one timer at a time, the next look or the deadline, whichever is first.
    const firstPoll = Math.max(1, durationMs(input.timing.pollInterval));
    // Newer runs look as often as the method's schedule says (domain/payment-methods.ts), with a local activity.
    const byMethod = onTimers && patched('poll-by-method');
    const local = onTimers && patched('poll-local');
    const sentAt = Date.now();
    let pollEvery = byMethod ? nextPollWait(choice.method, firstPoll, undefined, 0) : firstPoll;
    let nextPoll = onTimers ? Date.now() + pollEvery : Number.POSITIVE_INFINITY;
    while (!this.abandoned && Date.now() < deadline) {
      const waitUntil = Math.min(deadline, nextPoll);
      const arrived = await condition(() => outcome() !== undefined || this.abandoned, waitUntil - Date.now(), { summary: `payment ${choice.method} timeout` } as never);
      if (this.abandoned) break;
      if (!arrived) {
        if (Date.now() >= deadline) break;
        pollEvery = byMethod ? nextPollWait(choice.method, firstPoll, pollEvery, Date.now() - sentAt) : Math.min(pollEvery * 1.5, 60_000);
        nextPoll = Date.now() + pollEvery;
        const polled = await this.pollOnce(reference, local);
        if (polled === 'stop') nextPoll = Number.POSITIVE_INFINITY;
        else if (polled) this.events.push({ ...polled, source: 'poll' });
        continue;
      }
      const e = outcome()!;
      if (e.status === 'succeeded' && e.source === 'callback') {
        const checked = await this.check(reference);
        if (!checked || checked.status === 'pending') {
          this.events.splice(this.events.indexOf(e), 1);
          this.d.event('payment_unconfirmed', 'callback said paid, the provider did not confirm it');
          continue;
        }
        confirmation = checked;
      } else if (e.source === 'callback' && patched('confirm-failure-callbacks')) {
        // A failure or expiry callback ends the attempt only when the provider says so too: a forged or early one
        // must not end a payment the customer is still approving.
        const checked = await this.check(reference);
        // A failed try on a payment link leaves the link open at the provider (the customer could try again there): the
        // provider's signed word is taken, and finish() closes the link so that it and a retry can never both be paid.
        const linkTryFailed = isLinkMethod(choice.method) && e.status === 'failed';
        if (checked && checked.status === 'pending' && !linkTryFailed) {
          this.events.splice(this.events.indexOf(e), 1);
          this.d.event('payment_unconfirmed', `callback said ${e.status}, the provider says it is still open`);
          continue;
        }
        if (!checked && !linkTryFailed) {
          // The provider would not say (a ProviderError is flagged by check()): the callback alone ends nothing; the
          // poll or the timeout decides.
          this.events.splice(this.events.indexOf(e), 1);
          this.d.event('payment_unconfirmed', `callback said ${e.status}, the provider did not answer`);
          continue;
        }
        result = checked && checked.status !== 'pending' ? checked : e;
        break;
      }
      result = e;
      break;
    }
    polling.cancel();
    await poll;

    if (this.abandoned) {
      view.status = 'cancelled';
      view.finishedAt = new Date(Date.now()).toISOString();
      this.setPaymentStatus('CANCELLED');
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

  /**
   * One look at the provider between timers (the method's schedule; before `poll-by-method` the interval, then ×1.5 up
   * to a minute): its verdict, or null while it is open or down (an outage is not a verdict), or 'stop' when it refuses
   * the question for good.
   */
  private async pollOnce(reference: string, local: boolean): Promise<PaymentSignal | null | 'stop'> {
    try {
      const e = local
        ? await STATUS_POLL.checkPayment({ reference })
        : await this.d.acts.checkPayment.executeWithOptions({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumAttempts: 3 }, summary: 'payment status poll' }, [{ reference }]);
      return e && e.status !== 'pending' ? e : null;
    } catch (err) {
      return checkFailed(err, reference, 'payment status poll failed') === 'refused' ? 'stop' : null;
    }
  }

  /**
   * The provider's own word on an attempt. A provider that refuses to answer for good is an operator's problem
   * (Attention=PROVIDER_ERROR), never a failed order: the attempt then waits for its callback or its timeout.
   */
  private async check(reference: string): Promise<PaymentSignal | null> {
    try {
      return await this.d.acts.checkPayment({ reference });
    } catch (err) {
      if (checkFailed(err, reference, 'the provider did not answer a status check') === 'refused') this.flag('PROVIDER_ERROR', `status check: ${failureMessage(err)}`);
      return null;
    }
  }

  /**
   * A second confirmed success on an order already paid (two prompts approved, a late success after a retry): kept in
   * the ledger, flagged, given back where the provider can, and the customer told either way.
   */
  private async doublePayment(view: PaymentAttemptView, methodName: string, receiptRef: string | undefined): Promise<void> {
    const { order } = this.d;
    view.duplicate = true;
    this.flag('DOUBLE_PAYMENT', `${methodName} ${receiptRef ?? view.reference} ${price(view.amount, view.currency)}: the order was already paid`);
    const refunded = await this.refundOne(view, view.amount, 'second payment for an order already paid');
    if (refunded) this.d.event('refunded', `${price(view.amount, view.currency)} (double payment)`);
    await this.d.persist();
    await this.d.say({ kind: 'text', body: this.t.payment.doublePaid(order.orderNumber, price(view.amount, view.currency), refunded) });
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
      const confirmed = e.source === 'poll' ? e : checked !== undefined ? checked : await this.check(view.reference);
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
        this.setPaymentStatus('FLAGGED');
        order.attention = 'AMOUNT_MISMATCH';
        const received = amount !== undefined && currency !== undefined && isCurrencyCode(currency) ? price(amount, currency) : `${amount ?? '?'} ${currency ?? '?'}`;
        this.d.event('payment_flagged', `received ${received}, expected ${price(view.amount, view.currency)}: for an operator`);
        await this.d.acts.recordPaymentResult({ reference: view.reference, status: 'flagged', transactionReference: confirmed.transactionReference ?? e.transactionReference ?? null, failureReason: 'amount_mismatch' });
        this.d.touch();
        await this.d.persist();
        await this.d.say({ kind: 'text', body: t.payment.flaggedText(order.orderNumber, received, price(view.amount, view.currency)) });
        return;
      }
      const alreadyPaid = ledger(order.payments.filter((p) => p !== view)).paid >= order.total && order.total > 0;
      view.status = 'succeeded';
      const receiptRef = confirmed.transactionReference ?? e.transactionReference;
      if (receiptRef) view.transactionReference = receiptRef;
      this.book();
      const { booking } = await this.d.acts.recordPaymentResult({ reference: view.reference, status: 'succeeded', transactionReference: receiptRef ?? null, failureReason: null });
      const methodName = t.methodName[view.method] ?? view.method;
      if (alreadyPaid) return this.doublePayment(view, methodName, receiptRef);
      this.setPaymentStatus('SUCCEEDED');
      this.d.event('payment_received', `${methodName} ${receiptRef ?? view.reference} (${e.source === 'callback' ? 'callback' : 'provider'})`);
      const open = ['CHECKOUT', 'AWAITING_PAYMENT', 'CONFIRMED'].includes(order.status);
      if (open) this.d.setStatus('PAID', late ? 'late confirmation' : undefined);
      // Money for an order that has closed (cancelled, expired) is kept for nobody: an operator refunds it or reopens.
      else if (['CANCELLED', 'EXPIRED', 'REFUNDED'].includes(order.status)) this.flag('REFUND_OWED', `${methodName} ${price(view.amount, view.currency)} arrived after the order closed`);
      // A booking payment has nothing left to fulfil once the money is in.
      if (open && input.booking) this.d.setStatus('COMPLETED', `booking ${input.booking.reference}`);
      this.d.touch();
      await this.d.persist();
      const lines = [...order.items.map((l) => `${l.quantity} × ${l.name} — ${price(l.lineTotal, order.currency)}`), ...discountTexts(t, order.discounts, order.currency)];
      const bookingNote = booking ? `\n${t.payment.bookingBalance(booking.reference, price(booking.total, booking.currency), price(booking.paid, booking.currency), price(Math.max(0, booking.total - booking.paid), booking.currency))}` : '';
      const body = t.payment.receipt(order.orderNumber, lines, price(order.total, order.currency), receiptRef ?? view.reference, methodName, !open) + bookingNote;
      await this.d.say({ kind: 'text', body }, { key: 'paymentReceived', params: [order.orderNumber, price(order.total, order.currency), receiptRef ?? view.reference] });
      return;
    }
    view.status = e.status === 'cancelled' ? 'cancelled' : e.status === 'expired' ? 'expired' : 'failed';
    if (e.failureReason) view.failureReason = e.failureReason;
    this.setPaymentStatus(e.status === 'cancelled' ? 'CANCELLED' : e.status === 'expired' ? 'EXPIRED' : 'FAILED');
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

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message.slice(0, 200) : String(cause).slice(0, 200);
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

/**
 * How a failed status check (checkPayment) is read, by the poll between timers and by the confirming check alike: a
 * refusal for good (a ProviderError, not retried: credentials, a reference the provider does not know) or anything
 * else (down, 5xx, a timeout), which is no verdict. Logged either way.
 */
function checkFailed(err: unknown, reference: string, what: string): 'refused' | 'unavailable' {
  log.warn(what, { reference, error: String(err) });
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable ? 'refused' : 'unavailable';
}
