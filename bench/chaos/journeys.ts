import { DEMO_SHOPS } from '../../db/seed.ts';
import { customerRefFor } from '../../lib/customer-ref.ts';
import { buildInboundWebhook, buttonReply, listReply, textMessage, type RawInboundMessage } from '../../sandbox/meta.ts';
import { describeSend, type Seen } from '../../test/helpers/chat.ts';
import type { InboundFact, JourneyMethod, JourneyRecord } from './checks.ts';
import type { Fakes, OutboundRecord } from './fakes.ts';
import type { ApiPool } from './pool.ts';
import type { Random } from './random.ts';

/**
 * Customers of the three demo shops, each buying something and paying for it as a person on WhatsApp would: "hi",
 * browse, add a product with a quantity (maybe a second one), checkout, pickup or delivery, confirm, pick the method,
 * then approve the prompt on the phone / type the O'mari OTP / pay the Razorpay link, and wait for the receipt. Every
 * message is a signed webhook posted as Meta posts it: again and again until duka answers 200, and now and then once
 * more after that; each try goes to the next live API (round robin over the pool).
 */

export type MessageKind = 'cart' | 'other';

/** Where the chaos can strike from a journey's side. */
export interface JourneyHooks {
  /** A webhook POST is leaving for `api` (that API may be killed while it is in flight). */
  webhookLeaving(kind: MessageKind, api: string | null): void;
  /** duka accepted a message that changes a cart: the update it causes is in flight now. */
  cartUpdateAccepted(): void;
}

export interface MetaOptions {
  /** duka's APIs behind their front address: each try goes to the next live one. */
  apis: ApiPool;
  appSecret: string;
  random: Random;
  /** Share of webhooks Meta delivers once more after a 200. */
  redeliverRate: number;
  /** How long Meta keeps trying one webhook. */
  giveUpAfterMs: number;
  hooks: JourneyHooks;
  signal: AbortSignal;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Meta's side of the webhook: at-least-once delivery, with retries while duka answers anything but 200. */
export class Meta {
  private readonly opts: MetaOptions;
  /** Answers by HTTP status ("unreachable" for a refused or dropped connection). */
  readonly answers = new Map<string, number>();
  private redeliveries = 0;
  /** Each customer message once, with when the customer sent it. */
  readonly sent: InboundFact[] = [];
  delivered = 0;
  redelivered = 0;

  constructor(opts: MetaOptions) {
    this.opts = opts;
  }

  pending(): number {
    return this.redeliveries;
  }

  async deliver(shop: { phoneNumberId: string; displayPhone: string }, from: string, name: string, message: RawInboundMessage, kind: MessageKind): Promise<void> {
    const built = buildInboundWebhook({ phoneNumberId: shop.phoneNumberId, displayPhoneNumber: shop.displayPhone, from, name, messages: [message], appSecret: this.opts.appSecret, escapeNonAscii: true });
    this.sent.push({ from, at: Date.now() });
    await this.untilAccepted(built.raw, built.headers, (api) => this.opts.hooks.webhookLeaving(kind, api));
    this.delivered += 1;
    if (kind === 'cart') this.opts.hooks.cartUpdateAccepted();
    if (this.opts.random.chance(this.opts.redeliverRate)) {
      // The same event (same wamid, same signature) again: Meta's delivery is at least once.
      this.redeliveries += 1;
      void (async () => {
        await sleep(this.opts.random.between(200, 6_000));
        await this.untilAccepted(built.raw, built.headers).catch(() => undefined);
        this.redelivered += 1;
      })().finally(() => (this.redeliveries -= 1));
    }
  }

  /** Posts until an API answers 200; `leaving` hears which API the first try goes to. */
  private async untilAccepted(body: string, headers: Record<string, string>, leaving?: (api: string | null) => void): Promise<void> {
    const deadline = Date.now() + this.opts.giveUpAfterMs;
    for (let attempt = 0; ; attempt++) {
      let status = 'unreachable';
      const target = this.opts.apis.route(`${this.opts.apis.front}/webhooks/whatsapp`);
      if (attempt === 0) leaving?.(target.api);
      try {
        const res = await fetch(target.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer().catch(() => undefined);
        status = String(res.status);
      } catch {
        // refused (the API is down) or cut (killed mid-request): Meta tries again
      }
      this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
      if (status === '200') return;
      if (Date.now() > deadline || this.opts.signal.aborted) throw new Error(`webhook not accepted within ${Math.round(this.opts.giveUpAfterMs / 1000)} s (last: ${status})`);
      await sleep(Math.min(4_000, 250 * 2 ** Math.min(attempt, 4)));
    }
  }
}

// ---- the plan ---------------------------------------------------------------------------------------------------

export interface ShopPlan {
  id: string;
  phoneNumberId: string;
  displayPhone: string;
  /** Customers' numbers: this prefix and six digits. */
  prefix: string;
  products: { id: string; name: string; category: string }[];
}

export interface JourneyPlan {
  id: number;
  shop: ShopPlan;
  method: JourneyMethod;
  phone: string;
  name: string;
  lines: { productId: string; name: string; category: string; quantity: number }[];
  delivery: boolean;
}

/** Mobile prefixes each simulator accepts (Safaricom, Econet, an Indian mobile). */
const PREFIX: Record<string, string> = { nairobi: '254711', harare: '263772', pune: '919800' };
const METHODS: { method: JourneyMethod; shop: string }[] = [
  { method: 'mpesa', shop: 'nairobi' },
  { method: 'ecocash', shop: 'harare' },
  { method: 'omari', shop: 'harare' },
  { method: 'razorpay_link', shop: 'pune' },
];

export function demoShops(): Map<string, ShopPlan> {
  return new Map(
    DEMO_SHOPS.map((s) => [
      s.id,
      {
        id: s.id,
        phoneNumberId: s.phoneNumberId,
        displayPhone: s.displayPhone,
        prefix: PREFIX[s.id] ?? '2547',
        // Products that go straight to "how many?" (no sizes or add-ons to pick).
        products: s.products.filter((p) => !p.presentations?.length && !p.groups?.length).map((p) => ({ id: p.id, name: p.name, category: p.category })),
      },
    ]),
  );
}

/** `count` journeys spread evenly over M-Pesa, EcoCash (Paynow), O'mari and Razorpay. */
export function planJourneys(count: number, random: Random): JourneyPlan[] {
  const shops = demoShops();
  return Array.from({ length: count }, (_, i) => {
    const { method, shop: shopId } = METHODS[i % METHODS.length]!;
    const shop = shops.get(shopId)!;
    const first = random.pick(shop.products);
    const others = shop.products.filter((p) => p.id !== first.id);
    const second = others.length && random.chance(0.5) ? random.pick(others) : null;
    return {
      id: i + 1,
      shop,
      method,
      phone: `${shop.prefix}${String(i + 1).padStart(6, '0')}`,
      name: `Chaos ${i + 1}`,
      lines: [first, ...(second ? [second] : [])].map((p) => ({ productId: p.id, name: p.name, category: p.category, quantity: random.int(1, 3) })),
      delivery: random.chance(0.4),
    };
  });
}

export function newRecord(plan: JourneyPlan, customerRefSecret: string): JourneyRecord {
  return {
    id: plan.id,
    phone: plan.phone,
    shopId: plan.shop.id,
    customerRef: customerRefFor(plan.phone, customerRefSecret),
    method: plan.method,
    lines: {},
    unconfirmed: {},
    orderNumber: null,
    finished: false,
    stuckAt: null,
    paymentRetries: 0,
    lastMessage: null,
    slowest: null,
    lateAnswerMs: null,
  };
}

// ---- a customer -------------------------------------------------------------------------------------------------

export class Stuck extends Error {
  readonly step: string;
  constructor(step: string, detail: string) {
    super(`${step}: ${detail}`);
    this.step = step;
  }
}

/** What a journey was waiting for when it gave up: to tell, at the end, a slow answer from one that never came. */
interface Awaited {
  wanted: (s: Seen) => boolean;
  since: number;
  cursor: number;
}

const seen = (r: OutboundRecord): Seen => describeSend({ phoneNumberId: r.phoneNumberId, to: r.to, body: r.body, messageId: r.wamid, receivedAt: r.at });
const isList = (s: Seen) => (s.raw.body as { interactive?: { type?: string } }).interactive?.type === 'list';

export interface JourneyContext {
  meta: Meta;
  fakes: Fakes;
  /** The OTP of the latest O'mari SMS to each phone (Phones keeps it). */
  otps: Map<string, string>;
  random: Random;
  /** How long a customer waits for an answer before giving up on the journey. */
  stepTimeoutMs: number;
  signal: AbortSignal;
}

export class Customer {
  readonly plan: JourneyPlan;
  readonly record: JourneyRecord;
  private readonly ctx: JourneyContext;
  private cursor = 0;
  private awaited: Awaited | null = null;

  constructor(ctx: JourneyContext, plan: JourneyPlan, record: JourneyRecord) {
    this.ctx = ctx;
    this.plan = plan;
    this.record = record;
  }

  send(message: RawInboundMessage, kind: MessageKind = 'other'): Promise<void> {
    return this.ctx.meta.deliver(this.plan.shop, this.plan.phone, this.plan.name, message, kind);
  }
  say(text: string, kind: MessageKind = 'other') {
    return this.send(textMessage(this.plan.phone, text), kind);
  }
  tap(id: string) {
    return this.send(buttonReply(this.plan.phone, id, id.slice(0, 20)));
  }
  pick(id: string) {
    return this.send(listReply(this.plan.phone, id, id.slice(0, 24)));
  }

  /** The next message duka sends this customer that `wanted` accepts (earlier ones are passed over). */
  async expect(step: string, wanted: (s: Seen) => boolean, timeoutMs = this.ctx.stepTimeoutMs): Promise<Seen> {
    const since = Date.now();
    const deadline = since + timeoutMs;
    this.awaited = { wanted, since, cursor: this.cursor };
    for (;;) {
      const mine = this.ctx.fakes.outboundTo(this.plan.phone);
      for (let i = this.cursor; i < mine.length; i++) {
        const s = seen(mine[i]!);
        if (wanted(s)) {
          this.cursor = i + 1;
          const waited = mine[i]!.at - since;
          if (waited > (this.record.slowest?.ms ?? 0)) this.record.slowest = { step, ms: waited };
          return s;
        }
      }
      if (Date.now() > deadline) throw new Stuck(step, `no answer within ${Math.round(timeoutMs / 1000)} s`);
      if (this.ctx.signal.aborted) throw new Stuck(step, 'the run was stopped');
      await this.ctx.fakes.nextOutbound(Math.min(1_000, deadline - Date.now()));
    }
  }

  /** "Add to cart", the quantity, and the bot's "Added …" with the cart. */
  private async addLine(line: JourneyPlan['lines'][number]): Promise<void> {
    await this.tap(`add:${line.productId}`);
    await this.expect(`quantity question for ${line.productId}`, (s) => s.text.includes(`*${line.name}*`) && /\d/.test(s.text));
    this.record.unconfirmed[line.productId] = line.quantity;
    await this.think();
    await this.say(String(line.quantity), 'cart');
    await this.expect(`"Added" for ${line.productId}`, (s) => s.text.startsWith(`Added ${line.quantity} × ${line.name}`));
    delete this.record.unconfirmed[line.productId];
    this.record.lines[line.productId] = (this.record.lines[line.productId] ?? 0) + line.quantity;
    await this.expect('cart', (s) => s.ids.includes('cart:checkout'));
  }

  private think(): Promise<void> {
    return sleep(this.ctx.random.between(100, 700));
  }

  /** The whole purchase, up to the receipt; a journey that waits too long is recorded as stuck. */
  async run(): Promise<void> {
    const { plan } = this;
    const [first, ...more] = plan.lines;
    try {
      await this.say('hi');
      await this.expect('greeting', (s) => s.ids.includes('menu:shop'));
      await this.think();
      await this.tap('menu:shop');
      await this.expect('categories', (s) => s.ids.includes(`cat:${first!.category}`));
      await this.pick(`cat:${first!.category}`);
      await this.expect('products', (s) => s.ids.includes(`prod:${first!.productId}`));
      await this.pick(`prod:${first!.productId}`);
      await this.expect('product card', (s) => s.ids.includes(`add:${first!.productId}`));
      await this.addLine(first!);
      // A second product straight from its "Add to cart" id, as a customer tapping an older product card would.
      for (const line of more) await this.addLine(line);
      await this.think();
      await this.tap('cart:checkout');
      await this.expect('delivery or pickup', (s) => s.ids.includes('ful:pickup'));
      if (plan.delivery) {
        await this.tap('ful:delivery');
        await this.expect('address question', (s) => /address/i.test(s.text));
        await this.say(`Plot ${plan.id}, Chaos Road, ${plan.shop.id}`);
      } else {
        await this.tap('ful:pickup');
      }
      const summary = await this.expect('order summary', (s) => s.ids.includes('order:confirm') && /Order [A-Z]+-\d+/.test(s.text));
      this.record.orderNumber = /Order ([A-Z]+-\d+)/.exec(summary.text)![1]!;
      await this.think();
      await this.tap('order:confirm');
      const methods = await this.expect('payment methods', (s) => s.ids.includes(`pay:${plan.method}`));
      if (isList(methods)) await this.pick(`pay:${plan.method}`);
      else await this.tap(`pay:${plan.method}`);
      // The phone (see Phones) approves the prompt, types the OTP or pays the link; here the customer waits. An
      // attempt duka gives up on comes back with [Try again]: the customer tries again, as people do, twice at most.
      // O'mari asks for the OTP in WhatsApp ("We sent you an OTP…", "That OTP is not right…"): the customer types the
      // one of the latest SMS, once asked (an OTP typed before the question is just a number to the bot).
      const receipt = `Receipt — order ${this.record.orderNumber}`;
      const otpQuestion = (s: Seen) => plan.method === 'omari' && /\bOTP\b/.test(s.text) && s.ids.length === 0;
      for (;;) {
        const answer = await this.expect('receipt', (s) => s.text.includes(receipt) || s.ids.includes('pay:retry') || otpQuestion(s));
        if (answer.text.includes(receipt)) break;
        if (otpQuestion(answer)) {
          await this.think();
          await this.say(await this.latestOtp());
          continue;
        }
        if (this.record.paymentRetries >= 2) throw new Stuck('receipt', 'the payment failed three times');
        this.record.paymentRetries += 1;
        await this.think();
        await this.tap('pay:retry');
      }
      this.record.finished = true;
    } catch (err) {
      this.record.stuckAt = err instanceof Stuck ? err.step : `an error: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** At the end of the run: what duka said last, and whether the answer a stuck journey gave up on came after all. */
  noteTheEnd(): void {
    const mine = this.ctx.fakes.outboundTo(this.plan.phone);
    const last = mine.at(-1);
    this.record.lastMessage = last ? seen(last).text : null;
    if (this.record.finished || !this.awaited) return;
    const late = mine.slice(this.awaited.cursor).find((m) => this.awaited!.wanted(seen(m)));
    if (late) this.record.lateAnswerMs = late.at - this.awaited.since;
  }

  /** The OTP of the latest O'mari SMS to this phone (waiting for it if none came yet). */
  private async latestOtp(): Promise<string> {
    const deadline = Date.now() + this.ctx.stepTimeoutMs;
    for (;;) {
      const otp = this.ctx.otps.get(this.plan.phone);
      if (otp) return otp;
      if (Date.now() > deadline || this.ctx.signal.aborted) throw new Stuck("O'mari OTP SMS", 'no SMS came');
      await sleep(250);
    }
  }
}

// ---- the customers' phones --------------------------------------------------------------------------------------

/**
 * What happens on the customers' phones and browsers: every STK push and EcoCash prompt to a journey's number is
 * approved, every O'mari OTP SMS is kept for the customer to type when asked, every Razorpay link duka sent is paid,
 * each after a human pause. A second prompt for the same order is approved too, as a confused customer would: that is how a double
 * push becomes a double charge.
 */
export class Phones {
  private readonly fakes: Fakes;
  private readonly random: Random;
  private readonly customers = new Map<string, Customer>();
  private readonly handled = new Set<string>();
  /** The OTP of the latest O'mari SMS to each phone: the customer types it when the bot asks. */
  readonly otps = new Map<string, string>();
  private scheduled = 0;
  private readonly timer: ReturnType<typeof setInterval>;
  approvals = 0;

  constructor(fakes: Fakes, random: Random) {
    this.fakes = fakes;
    this.random = random;
    fakes.onOtp((sms) => this.otps.set(sms.msisdn, sms.otp));
    this.timer = setInterval(() => this.scan(), 250);
    this.timer.unref();
  }

  add(customer: Customer): void {
    this.customers.set(customer.plan.phone, customer);
  }

  /** Approvals still waiting for their human pause. */
  pending(): number {
    return this.scheduled;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private later(key: string, act: () => Promise<unknown>): void {
    if (this.handled.has(key)) return;
    this.handled.add(key);
    this.scheduled += 1;
    void sleep(this.random.between(500, 2_500))
      .then(act)
      .then(() => (this.approvals += 1))
      .catch(() => undefined)
      .finally(() => (this.scheduled -= 1));
  }

  private scan(): void {
    const { fakes } = this;
    for (const push of fakes.mpesa.pending()) {
      if (this.customers.has(push.phoneNumber)) this.later(`mpesa:${push.checkoutRequestId}`, () => fakes.mpesa.complete(push.checkoutRequestId, { resultCode: 0 }));
    }
    for (const t of fakes.paynow.pending()) {
      const phone = t.phone ? `263${t.phone.replace(/^0/, '')}` : '';
      if (this.customers.has(phone)) this.later(`paynow:${t.pollId}`, () => fakes.paynow.complete(t.pollId, { status: 'Paid' }));
    }
    for (const [phone, customer] of this.customers) {
      if (customer.plan.method !== 'razorpay_link') continue;
      for (const message of fakes.outboundTo(phone)) {
        const url = (message.body as { interactive?: { type?: string; action?: { parameters?: { url?: string } } } }).interactive?.action?.parameters?.url;
        const linkId = url ? /\/pay\/([^/?#]+)/.exec(url)?.[1] : undefined;
        if (linkId && fakes.razorpay.link(linkId)?.status === 'created') this.later(`razorpay:${linkId}`, () => fakes.razorpay.pay(linkId));
      }
    }
  }
}
