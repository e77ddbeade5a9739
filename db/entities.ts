import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { Attention, OrderStatus, PaymentStatusValue } from '../domain/status.ts';
import type { PaymentMethod, ProviderId } from '../providers/payments/types.ts';

const now = () => new Date();

/** Per-shop provider credentials; absent fields fall back to the environment (demo shops). */
export interface ShopProviderSettings {
  mpesa?: { consumerKey?: string; consumerSecret?: string; shortcode?: string; passkey?: string; baseUrl?: string };
  paynow?: { integrationId?: string; integrationKey?: string; baseUrl?: string; authEmail?: string };
  omari?: { merchantKey?: string; baseUrl?: string };
  razorpay?: { keyId?: string; keySecret?: string; webhookSecret?: string; baseUrl?: string };
  ghala?: { apiKey?: string; webhookSecret?: string; baseUrl?: string };
}

export const Shop = defineEntity({
  name: 'Shop',
  properties: {
    id: p.string().primary(),
    name: p.string(),
    phoneNumberId: p.string().unique(),
    displayPhone: p.string(),
    currency: p.string().length(3),
    country: p.string().length(2),
    timezone: p.string(),
    defaultLanguage: p.string().default('en'),
    /** Unique: order numbers (`<prefix>-<n>`) and their workflow ids must never collide across shops. */
    orderPrefix: p.string().unique(),
    nextOrderNumber: p.integer().default(1001),
    paymentMethods: p.json<PaymentMethod[]>(),
    providerSettings: p.json<ShopProviderSettings>().default('{}'),
    taxRateBasisPoints: p.integer().default(0),
    taxInclusive: p.boolean().default(false),
    deliveryFee: p.integer().default(0),
    deliveryAvailable: p.boolean().default(true),
    pickupAvailable: p.boolean().default(true),
    catalogId: p.string().nullable(),
    /** Legacy single token (sha256 hex), still honoured; tokens are issued into `shop_token` (api/routes/shops.ts). */
    apiTokenHash: p.string().nullable().hidden(),
    preparationMinutes: p.integer().default(30),
    /** A deactivated shop gets no webhooks routed to it and is left out of the start-up check; nothing is deleted. */
    active: p.boolean().default(true),
    languages: p.json<string[]>().default('["en"]'),
    menuExtras: p.json<MenuExtra[]>().default('[]'),
    businessAccountId: p.string().nullable(),
    shopify: p.json<{ shopDomain: string; apiVersion?: string }>().nullable(),
    /** Sealed secrets (lib/credentials.ts): WhatsApp token, payment credentials, Shopify token. Never serialised. */
    credentials: p.text().nullable().hidden(),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().nullable().onUpdate(now),
  },
});
export type IShop = InferEntity<typeof Shop>;

/** An entry of the shop's main menu beside Shop and My cart: a FAQ (a reply or a link), or a request the staff follow up. */
export type MenuExtra = { kind: 'faq'; title: string; reply?: string; url?: string } | { kind: 'request'; title: string; prompt: string };

/** A shop's API token: only its sha256 is kept; revoked tokens stay listed with `revokedAt`. */
export const ShopToken = defineEntity({
  name: 'ShopToken',
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    shop: () => p.manyToOne(Shop),
    name: p.string().nullable(),
    prefix: p.string(),
    tokenHash: p.string().unique().hidden(),
    createdAt: p.datetime().onCreate(now),
    revokedAt: p.datetime().nullable(),
  },
});
export type IShopToken = InferEntity<typeof ShopToken>;

/** Who (`admin` or `token:<id>`) changed what through the admin API, and when; the diff never holds a secret. */
export const AuditEntry = defineEntity({
  name: 'AuditEntry',
  indexes: [{ properties: ['shopId', 'at'] }, { properties: ['at'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    at: p.datetime().onCreate(now),
    actor: p.string(),
    shopId: p.string().nullable(),
    method: p.string(),
    route: p.string(),
    entity: p.string(),
    entityId: p.string().nullable(),
    action: p.string(),
    diff: p.json<Record<string, unknown>>().default('{}'),
    requestId: p.string().nullable(),
  },
});
export type IAuditEntry = InferEntity<typeof AuditEntry>;

export const Customer = defineEntity({
  name: 'Customer',
  uniques: [{ properties: ['shop', 'waId'] }, { properties: ['shop', 'ref'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    shop: () => p.manyToOne(Shop),
    waId: p.string().hidden(),
    ref: p.string(),
    name: p.string().nullable(),
    language: p.string().nullable(),
    lastMessageAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(now),
  },
});
export type ICustomer = InferEntity<typeof Customer>;

export const Category = defineEntity({
  name: 'Category',
  properties: {
    id: p.string().primary(),
    shop: () => p.manyToOne(Shop),
    name: p.string(),
    description: p.string().nullable(),
    position: p.integer().default(0),
    /** A hidden category (and its products) leaves the customer's lists. */
    active: p.boolean().default(true),
  },
});
export type ICategory = InferEntity<typeof Category>;

export const Product = defineEntity({
  name: 'Product',
  uniques: [{ properties: ['shop', 'retailerId'] }],
  properties: {
    id: p.string().primary(),
    shop: () => p.manyToOne(Shop),
    category: () => p.manyToOne(Category).nullable(),
    retailerId: p.string(),
    name: p.string(),
    description: p.text().nullable(),
    price: p.integer(),
    imageUrl: p.string().nullable(),
    available: p.boolean().default(true),
    /** On the shelf (null = unlimited); what a customer can buy is `stock - stockReserved` (activities/stock.ts). */
    stock: p.integer().nullable(),
    /** Units held by placed orders until they are paid or given back; written only by activities/stock.ts. */
    stockReserved: p.integer().default(0),
    position: p.integer().default(0),
    presentations: () => p.oneToMany(Presentation).mappedBy('product'),
    modifierGroups: () => p.oneToMany(ModifierGroup).mappedBy('product'),
  },
});
export type IProduct = InferEntity<typeof Product>;

/** A size or format with its own price (seed 002's "presentations"). */
export const Presentation = defineEntity({
  name: 'Presentation',
  properties: {
    id: p.string().primary(),
    product: () => p.manyToOne(Product),
    name: p.string(),
    price: p.integer(),
    position: p.integer().default(0),
  },
});

export const ModifierGroup = defineEntity({
  name: 'ModifierGroup',
  properties: {
    id: p.string().primary(),
    product: () => p.manyToOne(Product),
    name: p.string(),
    minSelect: p.integer().default(0),
    maxSelect: p.integer().default(1),
    position: p.integer().default(0),
    options: () => p.oneToMany(ModifierOption).mappedBy('group'),
  },
});

export const ModifierOption = defineEntity({
  name: 'ModifierOption',
  properties: {
    id: p.string().primary(),
    group: () => p.manyToOne(ModifierGroup),
    name: p.string(),
    priceDelta: p.integer().default(0),
    available: p.boolean().default(true),
    position: p.integer().default(0),
  },
});

export interface OrderAddress {
  text?: string;
  latitude?: number;
  longitude?: number;
  name?: string;
}

export const Order = defineEntity({
  name: 'Order',
  tableName: 'orders',
  indexes: [{ properties: ['shop', 'status'] }, { properties: ['createdAt'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    number: p.string().unique(),
    shop: () => p.manyToOne(Shop),
    customer: () => p.manyToOne(Customer).nullable(),
    status: p.string().$type<OrderStatus>(),
    paymentStatus: p.string().$type<PaymentStatusValue>().default('NONE'),
    paymentMethod: p.string().$type<PaymentMethod>().nullable(),
    fulfilment: p.string().$type<'delivery' | 'pickup'>().nullable(),
    address: p.json<OrderAddress>().nullable(),
    note: p.text().nullable(),
    subtotal: p.integer().default(0),
    /** What promotions took off the subtotal, and one entry per promotion (the workflow's `discounts`). */
    discount: p.integer().default(0),
    discounts: p.json<{ promotionId: string; title: string; amount: number }[]>().default('[]'),
    tax: p.integer().default(0),
    deliveryFee: p.integer().default(0),
    total: p.integer().default(0),
    /** Confirmed successes minus refunds (the workflow's ledger). */
    paidAmount: p.integer().default(0),
    refundedAmount: p.integer().default(0),
    attention: p.string().$type<Attention>().nullable(),
    currency: p.string().length(3),
    workflowId: p.string(),
    source: p.string().default('whatsapp'),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
    placedAt: p.datetime().nullable(),
    paidAt: p.datetime().nullable(),
    completedAt: p.datetime().nullable(),
    items: () => p.oneToMany(OrderItem).mappedBy('order').orphanRemoval(),
    events: () => p.oneToMany(OrderEvent).mappedBy('order'),
  },
});
export type IOrder = InferEntity<typeof Order>;

export interface ChosenOption {
  group: string;
  option: string;
  priceDelta: number;
}

/** A snapshot: the price and options as they were when the customer chose them. */
export const OrderItem = defineEntity({
  name: 'OrderItem',
  uniques: [{ properties: ['order', 'lineId'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    order: () => p.manyToOne(Order),
    lineId: p.string(),
    productId: p.string().nullable(),
    retailerId: p.string(),
    name: p.string(),
    quantity: p.integer(),
    unitPrice: p.integer(),
    options: p.json<ChosenOption[]>().default('[]'),
    lineTotal: p.integer(),
    position: p.integer().default(0),
  },
});
export type IOrderItem = InferEntity<typeof OrderItem>;

/** The order's timeline, written by the workflow's activities (idempotent on key). */
export const OrderEvent = defineEntity({
  name: 'OrderEvent',
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    order: () => p.manyToOne(Order),
    key: p.string().unique(),
    type: p.string(),
    detail: p.json<Record<string, unknown>>().default('{}'),
    at: p.datetime().onCreate(now),
  },
});

export const Booking = defineEntity({
  name: 'Booking',
  uniques: [{ properties: ['shop', 'reference'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    shop: () => p.manyToOne(Shop),
    reference: p.string(),
    description: p.string(),
    customerName: p.string().nullable(),
    total: p.integer(),
    paid: p.integer().default(0),
    currency: p.string().length(3),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});
export type IBooking = InferEntity<typeof Booking>;

/**
 * A promotion (seed 001): `percentOff` (1–100) or `amountOff` (minor units off each unit) on some products and/or the
 * products of some categories (neither = every product), between optional dates, while active.
 */
export const Promotion = defineEntity({
  name: 'Promotion',
  indexes: [{ properties: ['shop', 'active'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    shop: () => p.manyToOne(Shop),
    title: p.string(),
    description: p.text().nullable(),
    percentOff: p.integer().nullable(),
    amountOff: p.integer().nullable(),
    productIds: p.json<string[]>().default('[]'),
    categoryIds: p.json<string[]>().default('[]'),
    startsAt: p.datetime().nullable(),
    endsAt: p.datetime().nullable(),
    active: p.boolean().default(true),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});
export type IPromotion = InferEntity<typeof Promotion>;

/**
 * Where the provider call that starts a payment stands. `sending` is committed before the call, so a retried initiation
 * that finds it knows an earlier call may have reached the provider and never calls again for that attempt.
 * - `sending`: a call may be in flight, or its answer was lost with the worker.
 * - `answered`: the provider's answer is stored (`data.customerAction`).
 * - `not_sent`: the last call certainly did not reach the provider or was refused: calling again is safe.
 * - `lost`: a retry found `sending` and did not call again; the callback or a status query settles the payment.
 */
export type PaymentInitiation = 'sending' | 'answered' | 'not_sent' | 'lost';

export const Payment = defineEntity({
  name: 'Payment',
  /** Only the provider's own unique ids go into providerReference (never a display code such as O'mari's otpReference). */
  uniques: [{ properties: ['provider', 'providerReference'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    reference: p.string().unique(),
    idempotencyKey: p.string().unique(),
    order: () => p.manyToOne(Order).nullable(),
    booking: () => p.manyToOne(Booking).nullable(),
    shop: () => p.manyToOne(Shop),
    provider: p.string().$type<ProviderId>(),
    method: p.string().$type<PaymentMethod>(),
    attempt: p.integer().default(1),
    status: p.string().$type<'pending' | 'succeeded' | 'failed' | 'cancelled' | 'expired' | 'refunded' | 'flagged'>(),
    amount: p.integer(),
    currency: p.string().length(3),
    providerReference: p.string().nullable(),
    transactionReference: p.string().nullable(),
    callbackTokenHash: p.string().nullable().unique().hidden(),
    initiation: p.string().$type<PaymentInitiation>().nullable(),
    data: p.json<Record<string, unknown>>().default('{}'),
    failureReason: p.string().nullable(),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});
export type IPayment = InferEntity<typeof Payment>;

/** Every inbound provider callback, stored raw before anything acts on it. */
export const PaymentEvent = defineEntity({
  name: 'PaymentEvent',
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    provider: p.string(),
    dedupKey: p.string().unique(),
    payment: () => p.manyToOne(Payment).nullable(),
    outcome: p.string().$type<'accepted' | 'duplicate' | 'rejected' | 'unknown_payment' | 'malformed'>(),
    security: p.boolean().default(false),
    headers: p.json<Record<string, string>>().default('{}'),
    raw: p.text(),
    receivedAt: p.datetime().onCreate(now),
  },
});

export const Message = defineEntity({
  name: 'Message',
  indexes: [{ properties: ['customerRef', 'createdAt'] }],
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    waMessageId: p.string().unique(),
    direction: p.string().$type<'in' | 'out'>(),
    shop: () => p.manyToOne(Shop),
    customerRef: p.string(),
    type: p.string(),
    status: p.string(),
    errorCode: p.integer().nullable(),
    handedOffAt: p.datetime().nullable(),
    /** What the conversation needs, kept only until the hand-off succeeds (api/redrive.ts re-drives from it). */
    payload: p.json<Record<string, unknown>>().nullable(),
    statusAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(now),
  },
});

/** One per intent to send an outbound message (db/message-intents.ts says how it is used); written with plain SQL. */
export const MessageIntent = defineEntity({
  name: 'MessageIntent',
  indexes: [{ properties: ['state', 'updatedAt'] }],
  properties: {
    intentKey: p.string().length(64).primary(),
    shop: () => p.manyToOne(Shop),
    customerRef: p.string(),
    workflowId: p.string(),
    runId: p.string(),
    activityId: p.string(),
    state: p.string().$type<'pending' | 'sending' | 'sent' | 'failed' | 'given_up'>(),
    via: p.string().$type<'message' | 'template'>().nullable(),
    messageType: p.string().nullable(),
    waMessageId: p.string().nullable().unique(),
    attempt: p.integer().default(0),
    requests: p.integer().default(0),
    lastError: p.text().nullable(),
    claimedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(now),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});

/** Meta catalog sync (activities/catalog-sync.ts): one row per retailer id the shop has had in its Meta catalog. */
export const CatalogItemSync = defineEntity({
  name: 'CatalogItemSync',
  indexes: [{ properties: ['shopId', 'handle'] }],
  properties: {
    shopId: p.string().primary(),
    retailerId: p.string().primary(),
    productId: p.string().nullable(),
    /** pending (sent, not yet confirmed), synced, failed (error says why), deleted (gone from Meta's catalog). */
    status: p.string().$type<CatalogItemStatus>(),
    method: p.string().$type<'UPDATE' | 'DELETE'>().nullable(),
    error: p.text().nullable(),
    /** Hash of the item last sent, and of the item Meta confirmed: a product whose hash is synced is not sent again. */
    sentHash: p.string().nullable(),
    syncedHash: p.string().nullable(),
    /** Meta's batch handle of the last send. */
    handle: p.string().nullable(),
    attemptedAt: p.datetime().nullable(),
    syncedAt: p.datetime().nullable(),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});
export type CatalogItemStatus = 'pending' | 'synced' | 'failed' | 'deleted';
export type ICatalogItemSync = InferEntity<typeof CatalogItemSync>;

/** A shop's latest catalog sync: asked for (`requestedAt`) by the API, run by its catalog-sync workflow. */
export const CatalogSyncRun = defineEntity({
  name: 'CatalogSyncRun',
  properties: {
    shopId: p.string().primary(),
    status: p.string().$type<'never' | 'running' | 'completed' | 'failed' | 'no_catalog'>().default('never'),
    source: p.string().nullable(),
    requestedAt: p.datetime().nullable(),
    startedAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
    error: p.text().nullable(),
    runs: p.integer().default(0),
  },
});
export type ICatalogSyncRun = InferEntity<typeof CatalogSyncRun>;

/** The Meta product set of one category (seed 002 organises a shop's catalog by category). */
export const CatalogProductSet = defineEntity({
  name: 'CatalogProductSet',
  properties: {
    shopId: p.string().primary(),
    categoryId: p.string().primary(),
    setId: p.string(),
    name: p.string(),
    filterHash: p.string(),
    updatedAt: p.datetime().onCreate(now).onUpdate(now),
  },
});

export const entities = [Shop, ShopToken, AuditEntry, Customer, Category, Product, Presentation, ModifierGroup, ModifierOption, Order, OrderItem, OrderEvent, Booking, Promotion, Payment, PaymentEvent, Message, MessageIntent, CatalogItemSync, CatalogSyncRun, CatalogProductSet];
