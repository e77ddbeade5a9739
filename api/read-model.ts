import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import type { OrderStatus } from '../domain/status.ts';
import type { ChosenOption, OrderAddress } from '../db/entities.ts';
import type { OrderView } from '../workflows/definitions.ts';

/**
 * The admin API reads PostgreSQL (the orders the workflows write through `saveOrder`), never Temporal visibility.
 * Plain SQL: these are a handful of indexed reads whose shape is the API's, not the entities'.
 */

/** Orders that are placed and still need the shop's attention. */
export const PENDING_STATUSES: readonly OrderStatus[] = ['AWAITING_PAYMENT', 'PAID', 'CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP'];

export interface OrderSummary {
  orderNumber: string;
  shopId: string;
  customerRef: string | null;
  status: OrderStatus;
  paymentStatus: string;
  paymentMethod: string | null;
  fulfilment: string | null;
  total: number;
  /** Confirmed successes minus refunds. */
  paid: number;
  refunded: number;
  /** Why an operator must act (CONTRACT.md `Attention`), or null. */
  attention: string | null;
  currency: string;
  source: string;
  workflowId: string;
  createdAt: string;
  updatedAt: string;
}

export interface OrderDetail extends OrderSummary {
  customerName: string | null;
  address: OrderAddress | null;
  note: string | null;
  subtotal: number;
  /** What promotions took off the subtotal, and one entry per promotion. */
  discount: number;
  discounts: { promotionId: string; title: string; amount: number }[];
  tax: number;
  deliveryFee: number;
  placedAt: string | null;
  paidAt: string | null;
  completedAt: string | null;
  items: {
    lineId: string;
    productId: string | null;
    retailerId: string;
    name: string;
    quantity: number;
    unitPrice: number;
    options: ChosenOption[];
    lineTotal: number;
  }[];
  payments: {
    reference: string;
    attempt: number;
    provider: string;
    method: string;
    status: string;
    amount: number;
    currency: string;
    providerReference: string | null;
    transactionReference: string | null;
    failureReason: string | null;
    createdAt: string;
    updatedAt: string;
  }[];
  timeline: { at: string; type: string; detail: Record<string, unknown> }[];
  /** The push to the shop's Shopify store (`shopify_order`): `creating` while an answer is outstanding; null when none. */
  shopify: { state: string; orderId: string | null; name: string | null; requests: number; lastError: string | null; updatedAt: string } | null;
  temporalUrl: string;
  /** The workflow's own answer to the `order` query, or null when it did not answer in time. */
  live: OrderView | null;
}

export interface Stats {
  orders: { total: number; completed: number; pending: number; byStatus: Record<string, number> };
  revenue: { currency: string; amount: number }[];
  customers: number;
}

export interface CustomerSummary {
  customerRef: string;
  shopId: string;
  name: string | null;
  /** `+<WhatsApp id>`, only for a caller allowed to see phone numbers (ADMIN_TOKEN); otherwise absent. */
  phone?: string;
  /** Orders placed (a cart or checkout that never became an order does not count). */
  orders: number;
  /** Confirmed payments minus refunds (`orders.paid_amount`), per currency. */
  spent: { currency: string; amount: number }[];
  lastOrder: { orderNumber: string; status: OrderStatus; total: number; currency: string; createdAt: string } | null;
  lastMessageAt: string | null;
  createdAt: string;
}

/** Orders that never left the cart. */
const NOT_PLACED = "('CART', 'CHECKOUT', 'EXPIRED')";

type Row = Record<string, unknown>;

/** Raw queries return timestamptz as PostgreSQL text (`2026-01-02 03:04:05.678901+00`): made ISO 8601 explicitly. */
export function iso(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  const text = String(v).trim().replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`not a timestamp: ${String(v)}`);
  return date.toISOString();
}
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number => Number(v);
const json = <T>(v: unknown, fallback: T): T => (v === null || v === undefined ? fallback : typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

const SUMMARY_COLUMNS =
  'o.id, o.number, o.shop_id, c.ref as customer_ref, o.status, o.payment_status, o.payment_method, o.fulfilment, o.total, o.paid_amount, o.refunded_amount, o.attention, o.currency, o.source, ' +
  'o.workflow_id, o.created_at, o.updated_at';

function summary(row: Row): OrderSummary {
  return {
    orderNumber: str(row.number),
    shopId: str(row.shop_id),
    customerRef: strOrNull(row.customer_ref),
    status: str(row.status) as OrderStatus,
    paymentStatus: str(row.payment_status),
    paymentMethod: strOrNull(row.payment_method),
    fulfilment: strOrNull(row.fulfilment),
    total: num(row.total),
    paid: num(row.paid_amount),
    refunded: num(row.refunded_amount),
    attention: strOrNull(row.attention),
    currency: str(row.currency),
    source: str(row.source),
    workflowId: str(row.workflow_id),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function temporalUrl(config: Config, workflowId: string): string {
  return `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** Cursor = the last row's exact created_at (microseconds, UTC) and id, so equal timestamps page correctly. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id]), 'utf8').toString('base64url');
}

const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(cursor: string): { at: string; id: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [at, id] = value as unknown[];
    if (typeof at !== 'string' || typeof id !== 'string' || !CURSOR_AT.test(at) || !UUID.test(id)) return null;
    // The shape alone lets "2026-13-45T99:…" through, which PostgreSQL refuses: only a date that exists is a cursor.
    if (new Date(at).toISOString().slice(0, 23) !== at.slice(0, 23)) return null;
    return { at, id };
  } catch {
    return null;
  }
}

export class ReadModel {
  private readonly orm: MikroORM;
  private readonly config: Config;

  constructor(orm: MikroORM, config: Config) {
    this.orm = orm;
    this.config = config;
  }

  private query<T = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.orm.em.getConnection().execute<T[]>(sql, params as unknown[]);
  }

  async stats(shopId: string | undefined): Promise<Stats> {
    const shopWhere = shopId === undefined ? '' : ' and shop_id = ?';
    const shopParams = shopId === undefined ? [] : [shopId];
    const [byStatusRows, revenueRows, customerRows] = await Promise.all([
      this.query(`select status, count(*)::int as n from orders where true${shopWhere} group by status`, shopParams),
      this.query(
        'select currency, sum(total)::bigint as amount from orders ' +
          "where status not in ('CANCELLED', 'REFUNDED', 'EXPIRED') and (payment_status = 'SUCCEEDED' or status = 'COMPLETED')" +
          `${shopWhere} group by currency order by currency`,
        shopParams,
      ),
      this.query(`select count(*)::int as n from customer where true${shopWhere}`, shopParams),
    ]);
    const byStatus: Record<string, number> = {};
    for (const row of byStatusRows) byStatus[str(row.status)] = num(row.n);
    const count = (statuses: readonly string[]) => statuses.reduce((sum, s) => sum + (byStatus[s] ?? 0), 0);
    return {
      orders: {
        total: Object.values(byStatus).reduce((a, b) => a + b, 0),
        completed: byStatus.COMPLETED ?? 0,
        pending: count(PENDING_STATUSES),
        byStatus,
      },
      revenue: revenueRows.map((row) => ({ currency: str(row.currency), amount: num(row.amount) })),
      customers: num(customerRows[0]?.n ?? 0),
    };
  }

  async listOrders(filter: { shopId?: string; statuses?: OrderStatus[]; attention?: boolean; limit: number; cursor?: { at: string; id: string } }): Promise<{ orders: OrderSummary[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.attention) where.push('o.attention is not null');
    if (filter.shopId !== undefined) {
      where.push('o.shop_id = ?');
      params.push(filter.shopId);
    }
    if (filter.statuses?.length) {
      where.push(`o.status in (${filter.statuses.map(() => '?').join(', ')})`);
      params.push(...filter.statuses);
    }
    if (filter.cursor) {
      where.push('(o.created_at, o.id) < (?::timestamptz, ?::uuid)');
      params.push(filter.cursor.at, filter.cursor.id);
    }
    params.push(filter.limit + 1);
    const rows = await this.query(
      `select ${SUMMARY_COLUMNS}, to_char(o.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at ` +
        `from orders o left join customer c on c.id = o.customer_id ${where.length ? `where ${where.join(' and ')}` : ''} ` +
        'order by o.created_at desc, o.id desc limit ?',
      params,
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      orders: page.map(summary),
      nextCursor: rows.length > filter.limit && last ? encodeCursor(str(last.cursor_at), str(last.id)) : null,
    };
  }

  /** Customers with their order count, spend and last order, newest customer first; paged like `listOrders`. */
  async listCustomers(filter: { shopId?: string; withPhone: boolean; limit: number; cursor?: { at: string; id: string } }): Promise<{ customers: CustomerSummary[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.shopId !== undefined) {
      where.push('c.shop_id = ?');
      params.push(filter.shopId);
    }
    if (filter.cursor) {
      where.push('(c.created_at, c.id) < (?::timestamptz, ?::uuid)');
      params.push(filter.cursor.at, filter.cursor.id);
    }
    params.push(filter.limit + 1);
    const rows = await this.query(
      'select c.id, c.shop_id, c.ref, c.name, c.wa_id, c.last_message_at, c.created_at, ' +
        `to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at, ` +
        `(select count(*)::int from orders o where o.customer_id = c.id and o.status not in ${NOT_PLACED}) as order_count, ` +
        "(select coalesce(json_agg(json_build_object('currency', s.currency, 'amount', s.amount) order by s.currency), '[]') " +
        '   from (select currency, sum(paid_amount)::bigint as amount from orders o where o.customer_id = c.id group by currency having sum(paid_amount) > 0) s) as spent, ' +
        "(select json_build_object('orderNumber', o.number, 'status', o.status, 'total', o.total, 'currency', o.currency, 'createdAt', o.created_at) " +
        `   from orders o where o.customer_id = c.id and o.status not in ${NOT_PLACED} order by o.created_at desc, o.id desc limit 1) as last_order ` +
        `from customer c ${where.length ? `where ${where.join(' and ')}` : ''} order by c.created_at desc, c.id desc limit ?`,
      params,
    );
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      customers: page.map((row) => {
        const lastOrder = json<Record<string, unknown> | null>(row.last_order, null);
        return {
          customerRef: str(row.ref),
          shopId: str(row.shop_id),
          name: strOrNull(row.name),
          ...(filter.withPhone && { phone: `+${str(row.wa_id)}` }),
          orders: num(row.order_count),
          spent: json<{ currency: string; amount: unknown }[]>(row.spent, []).map((s) => ({ currency: s.currency, amount: num(s.amount) })),
          lastOrder: lastOrder && {
            orderNumber: str(lastOrder.orderNumber),
            status: str(lastOrder.status) as OrderStatus,
            total: num(lastOrder.total),
            currency: str(lastOrder.currency),
            createdAt: iso(lastOrder.createdAt),
          },
          lastMessageAt: isoOrNull(row.last_message_at),
          createdAt: iso(row.created_at),
        };
      }),
      nextCursor: rows.length > filter.limit && last ? encodeCursor(str(last.cursor_at), str(last.id)) : null,
    };
  }

  /** The order row with its items, payments and timeline; null when there is no such order. */
  async orderDetail(orderNumber: string): Promise<Omit<OrderDetail, 'live'> | null> {
    const rows = await this.query(
      `select ${SUMMARY_COLUMNS}, c.name as customer_name, o.address, o.note, o.subtotal, o.discount, o.discounts, o.tax, o.delivery_fee, o.placed_at, o.paid_at, o.completed_at ` +
        'from orders o left join customer c on c.id = o.customer_id where o.number = ?',
      [orderNumber],
    );
    const row = rows[0];
    if (!row) return null;
    const [items, payments, events, [pushed]] = await Promise.all([
      this.query('select * from order_item where order_id = ? order by position, id', [row.id]),
      this.query('select * from payment where order_id = ? order by attempt, created_at', [row.id]),
      this.query('select * from order_event where order_id = ? order by at, key', [row.id]),
      this.query('select * from shopify_order where order_number = ?', [orderNumber]),
    ]);
    const base = summary(row);
    return {
      ...base,
      customerName: strOrNull(row.customer_name),
      address: json<OrderAddress | null>(row.address, null),
      note: strOrNull(row.note),
      subtotal: num(row.subtotal),
      discount: num(row.discount),
      discounts: json<OrderDetail['discounts']>(row.discounts, []),
      tax: num(row.tax),
      deliveryFee: num(row.delivery_fee),
      placedAt: isoOrNull(row.placed_at),
      paidAt: isoOrNull(row.paid_at),
      completedAt: isoOrNull(row.completed_at),
      items: items.map((i) => ({
        lineId: str(i.line_id),
        productId: strOrNull(i.product_id),
        retailerId: str(i.retailer_id),
        name: str(i.name),
        quantity: num(i.quantity),
        unitPrice: num(i.unit_price),
        options: json<ChosenOption[]>(i.options, []),
        lineTotal: num(i.line_total),
      })),
      payments: payments.map((p) => ({
        reference: str(p.reference),
        attempt: num(p.attempt),
        provider: str(p.provider),
        method: str(p.method),
        status: str(p.status),
        amount: num(p.amount),
        currency: str(p.currency),
        providerReference: strOrNull(p.provider_reference),
        transactionReference: strOrNull(p.transaction_reference),
        failureReason: strOrNull(p.failure_reason),
        createdAt: iso(p.created_at),
        updatedAt: iso(p.updated_at),
      })),
      timeline: events.map((e) => ({ at: iso(e.at), type: str(e.type), detail: json<Record<string, unknown>>(e.detail, {}) })),
      shopify: pushed
        ? { state: str(pushed.state), orderId: strOrNull(pushed.shopify_order_id), name: strOrNull(pushed.shopify_order_name), requests: num(pushed.requests), lastError: strOrNull(pushed.last_error), updatedAt: iso(pushed.updated_at) }
        : null,
      temporalUrl: temporalUrl(this.config, base.workflowId),
    };
  }
}
