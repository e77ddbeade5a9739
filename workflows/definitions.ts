import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { CartLine, DiscountLine, LineChoice, LineRefusal, ShopView } from '../domain/catalog.ts';
import type { InboundMessage } from '../domain/inbound.ts';
import type { Language } from '../domain/i18n.ts';
import type { Attention, OrderStatus, PaymentStatusValue } from '../domain/status.ts';
import type { CurrencyCode } from '../domain/money.ts';
import type { PaymentMethod } from '../domain/payment-methods.ts';

/** Everything a signal, update or query carries, so callers (API, activities, tests) and workflows agree on one shape. */

export interface OrderAddressView {
  text?: string;
  latitude?: number;
  longitude?: number;
  name?: string;
  /** Delivery without an address: the customer skipped it twice and the shop calls them for it. */
  byPhone?: boolean;
}

export interface PaymentAttemptView {
  attempt: number;
  reference: string;
  method: PaymentMethod;
  provider: string;
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled' | 'expired' | 'refunded' | 'flagged';
  amount: number;
  currency: CurrencyCode;
  transactionReference?: string;
  failureReason?: string;
  startedAt: string;
  finishedAt?: string;
  /** Minor units given back so far (the whole amount once status is 'refunded'). */
  refundedAmount?: number;
  /** A success on an order that was already paid. */
  duplicate?: boolean;
}

export interface TimelineEntry {
  at: string;
  type: string;
  detail?: string;
}

/** The order as the admin API shows it and the `order` query answers. */
export interface OrderView {
  orderNumber: string;
  workflowId: string;
  shopId: string;
  customerRef: string;
  status: OrderStatus;
  paymentStatus: PaymentStatusValue;
  paymentMethod: PaymentMethod | null;
  fulfilment: 'delivery' | 'pickup' | null;
  address: OrderAddressView | null;
  note: string | null;
  items: CartLine[];
  subtotal: number;
  /** What promotions took off the subtotal, and one line per promotion (absent in views from before promotions). */
  discount?: number;
  discounts?: DiscountLine[];
  tax: number;
  deliveryFee: number;
  total: number;
  currency: CurrencyCode;
  payments: PaymentAttemptView[];
  /** Confirmed successes minus refunds, in minor units (domain/order-machine.ts `ledger`). */
  paid: number;
  refunded: number;
  /** Why an operator must act, or null. */
  attention: Attention | null;
  timeline: TimelineEntry[];
  source: OrderSource;
  createdAt: string;
  updatedAt: string;
}

export interface OrderTiming {
  cartReminderAfter: string;
  cartExpiresAfter: string;
  /** How long a customer has to approve a phone prompt (STK, Paynow express) or type an OTP. */
  paymentTimeout: string;
  /** Payment links live longer. */
  paymentLinkTimeout: string;
  pollInterval: string;
  /** How long after COMPLETED or CANCELLED an operator can still refund (REFUND_WINDOW); older inputs: 30d. */
  refundWindow?: string;
  /** An order left in a fulfilment status closes itself after this long without a change (ORDER_AUTO_CLOSE); older inputs: 14d. */
  autoCloseAfter?: string;
}

/** Where an order came from: the customer's chat, a shop system (`POST /api/orders`), or a payment against a booking. */
export type OrderSource = 'whatsapp' | 'api' | 'booking';

/** A payment against a booking (seed 003): the order's single line is this amount, and its payment credits the booking. */
export interface BookingPaymentInput {
  /** As stored (the customer may have typed it in any case). */
  reference: string;
  description: string;
  /** Minor units, at most the balance when the customer chose it. */
  amount: number;
}

export interface OrderInput {
  orderNumber: string;
  shop: ShopView;
  customerRef: string;
  language: Language;
  source: OrderSource;
  timing: OrderTiming;
  booking?: BookingPaymentInput;
  /** Carried across continue-as-new. */
  state?: unknown;
}

export type CartResult =
  | { ok: true; order: OrderView; line?: CartLine; left?: string[] }
  | { ok: false; refusal: LineRefusal | { reason: 'not_shopping'; status: OrderStatus } | { reason: 'empty' } };

export interface FulfilmentChoice {
  fulfilment: 'delivery' | 'pickup';
  address?: OrderAddressView;
}

export interface PlaceOrderInput {
  method: PaymentMethod;
  /** Digits, country code first; the number to charge for mobile money. */
  phone?: string;
  /** Where the provider sends the payer's receipt, when it takes one (Paynow, Razorpay). */
  email?: string;
}

export interface CatalogOrderItem {
  retailerId: string;
  quantity: number;
}

export const orderQuery = defineQuery<OrderView>('order');
export const addLineUpdate = defineUpdate<CartResult, [LineChoice]>('addLine');
export const replaceCartUpdate = defineUpdate<CartResult, [CatalogOrderItem[]]>('replaceCart');
export const removeLineUpdate = defineUpdate<CartResult, [string]>('removeLine');
export const clearCartUpdate = defineUpdate<CartResult, []>('clearCart');
export const setFulfilmentUpdate = defineUpdate<OrderView, [FulfilmentChoice]>('setFulfilment');
export const placeOrderUpdate = defineUpdate<OrderView, [PlaceOrderInput]>('placeOrder');
export const submitOtpUpdate = defineUpdate<{ accepted: boolean; triesLeft: number }, [string]>('submitOtp');
/** Orders created by a shop's system: send the customer the summary and the payment options. */
export const offerPaymentUpdate = defineUpdate<OrderView, []>('offerPayment');

/** `POST /api/orders` in one step (update-with-start): every line priced by the order, the fulfilment, the offer. */
export interface ApiOrderRequest {
  lines: LineChoice[];
  fulfilment: FulfilmentChoice;
}
export type ApiOrderResult = { ok: true; order: OrderView } | { ok: false; code: string; message: string };
export const createFromApiUpdate = defineUpdate<ApiOrderResult, [ApiOrderRequest]>('createFromApi');
export const customerCancelUpdate = defineUpdate<OrderView, []>('customerCancel');

/** Operator actions (README has a `temporal` CLI line for each). */
export const advanceStatusUpdate = defineUpdate<OrderView, [{ status: OrderStatus; note?: string }]>('advanceStatus');
export const cancelOrderUpdate = defineUpdate<OrderView, [{ reason?: string }]>('cancelOrder');
/** Whole (no amount) or part of what was paid, in minor units; still possible for REFUND_WINDOW after the order closed. */
export const refundOrderUpdate = defineUpdate<OrderView, [{ reason?: string; amount?: number }]>('refundOrder');
export const retryPaymentUpdate = defineUpdate<OrderView, [{ method?: PaymentMethod }]>('retryPayment');
/** An operator refunded by hand what the provider could not (Attention=REFUND_OWED or DOUBLE_PAYMENT). */
export const markRefundedUpdate = defineUpdate<OrderView, [{ note: string; amount?: number }]>('markRefunded');

/**
 * The order updates another workflow drives through the `updateOrder` activity, by name: a workflow cannot hold a
 * client, so the name travels as data, typed against these definitions on both sides.
 */
export const ORDER_UPDATES = {
  addLine: addLineUpdate,
  replaceCart: replaceCartUpdate,
  removeLine: removeLineUpdate,
  clearCart: clearCartUpdate,
  setFulfilment: setFulfilmentUpdate,
  placeOrder: placeOrderUpdate,
  submitOtp: submitOtpUpdate,
  offerPayment: offerPaymentUpdate,
  customerCancel: customerCancelUpdate,
} as const;
export type OrderUpdateName = keyof typeof ORDER_UPDATES;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- inference over any argument list
type UpdateArgs<D> = D extends UpdateDefinition<any, infer A> ? A : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type UpdateResult<D> = D extends UpdateDefinition<infer R, any> ? R : never;
export type OrderUpdateCall = { [K in OrderUpdateName]: { orderNumber: string; update: K; args: UpdateArgs<(typeof ORDER_UPDATES)[K]> } }[OrderUpdateName];
export type OrderUpdateResult<K extends OrderUpdateName> = UpdateResult<(typeof ORDER_UPDATES)[K]>;
export type OrderUpdateOutcome<T = unknown> = { ok: true; result: T } | { ok: false; error: string; closed?: boolean };

/** A verified provider callback, normalised (providers/payments/types.ts) and matched to a payment attempt. */
export interface PaymentSignal {
  reference: string;
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled' | 'expired';
  amount?: number;
  currency?: string;
  transactionReference?: string;
  failureReason?: string;
  source: 'callback' | 'poll';
}
export const paymentEventSignal = defineSignal<[PaymentSignal]>('paymentEvent');

/** Conversation workflow. */
export const inboundSignal = defineSignal<[InboundMessage]>('inbound');
export const orderChangedSignal = defineSignal<[{ orderNumber: string; status: OrderStatus; awaiting?: 'otp' | 'payment_choice' | null }]>('orderChanged');
export const handoverSignal = defineSignal<[{ minutes?: number; resume?: boolean }]>('handover');

export interface ConversationInput {
  shopId: string;
  customerRef: string;
  state?: unknown;
}

export interface ConversationView {
  shopId: string;
  customerRef: string;
  language: Language;
  step: string;
  activeOrder: string | null;
  handoverUntil: string | null;
}
export const conversationQuery = defineQuery<ConversationView>('conversation');

/** Catalog sync workflow (one per shop, `catalog-sync:<taskQueue>:<shopId>`): what asked for a sync. */
export type CatalogSyncSource = 'change' | 'manual' | 'webhook';
export interface CatalogSyncRequest {
  source: CatalogSyncSource;
  /** Send every product again, not only those Meta has not confirmed (an operator's sync). */
  full?: boolean;
  /** Skip the debounce. */
  now?: boolean;
}
export const catalogSyncSignal = defineSignal<[CatalogSyncRequest]>('catalogSync');
export interface CatalogSyncInput {
  shopId: string;
  /** Quiet time after the last change before a sync runs, and the longest a sync waits behind changes that keep coming. */
  debounceMs: number;
  maxWaitMs: number;
  /** A request carried over continue-as-new. */
  pending?: CatalogSyncRequest | null;
  /** History events after which a run continues as new (default 5,000). */
  historyLimit?: number;
}
/** Named with the task queue too: deployments (and test runs) sharing a namespace each sync their own shops. */
export const catalogSyncWorkflowId = (taskQueue: string, shopId: string) => `catalog-sync:${taskQueue}:${shopId}`;
