import { ActivityFailure, ApplicationFailure, allHandlersFinished, condition, continueAsNew, log, patched, proxyActivities, proxyLocalActivities, setHandler, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { CategoryView, LineRefusal, ProductView, ShopView } from '../domain/catalog.ts';
import type { InboundMessage } from '../domain/inbound.ts';
import { isLanguage, price, texts, type Language, type Texts } from '../domain/i18n.ts';
import { detectIntent, detectIntentBeforeTable, detectLanguage, normalise, parseQuantity, type Intent } from '../domain/intents.ts';
import { exampleNumber, maskedNumber, networkOf, payerNumber, readEmail, readPayerReply, takesEmail, takesNumber } from '../domain/phone.ts';
import { morePageOf, type OutboundMessage } from '../domain/outbound.ts';
import { breakdown, cartView, categoryList, fulfilmentChoice, mainMenu, menuExtraAnswer, optionPicker, orderSummary, paymentMethods, productCard, productList, promotionsView, sizeList } from '../domain/screens.ts';
import type { OrderStatus } from '../domain/status.ts';
import type { PaymentMethod } from '../domain/payment-methods.ts';
import { refusalOf } from '../domain/refusals.ts';
import {
  conversationQuery,
  handoverSignal,
  inboundSignal,
  orderChangedSignal,
  type ConversationInput,
  type FulfilmentChoice,
  type OrderUpdateCall,
  type OrderUpdateName,
  type OrderUpdateOutcome,
  type OrderUpdateResult,
  type OrderView,
} from './definitions.ts';
import { SA } from './search-attributes.ts';
import { flowTexts } from '../domain/flows.ts';
import { bookingDialogue, isBookingStep, type BookingStep } from './booking.ts';

const ACTIVITY_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
} as const;
const acts = proxyActivities<Activities>(ACTIVITY_OPTIONS);
/** The line an operator reads for this call in the Temporal UI. */
const labelled = (summary: string) => ({ ...ACTIVITY_OPTIONS, summary });

/** Short reads and writes of duka's own database: local activities, recorded in history without a task round trip. */
const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '1m' },
});

/**
 * Replies as local activities (patch reply-local): the conversation waits on each reply anyway, so running it in the
 * worker that holds the workflow task saves the schedule/start/complete events and a workflow task per reply. The
 * same timeout and retry policy as the activity it replaces; retries inside `localRetryThreshold` run in the worker,
 * later ones after a workflow timer (a new activity id: the send's own `intentId` keeps it one intent, see
 * activities/messaging.ts). A send waiting on the rate limiter or on Meta keeps the workflow task alive: the SDK
 * heartbeats the task while a local activity runs.
 */
const REPLY_OPTIONS = { ...ACTIVITY_OPTIONS, localRetryThreshold: '1m' } as const;
const replies = proxyLocalActivities<Activities>(REPLY_OPTIONS);

type Step =
  | { name: 'idle' }
  | { name: 'categories'; page: number }
  | { name: 'products'; categoryId: string; page: number }
  | { name: 'customize'; productId: string; presentationId?: string; groupIndex: number; optionIds: string[] }
  | { name: 'quantity'; productId: string; presentationId?: string; optionIds: string[]; attempts: number }
  | { name: 'checkout' }
  | { name: 'address'; skipped?: number }
  | { name: 'pay_method' }
  | PayerStep
  | { name: 'otp' }
  | { name: 'request'; title: string }
  | BookingStep;

/** Paying from another number: which wallet, which number, and an e-mail for the receipt where the provider takes one. */
type PayerStep =
  | { name: 'payer_method'; typed?: string }
  | { name: 'payer_phone'; method: PaymentMethod; tries: number }
  | { name: 'payer_email'; method: PaymentMethod; phone?: string; tries: number };
const isPayerStep = (step: { name: string }): step is PayerStep => step.name.startsWith('payer_');
const MAX_PAYER_TRIES = 3;
/** What the order's timeline and the operator read for a delivery whose address the customer skipped twice. */
const ADDRESS_BY_PHONE = 'No address given: call the customer for it';

interface ConversationState {
  language: Language;
  registered: boolean;
  step: Step;
  activeOrder: { orderNumber: string; status: OrderStatus } | null;
  lastMethod: PaymentMethod | null;
  recentIds: string[];
  handoverUntil: number | null;
  lastInboundAt: number;
  /** When LastCustomerMessageAt was last written (absent in older runs). */
  lastMessageAtWritten?: number;
  name?: string;
  /** Typed at the payment choice, for a provider that sends receipts by e-mail. */
  payerEmail?: string;
}

const IDLE_CLOSE_MS = 7 * 24 * 3600_000;
const RECENT_IDS = 100;
const CANCEL_DURING: readonly OrderStatus[] = ['CHECKOUT', 'AWAITING_PAYMENT'];

/**
 * One customer's chat with one shop (`conversation:<shopId>:<customerRef>`): reads what they send, shows menus and
 * products, and drives their order workflow through its updates. The order owns the cart; this owns the dialogue.
 */
export async function conversationWorkflow(input: ConversationInput & { handoverMinutes?: number; historyLimit?: number }): Promise<void> {
  const state: ConversationState = (input.state as ConversationState | undefined) ?? {
    language: 'en',
    registered: false,
    step: { name: 'idle' },
    activeOrder: null,
    lastMethod: null,
    recentIds: [],
    handoverUntil: null,
    lastInboundAt: Date.now(),
  };
  const inbox: InboundMessage[] = [];
  /** The WhatsApp number of the message being handled: never kept in state. */
  let sender = '';
  let shop: ShopView | null = null;

  setHandler(inboundSignal, (m) => {
    if (state.recentIds.includes(m.id) || inbox.some((x) => x.id === m.id)) return;
    inbox.push(m);
  });
  setHandler(orderChangedSignal, ({ orderNumber, status, awaiting }) => {
    if (!state.activeOrder || state.activeOrder.orderNumber === orderNumber) {
      state.activeOrder = ['COMPLETED', 'CANCELLED', 'EXPIRED', 'REFUNDED'].includes(status) ? null : { orderNumber, status };
      if (awaiting === 'otp') state.step = { name: 'otp' };
      else if (state.step.name === 'otp') state.step = { name: 'idle' };
    }
  });
  setHandler(handoverSignal, ({ minutes, resume }) => {
    state.handoverUntil = resume ? null : Date.now() + (minutes ?? input.handoverMinutes ?? 30) * 60_000;
  });
  setHandler(conversationQuery, () => ({
    shopId: input.shopId,
    customerRef: input.customerRef,
    language: state.language,
    step: state.step.name,
    activeOrder: state.activeOrder?.orderNumber ?? null,
    handoverUntil: state.handoverUntil ? new Date(state.handoverUntil).toISOString() : null,
  }));

  const t = (): Texts => texts(state.language);
  /** Replies sent as local activities in this run: each one's intent id, the same on every retry and on replay. */
  let localReplies = 0;
  const send = async (message: OutboundMessage) => {
    if (patched('reply-local')) {
      localReplies += 1;
      await replies.sendMessage.executeWithOptions({ ...REPLY_OPTIONS, summary: `reply: ${message.kind}` }, [{ shopId: input.shopId, customerRef: input.customerRef, message, intentId: `reply-${localReplies}` }]);
      return;
    }
    await acts.sendMessage.executeWithOptions(labelled(`reply: ${message.kind}`), [{ shopId: input.shopId, customerRef: input.customerRef, message }]);
  };
  const getShop = async () => (shop ??= await db.getShop(input.shopId));
  const booking = bookingDialogue({
    acts,
    shopId: input.shopId,
    customerRef: input.customerRef,
    language: () => state.language,
    t,
    getShop,
    send,
    setStep: (step) => {
      state.step = step;
    },
    track: (orderNumber, status, method) => {
      state.activeOrder = { orderNumber, status };
      if (method) state.lastMethod = method;
    },
    showMenu: () => showMenu(),
  });

  async function updateOrder<K extends OrderUpdateName>(update: K, args: Extract<OrderUpdateCall, { update: K }>['args']): Promise<OrderUpdateOutcome<OrderUpdateResult<K>>> {
    const orderNumber = state.activeOrder?.orderNumber;
    if (!orderNumber) return { ok: false, error: 'no order' };
    const r = await acts.updateOrder.executeWithOptions(labelled(`order ${orderNumber}: ${update}`), [{ orderNumber, update, args } as OrderUpdateCall]);
    // An order that closed meanwhile (expired, cancelled by the shop) is no longer this conversation's.
    if (!r.ok && r.closed && state.activeOrder?.orderNumber === orderNumber) state.activeOrder = null;
    return r.ok ? { ok: true, result: r.result as OrderUpdateResult<K> } : r;
  }
  const track = (o: OrderView) => {
    state.activeOrder = { orderNumber: o.orderNumber, status: o.status };
  };

  async function ensureOrder(): Promise<string> {
    const a = state.activeOrder;
    if (a && (a.status === 'CART' || a.status === 'CHECKOUT')) return a.orderNumber;
    const s = await getShop();
    if (patched('start-order-once')) {
      // One activity claims the number and starts the order: a retry of it never starts a second order.
      const orderNumber = await acts.startOrder.executeWithOptions(labelled('start order'), [{ shop: s, customerRef: input.customerRef, language: state.language, source: 'whatsapp' }]);
      state.activeOrder = { orderNumber, status: 'CART' };
      return orderNumber;
    }
    let orderNumber = await db.allocateOrderNumber(s.id);
    for (let tries = 1; ; tries += 1) {
      try {
        await acts.startOrderWorkflow.executeWithOptions(labelled(`start order ${orderNumber}`), [{ orderNumber, shop: s, customerRef: input.customerRef, language: state.language, source: 'whatsapp' }]);
        break;
      } catch (err) {
        // The number is taken in Temporal (a database restored behind a running cluster): take the next one.
        if (tries >= 5 || !(err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'OrderNumberTaken')) throw err;
        orderNumber = await db.allocateOrderNumber(s.id);
      }
    }
    state.activeOrder = { orderNumber, status: 'CART' };
    return orderNumber;
  }

  async function refusalText(r: LineRefusal | { reason: string; status?: OrderStatus }): Promise<string> {
    const x = t();
    switch (r.reason) {
      case 'unavailable':
        return x.unavailable((r as { name: string }).name);
      case 'out_of_stock':
        return x.outOfStock((r as { name: string }).name, (r as { stock: number }).stock);
      case 'bad_quantity':
        return x.badQuantity((r as { max: number }).max);
      case 'not_shopping':
        return x.activeOrderBusy(state.activeOrder?.orderNumber ?? '');
      default:
        return x.notUnderstood;
    }
  }

  // ---- screens --------------------------------------------------------------------------------------------------
  async function showMenu(name?: string) {
    state.step = { name: 'idle' };
    await send(mainMenu(t(), await getShop(), name));
  }
  async function onMenuExtra(index: number) {
    const extra = (await getShop()).menuExtras?.[index];
    if (!extra) return showMenu();
    if (extra.kind === 'faq') return send(menuExtraAnswer(t(), extra));
    state.step = { name: 'request', title: extra.title };
    return send({ kind: 'text', body: extra.prompt });
  }
  /** The customer's answer to a request entry's prompt (seed 000's "Request installation") is kept for the shop's staff. */
  async function onRequestText(step: { title: string }, text: string, messageId: string) {
    const intent = detectIntent(text);
    if (intent === 'cancel') return cancel();
    if (intent === 'menu' || intent === 'greeting') return showMenu(state.name);
    state.step = { name: 'idle' };
    await acts.recordCustomerRequest({ shopId: input.shopId, customerRef: input.customerRef, messageId, title: step.title, text });
    return send({ kind: 'text', body: t().requestReceived((await getShop()).name) });
  }
  async function showHelp() {
    const x = t();
    return send({
      kind: 'buttons',
      body: x.help((await getShop()).name),
      buttons: [
        { id: 'menu:shop', title: x.menuShop },
        { id: 'menu:cart', title: x.menuCart },
        { id: 'menu:lang', title: x.menuLanguage },
      ],
    });
  }
  async function switchLanguage() {
    state.language = state.language === 'en' ? 'sw' : 'en';
    await db.setCustomerLanguage({ shopId: input.shopId, customerRef: input.customerRef, language: state.language });
    await send({ kind: 'text', body: t().languageSet });
    return showMenu(state.name);
  }
  async function showCategories(page = 0) {
    state.step = { name: 'categories', page };
    await send(categoryList(t(), await getShop(), await db.listCategories(input.shopId), page));
  }
  async function showProducts(categoryId: string, page = 0) {
    const categories: CategoryView[] = await db.listCategories(input.shopId);
    const category = categories.find((c) => c.id === categoryId);
    if (!category) return showCategories();
    const products = await db.listProducts({ shopId: input.shopId, categoryId });
    state.step = { name: 'products', categoryId, page };
    await send(products.length ? productList(t(), category, products, page) : { kind: 'text', body: t().noProducts });
  }
  async function showCartView(order: OrderView | null) {
    const s = await getShop();
    state.step = { name: 'idle' };
    await send(cartView(t(), order?.items ?? [], order?.subtotal ?? 0, s.currency, order?.discounts ?? []));
  }
  async function showPromotions() {
    state.step = { name: 'idle' };
    await send(promotionsView(t(), await getShop(), await db.activePromotions({ shopId: input.shopId })));
  }
  async function currentOrder(): Promise<OrderView | null> {
    if (!state.activeOrder) return null;
    const r = await db.queryOrder({ orderNumber: state.activeOrder.orderNumber });
    if (r) track(r);
    return r;
  }

  async function startAdding(productId: string) {
    const p = await db.getProduct({ shopId: input.shopId, productId });
    if (!p) return productNotFound();
    if (!p.available || (p.stock !== null && p.stock <= 0)) {
      await send({ kind: 'text', body: p.available ? t().outOfStock(p.name, 0) : t().unavailable(p.name) });
      return showCategories();
    }
    // Sizes and add-ons in the shop's published customisation Flow when it has one (issue 10); chat steps otherwise.
    if ((p.presentations.length || p.groups.length) && patched('customise-flow')) {
      const flow = await db.customiseFlow({ shopId: input.shopId, customerRef: input.customerRef, productId, language: state.language });
      if (flow) {
        state.step = { name: 'idle' };
        return send(flow);
      }
    }
    if (p.presentations.length) {
      state.step = { name: 'customize', productId, groupIndex: -1, optionIds: [] };
      return send(sizeList(t(), p));
    }
    return nextCustomization(p, { name: 'customize', productId, groupIndex: -1, optionIds: [] });
  }

  async function nextCustomization(p: ProductView, step: Extract<Step, { name: 'customize' }>) {
    const next = step.groupIndex + 1;
    if (next < p.groups.length) {
      state.step = { ...step, groupIndex: next };
      return send(optionPicker(t(), p, next, step.optionIds.filter((id) => p.groups[next]!.options.some((o) => o.id === id))));
    }
    const max = Math.min(99, p.stock ?? 99);
    state.step = { name: 'quantity', productId: p.id, ...(step.presentationId ? { presentationId: step.presentationId } : {}), optionIds: step.optionIds, attempts: 0 };
    const detail = p.presentations.length || p.groups.length ? `${breakdown(t(), p, step.presentationId, step.optionIds)}\n\n` : '';
    const displayName = p.presentations.find((s) => s.id === step.presentationId)?.name;
    return send({ kind: 'text', body: `${detail}${t().askQuantity(displayName ? `${p.name} (${displayName})` : p.name, max)}` });
  }

  async function onOption(id: string) {
    const step = state.step;
    if (step.name !== 'customize') return showMenu();
    const p = await db.getProduct({ shopId: input.shopId, productId: step.productId });
    if (!p) return showMenu();
    if (id.startsWith('size:')) return nextCustomization(p, { ...step, presentationId: id.slice(5), groupIndex: -1 });
    const group = p.groups[step.groupIndex];
    if (!group) return showMenu();
    if (id === 'opt:done' || id === 'opt:none') {
      const chosen = step.optionIds.filter((o) => group.options.some((x) => x.id === o));
      if (chosen.length < group.min) return send(optionPicker(t(), p, step.groupIndex, chosen));
      return nextCustomization(p, step);
    }
    const optionId = id.slice(4);
    if (!group.options.some((o) => o.id === optionId)) return send(optionPicker(t(), p, step.groupIndex, step.optionIds));
    const optionIds = [...step.optionIds, optionId];
    const inGroup = optionIds.filter((o) => group.options.some((x) => x.id === o));
    if (group.max === 1 || inGroup.length >= group.max) return nextCustomization(p, { ...step, optionIds });
    state.step = { ...step, optionIds };
    return send(optionPicker(t(), p, step.groupIndex, inGroup));
  }

  async function onQuantity(text: string) {
    const step = state.step;
    if (step.name !== 'quantity') return;
    const quantity = parseQuantity(text);
    const p = await db.getProduct({ shopId: input.shopId, productId: step.productId });
    const max = Math.min(99, p?.stock ?? 99);
    if (!p || quantity === null || quantity < 1 || quantity > max) {
      if (step.attempts + 1 >= 2) {
        await send({ kind: 'text', body: `${t().badQuantity(max)} ${t().tooManyTries}` });
        return showMenu();
      }
      state.step = { ...step, attempts: step.attempts + 1 };
      return send({ kind: 'text', body: p && quantity !== null && quantity > max && p.stock !== null ? t().outOfStock(p.name, p.stock) : t().badQuantity(max) });
    }
    await ensureOrder();
    const r = await updateOrder('addLine', [{ productId: step.productId, ...(step.presentationId ? { presentationId: step.presentationId } : {}), optionIds: step.optionIds, quantity }]);
    state.step = { name: 'idle' };
    if (!r.ok) return send({ kind: 'text', body: t().notUnderstood });
    if (!r.result.ok) {
      await send({ kind: 'text', body: await refusalText(r.result.refusal) });
      return showMenu();
    }
    track(r.result.order);
    await send({ kind: 'text', body: t().added(quantity, r.result.line?.name ?? p.name, price(r.result.order.subtotal, r.result.order.currency)) });
    return showCartView(r.result.order);
  }

  async function checkout() {
    const order = await currentOrder();
    if (!order || !order.items.length) return showCartView(null);
    if (!['CART', 'CHECKOUT'].includes(order.status)) return send({ kind: 'text', body: t().activeOrderBusy(order.orderNumber) });
    state.step = { name: 'checkout' };
    return send(fulfilmentChoice(t(), await getShop()));
  }

  async function setFulfilment(choice: FulfilmentChoice) {
    const r = await updateOrder('setFulfilment', [choice]);
    if (!r.ok && patched('intents-table')) return refused(r.error);
    if (!r.ok) {
      if (choice.fulfilment === 'delivery') return send({ kind: 'text', body: t().badAddress });
      return send({ kind: 'text', body: t().notUnderstood });
    }
    track(r.result);
    state.step = { name: 'checkout' };
    return send(orderSummary(t(), await getShop(), r.result));
  }

  async function pay(method: PaymentMethod, payer: { phone?: string; email?: string } = {}) {
    state.lastMethod = method;
    if (state.step.name === 'pay_method' || isPayerStep(state.step)) state.step = { name: 'idle' };
    const email = payer.email ?? (takesEmail(method) ? state.payerEmail : undefined);
    const r = await updateOrder('placeOrder', [{ method, ...(payer.phone ? { phone: payer.phone } : {}), ...(email ? { email } : {}) }]);
    if (!r.ok) {
      if (patched('intents-table')) return refused(r.error);
      return send({ kind: 'text', body: `${t().notUnderstood}` });
    }
    track(r.result);
  }

  /** Why the order refused, in the customer's words, with the screen that lets them go on. */
  async function refused(error: string) {
    const x = t();
    const orderNumber = state.activeOrder?.orderNumber ?? '';
    const why = refusalOf(error);
    state.step = { name: 'idle' };
    switch (why.kind) {
      case 'placed':
        return send({ kind: 'text', body: why.status === 'AWAITING_PAYMENT' ? x.chat.paymentRunning(orderNumber) : x.chat.orderPlaced(orderNumber) });
      case 'paying':
        return send({ kind: 'text', body: x.chat.paymentRunning(orderNumber) });
      case 'cart_changed':
        await send({ kind: 'text', body: x.chat.cartChanged });
        return showCartView(await currentOrder());
      case 'no_fulfilment':
        state.step = { name: 'checkout' };
        return send({ ...fulfilmentChoice(x, await getShop()), body: `${x.chat.chooseFulfilment}\n${x.howToReceive}` } as OutboundMessage);
      case 'method_gone':
        await send({ kind: 'text', body: x.chat.methodGone(x.methodName[why.method] ?? why.method) });
        return showPaymentChoice();
      case 'bad_number':
        await send({ kind: 'text', body: x.payer.invalid(x.methodName[why.method] ?? why.method, exampleNumber(why.method)) });
        return showPaymentChoice();
      case 'empty':
      case 'no_order':
        return showCartView(null);
      case 'no_delivery':
      case 'no_pickup':
        state.step = { name: 'checkout' };
        return send({ ...fulfilmentChoice(x, await getShop()), body: why.kind === 'no_delivery' ? x.chat.noDelivery : x.chat.noPickup } as OutboundMessage);
      case 'no_address':
        state.step = { name: 'address' };
        return send({ kind: 'text', body: x.badAddress });
      default:
        return send({ kind: 'text', body: x.chat.notPlaced });
    }
  }

  // ---- paying from another number -------------------------------------------------------------------------------
  async function showPaymentChoice() {
    const s = await getShop();
    const order = await currentOrder();
    if (!order || order.status !== 'CHECKOUT') return checkout();
    const x = t();
    const screen = paymentMethods(x, s, order.fulfilment);
    const numbered = s.paymentMethods.filter((m) => takesNumber(m as PaymentMethod));
    // Seed 000's payment form beside the buttons, where the shop has published it (issue 10).
    if (numbered.length && patched('payment-form')) {
      const methods = numbered.map((m) => ({ id: m, title: x.methodName[m] ?? m }));
      const form = await db.paymentForm({ shopId: input.shopId, customerRef: input.customerRef, orderNumber: order.orderNumber, amount: price(order.total, s.currency as Parameters<typeof price>[1]), methods, language: state.language });
      if (form) await send(form);
    }
    state.step = { name: 'pay_method' };
    const hints = [
      ...(numbered.length ? [x.payer.hint(numbered.map((m) => x.methodName[m] ?? m).join(' / '))] : []),
      ...(s.paymentMethods.some((m) => takesEmail(m as PaymentMethod)) ? [x.payer.emailHint] : []),
    ];
    if (!hints.length) return send(screen);
    const hint = hints.join('\n');
    return send({ ...screen, body: `${'body' in screen ? screen.body : x.choosePayment}\n\n${hint}` } as OutboundMessage);
  }

  function methodNamed(text: string, methods: readonly PaymentMethod[]): PaymentMethod | undefined {
    const x = t();
    const said = normalise(text);
    return methods.find((m) => [m, x.methodName[m] ?? m, ...(m === 'cash' ? [x.cashLabel('pickup'), x.cashLabel('delivery')] : [])].some((n) => normalise(n) === said));
  }

  /** Text at the payment choice: "another number", a number itself, or an e-mail for the receipt. */
  async function onPaymentChoiceText(text: string, intent: Intent): Promise<boolean> {
    const s = await getShop();
    // A method typed as its button reads ("M-Pesa", "Pay at pickup"): seed 001's customers type what they see.
    const x = t();
    const named = methodNamed(text, s.paymentMethods as PaymentMethod[]);
    if (named) {
      await pay(named as PaymentMethod);
      return true;
    }
    const email = readEmail(text);
    if (email && s.paymentMethods.some((m) => takesEmail(m as PaymentMethod))) {
      state.payerEmail = email;
      await send({ kind: 'text', body: t().payer.emailNoted(email) });
      await showPaymentChoice();
      return true;
    }
    const looksLikeNumber = /^\+?[\d\s().-]{7,}$/.test(text.trim());
    if (intent !== 'other_number' && !looksLikeNumber) return false;
    const numbered = s.paymentMethods.filter((m) => takesNumber(m as PaymentMethod)) as PaymentMethod[];
    if (!numbered.length) return false;
    if (numbered.length === 1) {
      const method = numbered[0]!;
      if (looksLikeNumber) return onPayerPhone({ name: 'payer_phone', method, tries: 0 }, text).then(() => true);
      await askPayerPhone(method, 0);
      return true;
    }
    state.step = { name: 'payer_method', ...(looksLikeNumber ? { typed: text.trim() } : {}) };
    const rows = numbered.map((m) => ({ id: `payer:${m}`, title: x.methodName[m] ?? m }));
    await send(rows.length <= 3 ? { kind: 'buttons', body: x.payer.chooseMethod, buttons: rows } : { kind: 'list', body: x.payer.chooseMethod, button: x.paymentButton, sections: [{ title: x.paymentButton, rows }] });
    return true;
  }

  async function askPayerPhone(method: PaymentMethod, tries: number, body?: string) {
    const x = t();
    const name = x.methodName[method] ?? method;
    state.step = { name: 'payer_phone', method, tries };
    return send({
      kind: 'buttons',
      body: body ?? x.payer.askNumber(name, exampleNumber(method)),
      buttons: [
        { id: 'payer:self', title: x.payer.thisNumber },
        { id: 'pay:other', title: x.payer.otherMethod },
      ],
    });
  }

  async function onPayerPhone(step: Extract<PayerStep, { name: 'payer_phone' }>, text: string) {
    const x = t();
    const name = x.methodName[step.method] ?? step.method;
    const example = exampleNumber(step.method);
    const reply = readPayerReply(text, step.method);
    const own = 'own' in reply ? payerNumber(sender, step.method) : null;
    const chosen = own ?? reply;
    if ('ok' in chosen && chosen.ok) return afterPayerPhone(step.method, own ? undefined : chosen.phone);
    const why = own ? x.payer.ownUnusable(name, example) : 'why' in chosen && chosen.why === 'wrong_network' ? x.payer.wrongNetwork(name, networkOf(step.method) ?? '', example) : x.payer.invalid(name, example);
    if (step.tries + 1 >= MAX_PAYER_TRIES) {
      await send({ kind: 'text', body: `${why} ${x.tooManyTries}` });
      return showPaymentChoice();
    }
    return askPayerPhone(step.method, step.tries + 1, why);
  }

  async function afterPayerPhone(method: PaymentMethod, phone: string | undefined) {
    if (takesEmail(method) && !state.payerEmail) {
      const x = t();
      state.step = { name: 'payer_email', method, ...(phone ? { phone } : {}), tries: 0 };
      return send({ kind: 'buttons', body: x.payer.askEmail, buttons: [{ id: 'payer:skip-email', title: x.payer.skip }] });
    }
    return payFrom(method, phone);
  }

  /** The payment form's answer: its number is read as if typed at "pay from another number"; a bad one is asked again. */
  async function onPaymentForm(orderNumber: string, form: Record<string, unknown>) {
    const order = await currentOrder();
    if (!order || order.orderNumber !== orderNumber || order.status !== 'CHECKOUT') return send({ kind: 'text', body: flowTexts(state.language).refused });
    const method = (await getShop()).paymentMethods.find((m) => m === form.method && takesNumber(m as PaymentMethod)) as PaymentMethod | undefined;
    if (!method) return showPaymentChoice();
    const typed = typeof form.phone === 'string' ? form.phone : '';
    const payer = payerNumber(typed, method);
    if (!payer.ok) return onPayerPhone({ name: 'payer_phone', method, tries: 0 }, typed);
    // The e-mail is optional in the form: none given is not asked for again.
    const email = typeof form.email === 'string' ? readEmail(form.email) : null;
    return payFrom(method, payer.phone, email ?? undefined);
  }

  async function payFrom(method: PaymentMethod, phone: string | undefined, email?: string) {
    state.step = { name: 'idle' };
    if (phone) await send({ kind: 'text', body: t().payer.paying(t().methodName[method] ?? method, maskedNumber(phone)) });
    return pay(method, { ...(phone ? { phone } : {}), ...(email ? { email } : {}) });
  }

  async function onPayerText(step: PayerStep, text: string, intent: Intent) {
    switch (step.name) {
      case 'payer_method': {
        // The wallet for the other number, typed as its button reads.
        const wallet = methodNamed(text, ((await getShop()).paymentMethods as PaymentMethod[]).filter(takesNumber));
        if (wallet) return onPayerId(wallet);
        return onPaymentChoiceText(step.typed ?? 'another number', 'other_number');
      }
      case 'payer_phone':
        return onPayerPhone(step, text);
      case 'payer_email': {
        if (intent === 'skip') return payFrom(step.method, step.phone);
        const email = readEmail(text);
        if (email) return payFrom(step.method, step.phone, email);
        if (step.tries + 1 >= 2) return payFrom(step.method, step.phone);
        state.step = { ...step, tries: step.tries + 1 };
        return send({ kind: 'buttons', body: t().payer.badEmail, buttons: [{ id: 'payer:skip-email', title: t().payer.skip }] });
      }
    }
  }

  async function onPayerId(value: string) {
    const step = state.step;
    if (value === 'self' && step.name === 'payer_phone') return onPayerPhone(step, 'this number');
    if (value === 'skip-email' && step.name === 'payer_email') return payFrom(step.method, step.phone);
    const s = await getShop();
    const method = s.paymentMethods.find((m) => m === value && takesNumber(m as PaymentMethod)) as PaymentMethod | undefined;
    if (!method || step.name !== 'payer_method') return showPaymentChoice();
    if (step.typed) return onPayerPhone({ name: 'payer_phone', method, tries: 0 }, step.typed);
    return askPayerPhone(method, 0);
  }

  // ---- small honest answers -------------------------------------------------------------------------------------
  async function skipAddress(step: Extract<Step, { name: 'address' }>) {
    const x = t();
    if (!step.skipped) {
      state.step = { name: 'address', skipped: 1 };
      return send({ kind: 'text', body: x.chat.addressNeeded });
    }
    await send({ kind: 'text', body: x.chat.shopWillCall });
    return setFulfilment({ fulfilment: 'delivery', address: { byPhone: true, text: ADDRESS_BY_PHONE } });
  }

  async function clearCart() {
    const r = await updateOrder('clearCart', []);
    if (!patched('intents-table')) return send({ kind: 'text', body: r.ok ? t().cleared : t().cartEmpty });
    if (r.ok) return send({ kind: 'text', body: t().cleared });
    const why = refusalOf(r.error);
    if (why.kind === 'no_order') return send({ kind: 'text', body: t().chat.cartAlreadyEmpty });
    return refused(r.error);
  }

  async function productNotFound() {
    if (patched('intents-table')) await send({ kind: 'text', body: t().chat.productNotFound });
    return showCategories();
  }

  async function cancel() {
    const a = state.activeOrder;
    const checkingOut = state.step.name === 'checkout' || state.step.name === 'address' || state.step.name === 'otp';
    state.step = { name: 'idle' };
    if (a && (CANCEL_DURING.includes(a.status) || (checkingOut && a.status === 'CART'))) {
      const r = await updateOrder('customerCancel', []);
      if (r.ok) {
        state.activeOrder = null;
        return send({ kind: 'text', body: `${t().orderCancelled(a.orderNumber)} ${t().cancelled}` });
      }
    }
    return send({ kind: 'text', body: t().stepCancelled });
  }

  // ---- routing --------------------------------------------------------------------------------------------------
  async function onId(id: string) {
    const more = morePageOf(id);
    if (more !== null) {
      const s = state.step;
      return s.name === 'products' ? showProducts(s.categoryId, more) : showCategories(more);
    }
    const [kind, value = ''] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
    switch (kind) {
      case 'menu':
        if (value === 'shop') return showCategories();
        if (value === 'cart') return showCartView(await currentOrder());
        if (value === 'help') return showHelp();
        if (value === 'lang') return switchLanguage();
        if (value === 'booking') return booking.start();
        // "View promotions" (seed 001) is new: runs from before it answer the menu, as they did for an unknown button.
        if (value === 'promos' && patched('view-promotions')) return showPromotions();
        return showMenu();
      case 'extra':
        // The shop's own menu entries are new: runs from before answer "not understood", as they did.
        if (patched('menu-extras')) return onMenuExtra(Number(value));
        return send({ kind: 'text', body: t().notUnderstood });
      case 'cat':
        return showProducts(value);
      case 'catalog': {
        const s = await getShop();
        return send({ kind: 'catalog', body: t().catalogBody(s.name) });
      }
      case 'prod': {
        const p = await db.getProduct({ shopId: input.shopId, productId: value });
        if (!p) return productNotFound();
        return send(productCard(t(), p));
      }
      case 'add':
        return startAdding(value);
      case 'size':
      case 'opt':
        return onOption(id);
      case 'cart':
        if (value === 'checkout') return checkout();
        if (value === 'more') return showCategories();
        if (value === 'clear') return clearCart();
        return showMenu();
      case 'ful':
        if (value === 'pickup') return setFulfilment({ fulfilment: 'pickup' });
        state.step = { name: 'address' };
        return send({ kind: 'text', body: t().chat.askAddress });
      case 'order':
        if (value === 'confirm') {
          const s = await getShop();
          const order = await currentOrder();
          if (!order || order.status !== 'CHECKOUT') return checkout();
          if (patched('payer-number')) {
            if (s.paymentMethods.length === 1 && !takesNumber(s.paymentMethods[0] as PaymentMethod)) return pay(s.paymentMethods[0] as PaymentMethod);
            return showPaymentChoice();
          }
          if (s.paymentMethods.length === 1) return pay(s.paymentMethods[0] as PaymentMethod);
          return send(paymentMethods(t(), s, order.fulfilment));
        }
        if (value === 'edit') return showCartView(await currentOrder());
        if (value === 'cancel') return cancel();
        return showMenu();
      case 'pay': {
        if (value === 'retry' && state.lastMethod) return pay(state.lastMethod);
        // Help under a payment link (seed 004): how to pay, and a way to another method (the order closes the link).
        if (value === 'help' && patched('pay-help')) {
          return send({ kind: 'buttons', body: t().payment.linkHelp, buttons: [{ id: 'pay:other', title: t().payment.otherMethod }, { id: 'order:cancel', title: t().cancel }] });
        }
        if (value === 'other' || value === 'retry') {
          const order = await currentOrder();
          if (order?.source === 'booking' && ['CHECKOUT', 'AWAITING_PAYMENT'].includes(order.status)) return booking.otherMethod(order);
          if (order?.status === 'CHECKOUT' && patched('payer-number')) return showPaymentChoice();
          if (order?.status === 'AWAITING_PAYMENT' && patched('pay-help')) {
            // From Help under an open payment link: cash is chosen at checkout, never in place of a link.
            const s = await getShop();
            return send(paymentMethods(t(), { ...s, paymentMethods: s.paymentMethods.filter((m) => m !== 'cash') }, order.fulfilment));
          }
          return send(paymentMethods(t(), await getShop(), order?.fulfilment ?? null));
        }
        const step = state.step;
        if (step.name === 'booking_method') return booking.onMethod(step, value);
        return pay(value as PaymentMethod);
      }
      case 'payer':
        if (patched('payer-number')) return onPayerId(value);
        return send({ kind: 'text', body: t().notUnderstood });
      default:
        return send({ kind: 'text', body: t().notUnderstood });
    }
  }

  async function onText(text: string) {
    // The table reads more (seed phrases, Swahili, typos): runs from before it keep reading text as they did.
    const table = patched('intents-table');
    const intent = table ? detectIntent(text) : detectIntentBeforeTable(text);
    if (intent === 'cancel') return cancel();
    const step = state.step;
    if (step.name === 'quantity' && intent !== 'menu' && intent !== 'greeting') return onQuantity(text);
    if (step.name === 'otp' && /^\s*\d{4,8}\s*$/.test(text)) {
      const r = await updateOrder('submitOtp', [text.trim()]);
      if (!r.ok) state.step = { name: 'idle' };
      return;
    }
    if (isBookingStep(step) && intent !== 'menu' && intent !== 'greeting') return booking.onText(step, text);
    if (table && isPayerStep(step) && intent !== 'menu' && intent !== 'greeting') return onPayerText(step, text, intent);
    if (table && step.name === 'pay_method' && (await onPaymentChoiceText(text, intent))) return;
    if (table && step.name === 'address') {
      // Only a clear command leaves the address question: "Shop 4, Moi Avenue" is an address.
      if (intent === 'skip') return skipAddress(step);
      if (intent === 'pickup') return setFulfilment({ fulfilment: 'pickup' });
      if (!['menu', 'greeting', 'help', 'language'].includes(intent)) return setFulfilment({ fulfilment: 'delivery', address: { text: text.trim() } });
    }
    if (step.name === 'address' && intent === 'unknown') return setFulfilment({ fulfilment: 'delivery', address: { text: text.trim() } });
    switch (intent) {
      case 'greeting':
      case 'menu':
        return showMenu(state.name);
      case 'shop':
        return showCategories();
      case 'cart':
        return showCartView(await currentOrder());
      case 'checkout':
        return checkout();
      case 'pay': {
        if (state.activeOrder?.status === 'CHECKOUT') {
          const order = await currentOrder();
          if (order?.source === 'booking' && order.status === 'CHECKOUT') return booking.otherMethod(order);
          return onId('order:confirm');
        }
        if ((await getShop()).hasBookings) return booking.start();
        return showHelp();
      }
      case 'help':
        return showHelp();
      case 'language':
        return switchLanguage();
      case 'promotions':
        if (patched('view-promotions')) return showPromotions();
        return send({ kind: 'text', body: t().notUnderstood });
      case 'clear_cart':
        return clearCart();
      case 'delivery':
      case 'pickup': {
        const order = await currentOrder();
        if (order && order.items.length && ['CART', 'CHECKOUT'].includes(order.status)) return onId(`ful:${intent}`);
        return checkout();
      }
      case 'other_number':
        if (state.activeOrder?.status === 'CHECKOUT' && (await onPaymentChoiceText(text, intent))) return;
        return send({ kind: 'text', body: t().notUnderstood });
      default:
        return send({ kind: 'text', body: t().notUnderstood });
    }
  }

  async function handle(m: InboundMessage) {
    // The shop as it is now for every message (name, methods, fees, menu extras): a change made in the back office is
    // seen by the next message, also in a conversation that is already open. Older runs kept one copy per run.
    if (patched('shop-per-message')) shop = null;
    if (!state.registered) {
      const reg = await db.registerCustomer({ shopId: input.shopId, waId: m.from, customerRef: input.customerRef, ...(m.contactName ? { name: m.contactName } : {}), at: m.timestamp });
      const s = await getShop();
      const fromText = m.content.kind === 'text' ? detectLanguage(m.content.text) : undefined;
      state.language = reg.language ?? fromText ?? (isLanguage(s.defaultLanguage) ? s.defaultLanguage : 'en');
      if (!reg.language) await db.setCustomerLanguage({ shopId: input.shopId, customerRef: input.customerRef, language: state.language });
      state.activeOrder = reg.activeOrder;
      state.registered = true;
    }
    state.lastInboundAt = Date.now();
    sender = m.from;
    if (m.contactName) state.name = m.contactName;
    // Blue ticks for the customer; not awaited, a read receipt never holds the answer up.
    // The API sends the read receipt on hand-off now; runs from before asked an activity for it.
    if (!patched('read-by-api')) void acts.markRead({ phoneNumberId: m.phoneNumberId, messageId: m.id }).catch(() => undefined);
    // LastCustomerMessageAt finds quiet or waiting customers: to the minute is enough, so a burst of messages writes it
    // once, not once each (runs from before wrote it every message).
    if (!patched('last-message-minute') || Date.now() - (state.lastMessageAtWritten ?? 0) >= 60_000) {
      upsertSearchAttributes([{ key: SA.lastCustomerMessageAt, value: new Date(Date.now()) }]);
      state.lastMessageAtWritten = Date.now();
    }
    if (state.handoverUntil && Date.now() < state.handoverUntil) return;
    state.handoverUntil = null;
    const c = m.content;
    if (state.step.name === 'request' && c.kind !== 'text') state.step = { name: 'idle' };
    switch (c.kind) {
      case 'text':
        if (state.step.name === 'request') return onRequestText(state.step, c.text, m.id);
        return onText(c.text);
      case 'button':
      case 'list':
        return onId(c.id);
      case 'template_button':
        return onId(c.payload);
      case 'order': {
        await ensureOrder();
        const r = await updateOrder('replaceCart', [c.items.map((i) => ({ retailerId: i.retailerId, quantity: i.quantity }))]);
        if (!r.ok || !r.result.ok) return send({ kind: 'text', body: t().catalogCartEmpty });
        track(r.result.order);
        if (r.result.left?.length) await send({ kind: 'text', body: t().unknownItems(r.result.left) });
        return showCartView(r.result.order);
      }
      case 'flow': {
        // A completed customisation Flow (api/routes/flows.ts) names the product and choices; the order re-prices them.
        const r = c.response as { flow_token?: unknown; productId?: unknown; presentationId?: unknown; optionIds?: unknown };
        if (typeof r.productId !== 'string' && patched('payment-form')) {
          const check = await db.checkFlowReply({ shopId: input.shopId, customerRef: input.customerRef, flowToken: r.flow_token });
          if (check.ok && check.kind === 'payment') return onPaymentForm(check.subject, c.response);
          return send({ kind: 'text', body: flowTexts(state.language).refused });
        }
        if (typeof r.productId !== 'string') return send({ kind: 'text', body: t().notUnderstood });
        // A forged, stale or someone else's flow_token changes nothing; older runs took the answer as it came.
        if (patched('flow-token-verified')) {
          const check = await db.checkFlowReply({ shopId: input.shopId, customerRef: input.customerRef, flowToken: r.flow_token });
          if (!check.ok || check.kind !== 'product' || check.subject !== r.productId) return send({ kind: 'text', body: flowTexts(state.language).refused });
        }
        const p = await db.getProduct({ shopId: input.shopId, productId: r.productId });
        if (!p) return showCategories();
        const optionIds = Array.isArray(r.optionIds) ? r.optionIds.filter((x): x is string => typeof x === 'string') : [];
        const presentationId = typeof r.presentationId === 'string' ? r.presentationId : undefined;
        return nextCustomization(p, { name: 'customize', productId: p.id, ...(presentationId ? { presentationId } : {}), groupIndex: p.groups.length - 1, optionIds });
      }
      case 'location':
        if (state.step.name === 'address') return setFulfilment({ fulfilment: 'delivery', address: { latitude: c.latitude, longitude: c.longitude, ...(c.address ? { text: c.address } : {}), ...(c.name ? { name: c.name } : {}) } });
        return send({ kind: 'text', body: t().media });
      default:
        return send({ kind: 'text', body: t().media });
    }
  }

  // ---- the loop -------------------------------------------------------------------------------------------------
  /**
   * One idle timer (patch idle-timer-once), started once and re-armed only when it fires: the loop waits on the inbox
   * alone, so a message no longer cancels a timer and starts another. When it fires, the loop checks how long the
   * customer has been quiet and closes, or re-arms for the remainder.
   */
  let idleArmed = false;
  let idleDue = false;
  const armIdle = () => {
    idleArmed = true;
    void sleep(Math.max(1, IDLE_CLOSE_MS - (Date.now() - state.lastInboundAt))).then(() => {
      idleArmed = false;
      idleDue = true;
    });
  };
  for (;;) {
    if (patched('idle-timer-once')) {
      if (!idleArmed) armIdle();
      await condition(() => inbox.length > 0 || idleDue);
      if (inbox.length === 0) {
        // The timer fired and nothing is waiting (a message delivered in the same activation is read first, as before).
        idleDue = false;
        if (Date.now() - state.lastInboundAt >= IDLE_CLOSE_MS) {
          if (!state.activeOrder) break;
          // An order still in flight keeps the conversation open for another full period, as before.
          state.lastInboundAt = Date.now();
        }
        continue;
      }
    } else if (!(await condition(() => inbox.length > 0, Math.max(1, IDLE_CLOSE_MS - (Date.now() - state.lastInboundAt))))) {
      // A message delivered in the same activation as the idle timer is still read: the loop ends only on an empty inbox.
      if (!state.activeOrder && inbox.length === 0) break;
      if (inbox.length === 0) state.lastInboundAt = Date.now();
      continue;
    }
    const m = inbox.shift()!;
    state.recentIds = [...state.recentIds.slice(-(RECENT_IDS - 1)), m.id];
    try {
      await handle(m);
    } catch (err) {
      // A message the bot could not handle must not end the conversation; the failure is in the history.
      log.error('message handling failed', { messageId: m.id, error: String(err) });
      await send({ kind: 'text', body: t().notUnderstood }).catch(() => undefined);
    }
    if (inbox.length === 0 && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? 5000))) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof conversationWorkflow>({ ...input, state });
    }
  }
  await condition(allHandlersFinished);
}

