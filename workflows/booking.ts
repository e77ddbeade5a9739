import { patched } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ShopView } from '../domain/catalog.ts';
import { price, texts, type Language, type Texts } from '../domain/i18n.ts';
import { parseDecimal, type CurrencyCode } from '../domain/money.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { METHOD_COUNTRY, networkOf, phoneForMethod, readPayerReply } from '../domain/phone.ts';
import { paymentMethods } from '../domain/screens.ts';
import type { PaymentMethod } from '../domain/payment-methods.ts';
import type { OrderView, PlaceOrderInput } from './definitions.ts';

/**
 * Paying against a booking (seed 003), as a part of the conversation: "pay" → booking reference (any case) → total,
 * paid and balance → an amount (decimal, at most the balance) → a mobile-money method → the number to charge → the
 * order workflow takes over (prompt or OTP, then the receipt with the booking's new balance). Three tries per input,
 * then back to the menu; "cancel" stops at any step (the conversation handles it).
 */
export type BookingStep =
  | { name: 'booking_ref'; tries: number }
  | { name: 'booking_amount'; reference: string; description: string; balance: number; tries: number }
  | { name: 'booking_method'; reference: string; description: string; amount: number; orderNumber?: string }
  | { name: 'booking_phone'; reference: string; description: string; amount: number; method: PaymentMethod; tries: number; orderNumber?: string };

const BOOKING_STEPS: readonly string[] = ['booking_ref', 'booking_amount', 'booking_method', 'booking_phone'];
export const isBookingStep = (step: { name: string }): step is BookingStep => BOOKING_STEPS.includes(step.name);

const MAX_TRIES = 3;

export interface BookingDeps {
  acts: Pick<Activities, 'findBooking' | 'allocateOrderNumber' | 'startOrder' | 'startOrderWorkflow' | 'updateOrder'>;
  shopId: string;
  customerRef: string;
  language: () => Language;
  t: () => Texts;
  getShop: () => Promise<ShopView>;
  send: (m: OutboundMessage) => Promise<void>;
  setStep: (step: BookingStep | { name: 'idle' }) => void;
  /** The booking's order is now the customer's active order. */
  track: (orderNumber: string, status: OrderView['status'], method?: PaymentMethod) => void;
  showMenu: () => Promise<void>;
}

export function bookingDialogue(d: BookingDeps) {
  const w = () => texts(d.language()).booking;

  /** Mobile money and links; never cash (a booking is paid now, not on delivery). */
  const methodsFor = (shop: ShopView) => shop.paymentMethods.filter((m) => m !== 'cash') as PaymentMethod[];

  async function giveUp(text: string) {
    d.setStep({ name: 'idle' });
    await d.send({ kind: 'text', body: `${text} ${d.t().tooManyTries}` });
    return d.showMenu();
  }

  async function askMethod(step: Extract<BookingStep, { name: 'booking_method' }>) {
    const shop = await d.getShop();
    d.setStep(step);
    const screen = paymentMethods(d.t(), { ...shop, paymentMethods: methodsFor(shop) }, null);
    const lead = w().paying(price(step.amount, shop.currency), step.reference);
    return d.send({ ...screen, body: `${lead}\n${'body' in screen ? screen.body : ''}` } as OutboundMessage);
  }

  async function place(step: { reference: string; description: string; amount: number; orderNumber?: string }, choice: PlaceOrderInput) {
    d.setStep({ name: 'idle' });
    let orderNumber = step.orderNumber;
    if (!orderNumber) {
      const shop = await d.getShop();
      const start = { shop, customerRef: d.customerRef, language: d.language(), source: 'booking' as const, booking: { reference: step.reference, description: step.description, amount: step.amount } };
      if (patched('start-order-once')) {
        orderNumber = await d.acts.startOrder(start);
      } else {
        orderNumber = await d.acts.allocateOrderNumber(shop.id);
        await d.acts.startOrderWorkflow({ ...start, orderNumber });
      }
      d.track(orderNumber, 'CHECKOUT');
    }
    const r = await d.acts.updateOrder({ orderNumber, update: 'placeOrder', args: [choice] });
    if (!r.ok) return d.send({ kind: 'text', body: w().notPlaced(r.error) });
    d.track(orderNumber, (r.result as OrderView).status, choice.method);
  }

  return {
    async start() {
      d.setStep({ name: 'booking_ref', tries: 0 });
      return d.send({ kind: 'text', body: w().askReference });
    },

    /** After a failed attempt, "Other method" on a booking's order offers the booking's methods again. */
    async otherMethod(order: OrderView) {
      const line = order.items[0];
      return askMethod({ name: 'booking_method', reference: line?.retailerId ?? '', description: line?.name ?? '', amount: order.total, orderNumber: order.orderNumber });
    },

    async onMethod(step: Extract<BookingStep, { name: 'booking_method' }>, method: string) {
      const shop = await d.getShop();
      const m = methodsFor(shop).find((x) => x === method);
      if (!m) return askMethod(step);
      if (!METHOD_COUNTRY[m]) return place(step, { method: m });
      d.setStep({ name: 'booking_phone', reference: step.reference, description: step.description, amount: step.amount, method: m, tries: 0, ...(step.orderNumber ? { orderNumber: step.orderNumber } : {}) });
      return d.send({ kind: 'text', body: w().askPhone(d.t().methodName[m] ?? m, example(m)) });
    },

    async onText(step: BookingStep, text: string) {
      const shop = await d.getShop();
      const input = text.trim();
      switch (step.name) {
        case 'booking_ref': {
          const booking = await d.acts.findBooking({ shopId: shop.id, reference: input });
          if (!booking || booking.currency !== shop.currency) {
            if (step.tries + 1 >= MAX_TRIES) return giveUp(w().notFound(input.slice(0, 40)));
            d.setStep({ ...step, tries: step.tries + 1 });
            return d.send({ kind: 'text', body: `${w().notFound(input.slice(0, 40))} ${w().tryReference}` });
          }
          const currency = booking.currency;
          const balance = Math.max(0, booking.total - booking.paid);
          const details = w().details(booking.reference, booking.description, price(booking.total, currency), price(booking.paid, currency), price(balance, currency));
          if (balance === 0) {
            d.setStep({ name: 'idle' });
            return d.send({ kind: 'text', body: `${details}\n\n${w().fullyPaid}` });
          }
          d.setStep({ name: 'booking_amount', reference: booking.reference, description: booking.description, balance, tries: 0 });
          return d.send({ kind: 'text', body: `${details}\n\n${w().askAmount(price(balance, currency))}` });
        }
        case 'booking_amount': {
          const amount = parseAmount(input, shop.currency);
          if (amount === null || amount <= 0 || amount > step.balance) {
            const why = w().badAmount(price(step.balance, shop.currency));
            if (step.tries + 1 >= MAX_TRIES) return giveUp(why);
            d.setStep({ ...step, tries: step.tries + 1 });
            return d.send({ kind: 'text', body: why });
          }
          return askMethod({ name: 'booking_method', reference: step.reference, description: step.description, amount });
        }
        case 'booking_method':
          return askMethod(step);
        case 'booking_phone': {
          let useOwn: boolean;
          let phone: string | null;
          let wrongNetwork = false;
          // One reading of "which number?" with the order's payment (domain/phone.ts): the method's network too.
          if (patched('payer-number')) {
            const reply = readPayerReply(input, step.method);
            useOwn = 'own' in reply;
            phone = 'ok' in reply && reply.ok ? reply.phone : null;
            wrongNetwork = 'why' in reply && reply.why === 'wrong_network';
          } else {
            useOwn = /^(me|mine|this( number)?|same|hii|yangu)$/i.test(input);
            phone = useOwn ? null : phoneForMethod(input, step.method);
          }
          if (!useOwn && !phone) {
            const name = d.t().methodName[step.method] ?? step.method;
            const why = wrongNetwork ? d.t().payer.wrongNetwork(name, networkOf(step.method) ?? '', example(step.method)) : w().badPhone(name, example(step.method));
            if (step.tries + 1 >= MAX_TRIES) return giveUp(why);
            d.setStep({ ...step, tries: step.tries + 1 });
            return d.send({ kind: 'text', body: why });
          }
          return place(step, { method: step.method, ...(phone ? { phone } : {}) });
        }
      }
    },
  };
}

/** "50", "50.00", "USD 50", "$50", "1,500" → minor units; null when it is not a clean amount. */
function parseAmount(text: string, currency: CurrencyCode): number | null {
  const bare = text.replace(/^(usd|kes|ksh|inr|rs\.?|\$|₹)\s*/i, '').replace(/\s*(usd|kes|ksh|inr)$/i, '');
  return parseDecimal(bare, currency);
}

const EXAMPLES: Partial<Record<string, string>> = { KE: '2547XXXXXXXX', ZW: '2637XXXXXXXX' };
const example = (method: PaymentMethod) => EXAMPLES[METHOD_COUNTRY[method] ?? ''] ?? '';
