import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  setCurrentDetails,
  workflowInfo,
  allHandlersFinished,
  patched,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { computeTotals, discountLines, isRefusal, MAX_QUANTITY, type LineChoice, type PromotionView } from '../domain/catalog.ts';
import { conversationWorkflowId, orderWorkflowId } from '../domain/ids.ts';
import { texts, price, type TemplateKey } from '../domain/i18n.ts';
import { FULFILMENT_STATUSES, OPERATOR_STATUSES, SHOPPING_STATUSES, ledger, transitionRefusal } from '../domain/order-machine.ts';
import { FINAL_STATUSES, type OrderStatus } from '../domain/status.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { durationMs } from '../domain/duration.ts';
import {
  addLineUpdate,
  advanceStatusUpdate,
  cancelOrderUpdate,
  clearCartUpdate,
  customerCancelUpdate,
  offerPaymentUpdate,
  createFromApiUpdate,
  orderChangedSignal,
  orderQuery,
  placeOrderUpdate,
  refundOrderUpdate,
  markRefundedUpdate,
  removeLineUpdate,
  replaceCartUpdate,
  retryPaymentUpdate,
  setFulfilmentUpdate,
  submitOtpUpdate,
  paymentEventSignal,
  type CartResult,
  type OrderInput,
  type OrderView,
  type PlaceOrderInput,
} from './definitions.ts';
import { SA } from './search-attributes.ts';
import { PROVIDER_OF } from '../domain/payment-methods.ts';
import { orderSummary, paymentMethods } from '../domain/screens.ts';
import { PaymentStep } from './payment.ts';
import { OrderStock, refusalText, repriceCart, type StockState } from './stock.ts';

const ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30s',
  // The database or WhatsApp being down must never drop an order: retry until they are back.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m' },
} as const;
const acts = proxyActivities<Activities>(ACTIVITY_OPTIONS);

/**
 * The push of a sold order to the shop's Shopify store (patch `shopify-push`): it runs beside the order and never holds
 * it up. Shopify down, throttling or refusing the token: retried (throttling after the delay Shopify asks for) for up to
 * a week, while the order goes on; the pending activity shows the last failure in the Temporal UI.
 */
const SHOPIFY_OPTIONS = {
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '7d',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '10m' },
} as const;
const shopify = proxyActivities<Activities>(SHOPIFY_OPTIONS);

/** Statuses of a sold order: paid, or confirmed to be paid in cash, and what follows. */
const SOLD: readonly OrderStatus[] = ['PAID', 'CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED'];

/** Short reads and writes of duka's own database: local activities, recorded in history without a task round trip. */
const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '1m' },
});

interface OrderState {
  view: OrderView;
  lineSeq: number;
  lastActivityAt: number;
  reminded: boolean;
  payment: unknown;
  /** When the order reached a final status: the refund window counts from here. */
  closedAt?: number;
  /** Where the order's units stand (patch `stock-reserve`); absent before it and for bookings. */
  stock?: StockState;
  /** What the customer chose for each line, to re-price it when the order is placed; absent for older lines. */
  choices?: Record<string, LineChoice>;
  /** The shop's running promotions as last read (patch `promotions`); absent before it. */
  promotions?: PromotionView[];
  /** The Shopify push (patch `shopify-push`): started, or over (pushed, not configured, or given up); absent before. */
  shopify?: 'pushing' | 'done';
}

/**
 * One order, from its first cart item to completion: owns the cart, checkout, the payment step and the status an
 * operator moves it through. Workflow id `order:<ORDER_NUMBER>`.
 */
export async function orderWorkflow(input: OrderInput): Promise<OrderView> {
  const t = texts(input.language);
  const now = () => new Date(Date.now()).toISOString();
  const booking = input.booking;
  // A booking payment (seed 003) starts at checkout with one line: the amount the customer chose to pay.
  const bookingLine = booking
    ? { lineId: 'B1', productId: `booking:${booking.reference}`, retailerId: booking.reference, name: `Booking ${booking.reference} · ${booking.description}`, quantity: 1, unitPrice: booking.amount, options: [], lineTotal: booking.amount }
    : null;
  const state: OrderState = (input.state as OrderState | undefined) ?? {
    view: {
      orderNumber: input.orderNumber,
      workflowId: orderWorkflowId(input.orderNumber),
      shopId: input.shop.id,
      customerRef: input.customerRef,
      status: bookingLine ? 'CHECKOUT' : 'CART',
      paymentStatus: 'NONE',
      paymentMethod: null,
      fulfilment: null,
      address: null,
      note: null,
      items: bookingLine ? [bookingLine] : [],
      subtotal: bookingLine?.lineTotal ?? 0,
      tax: 0,
      deliveryFee: 0,
      total: bookingLine?.lineTotal ?? 0,
      currency: input.shop.currency,
      payments: [],
      paid: 0,
      refunded: 0,
      attention: null,
      timeline: [{ at: now(), type: 'created', detail: booking ? `payment for booking ${booking.reference}` : input.source === 'api' ? 'created by the shop' : 'first item added' }],
      source: input.source,
      createdAt: now(),
      updatedAt: now(),
    },
    lineSeq: 0,
    lastActivityAt: Date.now(),
    reminded: bookingLine !== null,
    payment: null,
  };
  const order = state.view;
  // Runs started before the ledger fields existed carry views without them.
  order.paid ??= 0;
  order.refunded ??= 0;
  order.attention ??= null;
  order.discount ??= 0;
  order.discounts ??= [];
  const choices = (state.choices ??= {});
  const stock = new OrderStock(db, order, state);
  let dirty = true;
  /** The run's first save is done (handlers that arrive with the start wait for it). */
  let started = false;

  const event = (type: string, detail?: string) => {
    order.timeline.push({ at: now(), type, ...(detail ? { detail } : {}) });
    if (order.timeline.length > 200) order.timeline.splice(1, order.timeline.length - 200);
  };
  const touch = () => {
    state.lastActivityAt = Date.now();
    state.reminded = false;
    order.updatedAt = now();
    dirty = true;
  };
  const retotal = () => {
    order.discounts = discountLines(order.items, state.promotions ?? []);
    Object.assign(order, computeTotals(order.items, input.shop, order.fulfilment, order.discounts));
  };
  /** Reads the shop's running promotions (a local activity) where prices are read and before the summary's totals. */
  const refreshPromotions = async () => {
    if (booking || !patched('promotions')) return;
    state.promotions = await db.activePromotions({ shopId: order.shopId });
  };
  const facts = () => ({ itemCount: order.items.length, fulfilment: order.fulfilment, paid: ledger(order.payments).successes > 0 });
  /** Every status change goes through the transition table (domain/order-machine.ts); a refused one changes nothing. */
  const setStatus = (to: OrderStatus, detail?: string): boolean => {
    if (order.status === to) return true;
    const refusal = transitionRefusal(order.status, to, facts());
    if (refusal) {
      log.warn('status change refused', { orderNumber: order.orderNumber, from: order.status, to, refusal });
      event('status_refused', `${to}: ${refusal}`);
      dirty = true;
      return false;
    }
    event(to.toLowerCase(), detail);
    order.status = to;
    stock.onStatus(to);
    touch();
    return true;
  };
  const shopping = () => SHOPPING_STATUSES.includes(order.status);

  async function say(message: OutboundMessage, template?: { key: TemplateKey; params: string[] }): Promise<void> {
    try {
      await acts.sendMessage.executeWithOptions({ ...ACTIVITY_OPTIONS, summary: `tell customer: ${template?.key ?? message.kind}` }, [
        {
        shopId: order.shopId,
        customerRef: order.customerRef,
        message,
        ...(template ? { template: { ...template, language: input.language } } : {}),
      },
      ]);
    } catch (err) {
      // The order goes on even when WhatsApp refuses a message; the refusal is in the history for an operator.
      log.warn('message not delivered', { orderNumber: order.orderNumber, error: String(err) });
    }
  }

  /** Whether this run has decided on the Shopify push (the patch is asked once, where the order is first seen sold). */
  let shopifyDecided = false;
  let shopifyShown = '';
  function pushToShopify(): void {
    if (shopifyDecided || booking || state.shopify === 'done') return;
    if (state.shopify !== 'pushing' && !SOLD.includes(order.status)) return;
    shopifyDecided = true;
    if (!patched('shopify-push')) return;
    state.shopify = 'pushing';
    void shopify.pushOrderToShopify
      .executeWithOptions({ ...SHOPIFY_OPTIONS, summary: 'push order to Shopify' }, [{ orderNumber: order.orderNumber }])
      .then(
        (pushed) => {
          if (pushed.status === 'not_configured') return;
          shopifyShown = ` · Shopify ${pushed.name}`;
          event('shopify_pushed', `${pushed.name} ${pushed.id}${pushed.status === 'found' ? ' (already there)' : ''}`);
        },
        (err: unknown) => {
          const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
          event('shopify_failed', cause instanceof Error ? cause.message : String(cause));
        },
      )
      .finally(() => {
        state.shopify = 'done';
        dirty = true;
      });
  }

  let lastTold: string | null = null;
  let attentionShown: string | null = null;
  async function persist(): Promise<void> {
    // The stock follows the status (reserved → taken or given back); runs without stock await nothing here.
    if (stock.behind()) await stock.sync();
    if (!dirty) return;
    dirty = false;
    await db.saveOrder(order);
    // After the save: the push reads the sold order from the database.
    pushToShopify();
    // Attention is written only when it changes: an operator searches by it, and most orders never have one.
    const attention = order.attention !== attentionShown ? [{ key: SA.attention, value: order.attention ?? '' }] : [];
    attentionShown = order.attention;
    upsertSearchAttributes([
      { key: SA.orderStatus, value: order.status },
      { key: SA.paymentStatus, value: order.paymentStatus },
      { key: SA.orderTotal, value: order.total / 100 },
      ...(order.paymentMethod ? [{ key: SA.paymentProvider, value: PROVIDER_OF[order.paymentMethod] }] : []),
      ...attention,
    ]);
    setCurrentDetails(`**${order.status}** · ${price(order.total, order.currency)} · ${order.items.length} line(s) · payment ${order.paymentStatus}${shopifyShown}`);
    // The conversation follows the status, and whether the payment waits for the customer (an OTP, a choice).
    const awaiting = payment.awaiting();
    if (lastTold !== `${order.status}:${awaiting}`) {
      lastTold = `${order.status}:${awaiting}`;
      try {
        await getExternalWorkflowHandle(conversationWorkflowId(order.shopId, order.customerRef)).signal(orderChangedSignal, {
          orderNumber: order.orderNumber,
          status: order.status,
          awaiting,
        });
      } catch (err) {
        // Orders created by the shop's API may have no conversation yet; it finds the order when the customer writes.
        log.info('no conversation to tell', { error: String(err) });
      }
    }
  }

  // Handlers that move money or close the order run one at a time: two cancels (or a cancel and a refund) arriving
  // together would otherwise both pass their validators and both refund.
  let serial: Promise<unknown> = Promise.resolve();
  function oneAtATime<T>(body: () => Promise<T>): Promise<T> {
    const run = serial.then(body, body);
    serial = run.catch(() => undefined);
    return run;
  }
  const refused = (message: string) => ApplicationFailure.create({ message, type: 'Refused', nonRetryable: true });

  const payment = new PaymentStep({
    order,
    input,
    acts,
    say,
    event,
    setStatus,
    touch,
    persist,
    restore: state.payment,
  });

  // ---- the cart -------------------------------------------------------------------------------------------------
  const notShopping = (): CartResult => ({ ok: false, refusal: { reason: 'not_shopping', status: order.status } });
  const validChoice = (c: LineChoice) => {
    if (typeof c?.productId !== 'string' || c.productId.length === 0 || c.productId.length > 100) throw new Error('productId is required');
    if (!Number.isInteger(c.quantity) || c.quantity < 1 || c.quantity > MAX_QUANTITY) throw new Error(`quantity must be a whole number from 1 to ${MAX_QUANTITY}`);
    if (!Array.isArray(c.optionIds) || c.optionIds.length > 20) throw new Error('optionIds must be a list');
  };
  const cartOpen = () => {
    if (booking) throw new Error(`order ${order.orderNumber} pays booking ${booking.reference}: it has no cart`);
    if (order.status !== 'CART' && order.status !== 'CHECKOUT') throw new Error(`order ${order.orderNumber} is ${order.status}: the cart can no longer change`);
  };
  const backToCart = () => {
    if (order.status === 'CHECKOUT') setStatus('CART', 'cart edited');
  };

  setHandler(
    addLineUpdate,
    async (choice) => {
      // Two adds in flight at once must not share a line id: the id is taken before the price is looked up.
      const reserved = patched('line-id-reserved');
      const lineId = reserved ? `L${(state.lineSeq += 1)}` : `L${state.lineSeq + 1}`;
      const [priced] = await db.priceLines({ shopId: order.shopId, lines: [{ lineId, choice }] });
      if (!priced || isRefusal(priced)) return { ok: false as const, refusal: priced ?? { reason: 'unknown_product' as const } };
      await refreshPromotions();
      if (order.status !== 'CART' && order.status !== 'CHECKOUT') return notShopping();
      if (!reserved) state.lineSeq += 1;
      const same = order.items.find((l) => l.productId === priced.productId && l.name === priced.name && JSON.stringify(l.options) === JSON.stringify(priced.options));
      if (same) {
        same.quantity += priced.quantity;
        same.lineTotal = same.quantity * same.unitPrice;
      } else {
        order.items.push(priced);
        choices[priced.lineId] = choice;
      }
      backToCart();
      retotal();
      event('item_added', `${priced.quantity} × ${priced.name}`);
      touch();
      await persist();
      return { ok: true as const, order, line: priced };
    },
    {
      validator: (choice) => {
        validChoice(choice);
        cartOpen();
      },
    },
  );

  setHandler(
    replaceCartUpdate,
    async (items) => {
      const resolved = await db.resolveCatalogItems({ shopId: order.shopId, items });
      const priced = await db.priceLines({
        shopId: order.shopId,
        lines: resolved.choices.map((choice, i) => ({ lineId: `L${state.lineSeq + i + 1}`, choice })),
      });
      await refreshPromotions();
      if (order.status !== 'CART' && order.status !== 'CHECKOUT') return notShopping();
      state.lineSeq += priced.length;
      const left = [...resolved.unknown];
      order.items = [];
      for (const p of priced) {
        if (isRefusal(p)) left.push('name' in p ? p.name : 'an item');
        else {
          order.items.push(p);
          choices[p.lineId] = resolved.choices[priced.indexOf(p)]!;
        }
      }
      backToCart();
      retotal();
      event('cart_replaced', `${order.items.length} items from the catalog`);
      touch();
      await persist();
      return order.items.length ? { ok: true as const, order, left } : { ok: false as const, refusal: { reason: 'empty' as const } };
    },
    {
      validator: (items) => {
        cartOpen();
        if (!Array.isArray(items) || items.length === 0 || items.length > 50) throw new Error('a catalog cart has 1 to 50 items');
        for (const i of items) if (typeof i.retailerId !== 'string' || !Number.isInteger(i.quantity) || i.quantity < 1 || i.quantity > MAX_QUANTITY) throw new Error('bad catalog item');
      },
    },
  );

  setHandler(
    removeLineUpdate,
    async (lineId) => {
      order.items = order.items.filter((l) => l.lineId !== lineId);
      backToCart();
      retotal();
      event('item_removed', lineId);
      touch();
      await persist();
      return { ok: true as const, order };
    },
    {
      validator: (lineId) => {
        cartOpen();
        if (!order.items.some((l) => l.lineId === lineId)) fail(`no line ${lineId}`);
      },
    },
  );

  setHandler(
    clearCartUpdate,
    async () => {
      order.items = [];
      backToCart();
      retotal();
      event('cart_cleared');
      touch();
      await persist();
      return { ok: true as const, order };
    },
    { validator: cartOpen },
  );

  // ---- checkout -------------------------------------------------------------------------------------------------
  setHandler(
    setFulfilmentUpdate,
    async (choice) => {
      await refreshPromotions();
      order.fulfilment = choice.fulfilment;
      order.address = choice.fulfilment === 'delivery' ? (choice.address ?? null) : null;
      retotal();
      setStatus('CHECKOUT', choice.fulfilment);
      if (order.address?.byPhone) event('address_by_phone', 'no address given: call the customer for it');
      touch();
      await persist();
      return order;
    },
    {
      validator: (choice) => {
        cartOpen();
        if (order.items.length === 0) throw new Error('the cart is empty');
        if (choice.fulfilment === 'delivery') {
          if (!input.shop.deliveryAvailable) throw new Error('this shop does not deliver');
          const a = choice.address;
          const hasText = typeof a?.text === 'string' && a.text.trim().length >= 5;
          const hasPoint = typeof a?.latitude === 'number' && typeof a?.longitude === 'number' && Math.abs(a.latitude) <= 90 && Math.abs(a.longitude) <= 180;
          if (!hasText && !hasPoint && a?.byPhone !== true) throw new Error('a delivery needs an address or a location');
        } else if (choice.fulfilment === 'pickup') {
          if (!input.shop.pickupAvailable) throw new Error('this shop has no pickup');
        } else {
          throw new Error('fulfilment is delivery or pickup');
        }
      },
    },
  );

  setHandler(
    placeOrderUpdate,
    async (choice: PlaceOrderInput) => {
      // Help under a payment link offers another method: the link is closed and the new method starts (workflows/payment.ts).
      if (order.status === 'AWAITING_PAYMENT' && payment.switching() && patched('switch-from-link')) {
        event('payment_switched', choice.method);
        order.paymentMethod = choice.method;
        await payment.switchTo(choice);
        await persist();
        return order;
      }
      // An order created over the API holds its units from its creation: it is placed as it was summarised (re-pricing
      // it would count its own hold as sold).
      const holding = state.stock?.held === 'reserved' && state.stock.want === 'reserved' && patched('api-stock-hold');
      if (!booking && !holding && patched('stock-reserve')) {
        // The cart as the catalog is now: a price that changed is shown to confirm, something gone is a plain refusal,
        // and the units are held (all or none) so that two customers never buy the last one twice.
        const checked = await repriceCart(db, order, choices);
        if (order.status !== 'CHECKOUT') return order;
        const refusal = checked.refusal ?? (checked.changed ? null : await stock.reserve().then((r) => (r ? { refusal: r, line: order.items[0]! } : null)));
        if (refusal) {
          event('place_refused', refusal.refusal.reason);
          dirty = true;
          await persist();
          await say({ kind: 'buttons', body: refusalText(t, refusal.refusal, refusal.line), buttons: [{ id: 'menu:cart', title: t.menuCart }, { id: 'order:cancel', title: t.cancel }] });
          return order;
        }
        if (checked.changed) {
          retotal();
          event('repriced', price(order.total, order.currency));
          touch();
          await persist();
          await say({ kind: 'text', body: t.pricesChanged(price(order.total, order.currency)) });
          await say(orderSummary(t, input.shop, order));
          return order;
        }
        // Cancelled or expired while the units were being held: they go straight back.
        if (order.status !== 'CHECKOUT') {
          stock.onStatus(order.status);
          await persist();
          return order;
        }
      }
      event('placed', choice.method);
      order.paymentMethod = choice.method;
      if (choice.method === 'cash') {
        setStatus('CONFIRMED', t.cashLabel(order.fulfilment));
        await persist();
        await say({ kind: 'text', body: t.confirmed(order.orderNumber, price(order.total, order.currency), input.shop.preparationMinutes, order.fulfilment) });
        return order;
      }
      payment.request(choice);
      setStatus('AWAITING_PAYMENT', choice.method);
      await persist();
      return order;
    },
    {
      validator: (choice) => {
        if (order.status === 'AWAITING_PAYMENT' && payment.switching() && input.shop.paymentMethods.includes(choice?.method)) return payment.validateSwitch(choice);
        if (order.status !== 'CHECKOUT') throw new Error(`order ${order.orderNumber} is ${order.status}, not at checkout`);
        if (!order.fulfilment && !booking) throw new Error('choose delivery or pickup first');
        if (booking && choice?.method === 'cash') throw new Error('a booking is paid by mobile money, not cash');
        if (!input.shop.paymentMethods.includes(choice?.method)) throw new Error(`${String(choice?.method)} is not offered by this shop`);
        payment.validateRequest(choice);
      },
    },
  );

  setHandler(
    offerPaymentUpdate,
    async () => {
      const summary = orderSummary(t, input.shop, order);
      await say({ kind: 'text', body: summary.kind === 'buttons' ? summary.body : order.orderNumber });
      await say(paymentMethods(t, input.shop, order.fulfilment));
      event('payment_offered');
      dirty = true;
      await persist();
      return order;
    },
    {
      validator: (..._none: []) => {
        if (order.status !== 'CHECKOUT') throw new Error(`order ${order.orderNumber} is ${order.status}, not at checkout`);
      },
    },
  );

  setHandler(
    createFromApiUpdate,
    async ({ lines, fulfilment }) => {
      // Arriving with the start (update-with-start), this waits for the run's first save: two coroutines running local
      // activities in the same first task would interleave differently on replay than they did live.
      await condition(() => started);
      // A retried request with the same key reaches here only after a continue-as-new: it answers what was created.
      if (order.status !== 'CART' || order.items.length > 0) return { ok: true as const, order };
      const priced = await db.priceLines({ shopId: order.shopId, lines: lines.map((choice) => ({ lineId: `L${(state.lineSeq += 1)}`, choice })) });
      const refusal = priced.find(isRefusal);
      if (refusal || priced.length === 0) {
        const asked = lines[priced.findIndex(isRefusal)]?.quantity ?? 0;
        const what = refusal && 'name' in refusal ? `${refusal.name}: ` : '';
        setStatus('CANCELLED', 'refused at creation');
        await persist();
        const message = refusal?.reason === 'out_of_stock' ? soldOutMessage(refusal.name, refusal.stock, asked) : `${what}${(refusal?.reason ?? 'no items').replace(/_/g, ' ')}`;
        return { ok: false as const, code: refusal?.reason ?? 'empty', message };
      }
      order.items = priced.flatMap((p) => (isRefusal(p) ? [] : [p]));
      lines.forEach((choice, i) => {
        const p = priced[i];
        if (p && !isRefusal(p)) choices[p.lineId] = choice;
      });
      await refreshPromotions();
      order.fulfilment = fulfilment.fulfilment;
      order.address = fulfilment.fulfilment === 'delivery' ? (fulfilment.address ?? null) : null;
      retotal();
      event('items_added', `${order.items.length} line(s) from the shop's system`);
      if (patched('api-stock-hold')) {
        // The units are held now, by the reservation the chat's checkout makes (all lines or none): of two orders racing
        // for the last unit its conditional update decides, and the loser is refused before its customer hears of it.
        // Held before the status moves: a status change wakes the main loop, whose save would run beside this one.
        const soldOut = await stock.reserve();
        if (soldOut?.reason === 'out_of_stock') {
          setStatus('CANCELLED', 'refused at creation');
          await persist();
          return { ok: false as const, code: soldOut.reason, message: soldOutMessage(soldOut.name, soldOut.stock, order.items.find((l) => l.name === soldOut.name)?.quantity ?? 0) };
        }
      }
      setStatus('CHECKOUT', fulfilment.fulfilment);
      // CHECKOUT gives a chat cart's units back (they are held again when it is placed); this order keeps its hold.
      if (state.stock) state.stock.want = 'reserved';
      const summary = orderSummary(t, input.shop, order);
      await persist();
      await say({ kind: 'text', body: summary.kind === 'buttons' ? summary.body : order.orderNumber });
      await say(paymentMethods(t, input.shop, order.fulfilment));
      event('payment_offered');
      dirty = true;
      await persist();
      return { ok: true as const, order };
    },
    {
      validator: ({ lines, fulfilment }) => {
        if (input.source !== 'api') fail('only orders created by a shop system are filled this way');
        if (!Array.isArray(lines) || lines.length === 0 || lines.length > 50) fail('an order has 1 to 50 lines');
        lines.forEach(validChoice);
        if (fulfilment?.fulfilment === 'delivery' && !input.shop.deliveryAvailable) fail('this shop does not deliver');
        if (fulfilment?.fulfilment === 'pickup' && !input.shop.pickupAvailable) fail('this shop has no pickup');
        if (fulfilment?.fulfilment !== 'delivery' && fulfilment?.fulfilment !== 'pickup') fail('fulfilment is delivery or pickup');
      },
    },
  );

  setHandler(submitOtpUpdate, (otp) => payment.submitOtp(otp), { validator: (otp) => payment.validateOtp(otp) });
  setHandler(paymentEventSignal, (e) => payment.onEvent(e));

  setHandler(
    customerCancelUpdate,
    () =>
      oneAtATime(async () => {
        if (!shopping()) return order;
        await payment.abandon();
        setStatus('CANCELLED', 'by the customer');
        await persist();
        return order;
      }),
    {
      validator: () => {
        if (!shopping()) fail(`order ${order.orderNumber} is ${order.status}: ask the shop to cancel`);
      },
    },
  );

  // ---- operators ------------------------------------------------------------------------------------------------
  setHandler(
    advanceStatusUpdate,
    ({ status, note }) =>
      oneAtATime(async () => {
        if (order.status === status) return order;
        if (!setStatus(status, note ?? 'by an operator')) throw refused(transitionRefusal(order.status, status, facts()) ?? `order ${order.orderNumber} is ${order.status}`);
        await persist();
        const text = t.statusText[status];
        if (text) await say({ kind: 'text', body: t.statusUpdate(order.orderNumber, text) }, { key: 'orderUpdate', params: [order.orderNumber, text] });
        return order;
      }),
    {
      validator: ({ status }) => {
        if (!OPERATOR_STATUSES.includes(status)) throw new Error(`advance to one of ${OPERATOR_STATUSES.join(', ')}`);
        const refusal = transitionRefusal(order.status, status, facts());
        if (refusal) throw new Error(refusal);
      },
    },
  );

  setHandler(
    cancelOrderUpdate,
    ({ reason }) =>
      oneAtATime(async () => {
        // A second cancel that waited for the first finds the order closed: it answers the order, refunds nothing.
        if (FINAL_STATUSES.includes(order.status)) return order;
        await payment.abandon();
        const money = ledger(order.payments).paid > 0 ? await payment.refund(reason ?? 'order cancelled') : null;
        setStatus('CANCELLED', reason ?? 'by an operator');
        if (money && money.owed > 0) payment.flag('REFUND_OWED', `${price(money.owed, order.currency)} to give back by hand`);
        else if (money && money.refunded > 0) setStatus('REFUNDED', 'refund issued on cancel');
        await persist();
        // The template's text in the customer's language too (it was English for everyone).
        await say({ kind: 'text', body: t.orderCancelled(order.orderNumber) }, { key: 'orderUpdate', params: [order.orderNumber, t.statusText.CANCELLED ?? 'cancelled'] });
        if (money && money.refunded > 0) {
          const text = t.statusText.REFUNDED ?? 'refunded';
          await say({ kind: 'text', body: t.statusUpdate(order.orderNumber, text) }, { key: 'orderUpdate', params: [order.orderNumber, text] });
        }
        return order;
      }),
    {
      validator: (_input) => {
        if (FINAL_STATUSES.includes(order.status)) fail(`order ${order.orderNumber} is already ${order.status}`);
      },
    },
  );

  const refundRefusal = (amount: number | undefined): string | null => {
    const { paid } = ledger(order.payments);
    if (paid <= 0) return 'nothing was paid, or it has all been refunded';
    if (SHOPPING_STATUSES.includes(order.status)) return `order ${order.orderNumber} is ${order.status}: nothing to refund yet`;
    if (amount !== undefined && (!Number.isInteger(amount) || amount <= 0 || amount > paid)) return `a refund is a whole number of minor units from 1 to ${paid}`;
    // Refunding everything moves the order to REFUNDED, which the table allows only from some statuses.
    if ((amount === undefined || amount === paid) && !FINAL_STATUSES.includes(order.status)) return transitionRefusal(order.status, 'REFUNDED', facts());
    return null;
  };

  setHandler(
    refundOrderUpdate,
    ({ reason, amount }) =>
      oneAtATime(async () => {
        const refusal = refundRefusal(amount);
        if (refusal) throw refused(refusal);
        const money = await payment.refund(reason ?? 'refund by an operator', amount);
        if (money.refunded === 0) throw ApplicationFailure.nonRetryable('the provider could not refund this payment: refund it by hand', 'RefundNotPossible');
        if (money.owed > 0) payment.flag('REFUND_OWED', `${price(money.owed, order.currency)} to give back by hand`);
        if (ledger(order.payments).paid === 0) setStatus('REFUNDED', reason);
        else event('partly_refunded', `${price(money.refunded, order.currency)}${reason ? `: ${reason}` : ''}`);
        touch();
        await persist();
        const text = order.status === 'REFUNDED' ? t.statusUpdate(order.orderNumber, t.statusText.REFUNDED ?? 'refunded') : t.payment.refunded(order.orderNumber, price(money.refunded, order.currency));
        await say({ kind: 'text', body: text }, { key: 'orderUpdate', params: [order.orderNumber, t.statusText.REFUNDED ?? 'refunded'] });
        return order;
      }),
    {
      validator: ({ amount }) => {
        const refusal = refundRefusal(amount);
        if (refusal) fail(refusal);
      },
    },
  );

  setHandler(
    markRefundedUpdate,
    ({ note, amount }) =>
      oneAtATime(async () => {
        const done = payment.markRefundedByHand(note, amount);
        if (done === 0) throw refused('nothing left to mark as refunded');
        if (ledger(order.payments).paid === 0 && FINAL_STATUSES.includes(order.status)) setStatus('REFUNDED', `by hand: ${note}`);
        touch();
        await persist();
        return order;
      }),
    {
      validator: ({ note, amount }) => {
        if (typeof note !== 'string' || note.trim().length < 3 || note.length > 500) fail('say in a note (3 to 500 characters) how it was refunded');
        const { paid } = ledger(order.payments);
        if (paid <= 0) fail('nothing was paid, or it has all been refunded');
        if (amount !== undefined && (!Number.isInteger(amount) || amount <= 0 || amount > paid)) fail(`an amount is a whole number of minor units from 1 to ${paid}`);
      },
    },
  );

  setHandler(
    retryPaymentUpdate,
    ({ method }) =>
      oneAtATime(async () => {
        payment.validateRetry(method);
        if (state.stock && state.stock.held !== 'reserved' && patched('stock-retry')) {
          const soldOut = await stock.reserve();
          if (soldOut) throw refused(refusalText(t, soldOut, order.items[0]!));
        }
        payment.retry(method);
        setStatus('AWAITING_PAYMENT', 'payment retried by an operator');
        await persist();
        return order;
      }),
    { validator: ({ method }) => payment.validateRetry(method) },
  );

  setHandler(orderQuery, () => order);

  // ---- the order's life -----------------------------------------------------------------------------------------
  const reminderMs = durationMs(input.timing.cartReminderAfter);
  const expiryMs = durationMs(input.timing.cartExpiresAfter);
  const autoCloseMs = durationMs(input.timing.autoCloseAfter ?? '14d');
  await persist();
  started = true;

  while (!FINAL_STATUSES.includes(order.status)) {
    if (payment.hasWork()) {
      await payment.run();
      await persist();
      continue;
    }
    const seen = state.lastActivityAt;
    const seenStatus = order.status;
    const woken = () => state.lastActivityAt !== seen || order.status !== seenStatus || payment.hasWork() || dirty;
    if (order.status === 'CART' || order.status === 'CHECKOUT') {
      const idle = Date.now() - state.lastActivityAt;
      const remindIn = !state.reminded && order.items.length > 0 ? reminderMs - idle : Infinity;
      const expireIn = expiryMs - idle;
      const wait = Math.max(0, Math.min(remindIn, expireIn));
      const summary = remindIn < expireIn ? 'cart reminder' : 'cart expiry';
      if (!(await condition(woken, wait, { summary }))) {
        if (Date.now() - state.lastActivityAt >= expiryMs) {
          setStatus('EXPIRED', 'no activity');
          await persist();
          await say({ kind: 'text', body: t.expired(order.orderNumber) }, { key: 'cartExpired', params: [order.orderNumber] });
        } else if (!state.reminded && order.items.length > 0) {
          state.reminded = true;
          event('reminded');
          dirty = true;
          await say(
            { kind: 'buttons', body: t.reminder(order.items.length, price(order.subtotal, order.currency)), buttons: [{ id: 'cart:checkout', title: t.checkout }, { id: 'menu:cart', title: t.menuCart }] },
            { key: 'cartReminder', params: [String(order.items.length), price(order.subtotal, order.currency)] },
          );
        }
      }
    } else if (FULFILMENT_STATUSES.includes(order.status) && patched('auto-close')) {
      // Nobody completed it: after ORDER_AUTO_CLOSE without a change the order closes itself, so no workflow is open forever.
      const closeIn = autoCloseMs - (Date.now() - state.lastActivityAt);
      if (!(await condition(woken, Math.max(0, closeIn), { summary: 'auto close' })) && setStatus('COMPLETED', 'closed automatically')) {
        await persist();
        const text = t.statusText.COMPLETED;
        if (text) await say({ kind: 'text', body: t.statusUpdate(order.orderNumber, text) }, { key: 'orderUpdate', params: [order.orderNumber, text] });
      }
    } else {
      await condition(woken);
    }
    await persist();
    // A Shopify push in flight is not left behind by continue-as-new: the next run would start a second one beside it.
    if (workflowInfo().continueAsNewSuggested && !payment.busy() && state.shopify !== 'pushing') {
      await condition(allHandlersFinished);
      state.payment = payment.snapshot();
      await continueAsNew<typeof orderWorkflow>({ ...input, state });
    }
  }
  if (patched('refund-window')) {
    // Closed, but not gone: for REFUND_WINDOW an operator can still refund (the same update, CLI line and admin route),
    // and a payment approved late (an STK prompt accepted after "cancel") is recorded, told, and flagged.
    // Only money received keeps an order open that long; a closed cart with nothing paid waits out just the window
    // of a payment that might still be approved.
    state.closedAt ??= Date.now();
    const closedAt = state.closedAt;
    const until = () => Math.max(ledger(order.payments).received > 0 ? closedAt + durationMs(input.timing.refundWindow ?? '30d') : 0, payment.lateWindowEnd());
    while (Date.now() < until()) {
      await condition(() => payment.hasWork() || dirty, until() - Date.now(), { summary: 'refund window' });
      if (payment.hasWork()) await payment.run();
      await persist();
      if (workflowInfo().continueAsNewSuggested && state.shopify !== 'pushing') {
        await condition(allHandlersFinished);
        state.payment = payment.snapshot();
        await continueAsNew<typeof orderWorkflow>({ ...input, state });
      }
    }
  } else {
    // A payment started before the order closed may still succeed (an STK prompt approved after "cancel"): the order
    // listens for the rest of that payment's window, so the money is recorded and the customer and the shop are told.
    await payment.lingerForLatePayments();
  }
  // A push still under way finishes before the workflow closes (it is bounded by its schedule-to-close timeout).
  await condition(() => state.shopify !== 'pushing');
  await condition(allHandlersFinished);
  await persist();
  return order;

  /** A stock refusal as the shop's system reads it: the product and what is left. */
  function soldOutMessage(name: string, left: number, asked: number): string {
    return left > 0 ? `only ${left} ${name} left (${asked} asked)` : `${name} is sold out (0 left)`;
  }

  function fail(message: string): never {
    throw new Error(message);
  }
}
