import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ActivityDeps } from './deps.ts';
import { openSecrets } from '../lib/credentials.ts';
import { tracedFetch } from '../lib/tracing.ts';
import { maskPhones } from '../lib/logger.ts';
import type { CurrencyCode } from '../domain/money.ts';
import type { PaymentMethod } from '../domain/payment-methods.ts';
import { ShopifyClient, ShopifyError, type ShopifyOrderRef, type ShopifyStore } from '../providers/shopify/client.ts';
import { dukaTag, shopifyOrderInput, type OrderForShopify } from '../providers/shopify/order-input.ts';

export interface ShopifyPushInput {
  orderNumber: string;
}

/** `not_configured`: the shop has no Shopify store; `found`: the order was already there (an earlier attempt made it). */
export type ShopifyPushResult = { status: 'not_configured' } | ({ status: 'created' | 'found' } & ShopifyOrderRef);

export interface ShopifyOptions {
  /**
   * After an orderCreate whose answer was lost, how long Shopify's search may lag behind the create: the next attempt
   * searches, waits until this long after the create, and searches again before it creates (protocols.md §13.5).
   */
  searchLagMs?: number;
  fetch?: typeof fetch;
}

interface PushRow {
  state: 'pending' | 'creating' | 'created' | 'rejected';
  shopify_order_id: string | null;
  shopify_order_name: string | null;
  /** Milliseconds since the last orderCreate went out (database clock). */
  sent_ms_ago: number | null;
}

type Row = Record<string, unknown>;

/** Shopify's messages may echo what it was sent (a phone number). */
const describe = (err: unknown) => maskPhones(err instanceof Error ? err.message : String(err));

/**
 * Pushes a paid (or cash-confirmed) order into its shop's Shopify store, exactly once however often it is retried: the
 * order carries the tag `duka:<orderNumber>`, every attempt searches for it before creating, and `shopify_order`
 * remembers a create whose answer was lost, so the next attempt gives Shopify's search index time to catch up.
 */
export function createShopifyActivities({ orm, config }: ActivityDeps, options: ShopifyOptions = {}) {
  // Built at first use: some callers build every activity from partial dependencies (no config) to use a few.
  let shopifyClient: ShopifyClient | null = null;
  const client = () => (shopifyClient ??= new ShopifyClient(config.shopify.baseUrl, options.fetch ?? tracedFetch('shopify')));
  const searchLagMs = options.searchLagMs ?? 5_000;
  const sql = <T = Row>(query: string, params: unknown[] = []) => orm.em.fork().getConnection().execute<T[]>(query, params);

  async function readOrder(orderNumber: string): Promise<{ store: ShopifyStore; shopId: string; order: OrderForShopify } | null> {
    const [o] = await sql(
      'select o.id, o.number, o.currency, o.fulfilment, o.address, o.discount, o.discounts, o.tax, o.delivery_fee, o.payment_method, ' +
        's.id as shop_id, s.country, s.tax_rate_basis_points, s.tax_inclusive, s.shopify, s.credentials, c.wa_id, c.name as customer_name ' +
        'from orders o join shop s on s.id = o.shop_id left join customer c on c.id = o.customer_id where o.number = ?',
      [orderNumber],
    );
    if (!o) throw ApplicationFailure.nonRetryable(`no order ${orderNumber}`, 'UnknownOrder');
    const settings = o.shopify as { shopDomain: string; apiVersion?: string } | null;
    const shopId = String(o.shop_id);
    const accessToken = settings ? openSecrets(config.credentialsKey, shopId, o.credentials as string | null).shopify?.accessToken : undefined;
    if (!settings || !accessToken) return null;
    const [items, payments] = await Promise.all([
      sql('select retailer_id, name, quantity, unit_price, options from order_item where order_id = ? order by position, id', [o.id]),
      sql("select method, amount, transaction_reference, updated_at from payment where order_id = ? and status in ('succeeded', 'refunded') order by attempt", [o.id]),
    ]);
    return {
      shopId,
      store: { shopDomain: settings.shopDomain, accessToken, ...(settings.apiVersion ? { apiVersion: settings.apiVersion } : {}) },
      order: {
        orderNumber,
        currency: o.currency as CurrencyCode,
        country: String(o.country),
        taxRateBasisPoints: Number(o.tax_rate_basis_points),
        taxInclusive: Boolean(o.tax_inclusive),
        fulfilment: (o.fulfilment as OrderForShopify['fulfilment']) ?? null,
        address: (o.address as OrderForShopify['address']) ?? null,
        items: items.map((i) => ({ retailerId: String(i.retailer_id), name: String(i.name), quantity: Number(i.quantity), unitPrice: Number(i.unit_price), options: (i.options as { group: string; option: string }[]) ?? [] })),
        discount: Number(o.discount),
        discounts: (o.discounts as { title: string; amount: number }[]) ?? [],
        tax: Number(o.tax),
        deliveryFee: Number(o.delivery_fee),
        paymentMethod: (o.payment_method as PaymentMethod | null) ?? null,
        payments: payments.map((p) => ({ method: p.method as PaymentMethod, amount: Number(p.amount), transactionReference: (p.transaction_reference as string | null) ?? null, at: new Date(p.updated_at as string) })),
        customer: { waId: (o.wa_id as string | null) ?? null, name: (o.customer_name as string | null) ?? null },
      },
    };
  }

  async function row(orderNumber: string): Promise<PushRow | null> {
    const [r] = await sql<PushRow>(
      'select state, shopify_order_id, shopify_order_name, (extract(epoch from now() - create_sent_at) * 1000)::float8 as sent_ms_ago from shopify_order where order_number = ?',
      [orderNumber],
    );
    return r ?? null;
  }

  async function setState(orderNumber: string, shopId: string, state: PushRow['state'], fields: { ref?: ShopifyOrderRef; sent?: boolean; error?: string } = {}): Promise<void> {
    await sql(
      'insert into shopify_order (order_number, shop_id, state, shopify_order_id, shopify_order_name, requests, create_sent_at, last_error) ' +
        `values (?, ?, ?, ?, ?, ?, ${fields.sent ? 'now()' : 'null'}, ?) ` +
        'on conflict (order_number) do update set state = excluded.state, updated_at = now(), ' +
        'shopify_order_id = coalesce(excluded.shopify_order_id, shopify_order.shopify_order_id), shopify_order_name = coalesce(excluded.shopify_order_name, shopify_order.shopify_order_name), ' +
        'requests = shopify_order.requests + excluded.requests, create_sent_at = coalesce(excluded.create_sent_at, shopify_order.create_sent_at), last_error = excluded.last_error',
      [orderNumber, shopId, state, fields.ref?.id ?? null, fields.ref?.name ?? null, fields.sent ? 1 : 0, fields.error ?? null],
    );
  }

  /** Shopify's answer as Temporal should retry it: throttling after the delay Shopify asked for, refusals never. */
  function asFailure(err: unknown): unknown {
    if (!(err instanceof ShopifyError)) return err;
    const message = describe(err);
    if (err.kind === 'rejected') return ApplicationFailure.create({ message, type: 'ShopifyRejected', nonRetryable: true });
    return ApplicationFailure.create({
      message,
      type: err.kind === 'throttled' ? 'ShopifyThrottled' : err.kind === 'unknown' ? 'ShopifyOutcomeUnknown' : 'ShopifyUnavailable',
      ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
    });
  }

  async function push(orderNumber: string): Promise<ShopifyPushResult> {
    const found = await readOrder(orderNumber);
    if (!found) return { status: 'not_configured' };
    const { store, shopId, order } = found;
    const tag = dukaTag(orderNumber);
    const before = await row(orderNumber);
    if (before?.state === 'created' && before.shopify_order_id) return { status: 'found', id: before.shopify_order_id, name: before.shopify_order_name ?? '' };

    let existing: ShopifyOrderRef | null;
    try {
      existing = await client().findOrderByTag(store, tag);
      if (!existing && before?.state === 'creating') {
        // A create went out and its answer was lost: it may be there, behind the search index. Search once more after the lag.
        const wait = searchLagMs - (before.sent_ms_ago ?? searchLagMs);
        if (wait > 0) {
          Context.current().heartbeat();
          await Context.current().sleep(wait);
        }
        existing = await client().findOrderByTag(store, tag);
      }
    } catch (err) {
      // The search failed: nothing was created by this attempt; the row keeps its state and says why for the operator.
      await sql(
        "insert into shopify_order (order_number, shop_id, state, last_error) values (?, ?, 'pending', ?) on conflict (order_number) do update set last_error = excluded.last_error, updated_at = now()",
        [orderNumber, shopId, describe(err)],
      );
      throw err;
    }
    if (existing) {
      await setState(orderNumber, shopId, 'created', { ref: existing });
      return { status: 'found', ...existing };
    }

    const input = shopifyOrderInput(order);
    await setState(orderNumber, shopId, 'creating', { sent: true });
    try {
      const created = await client().createOrder(store, input.order, input.options);
      await setState(orderNumber, shopId, 'created', { ref: created });
      return { status: 'created', ...created };
    } catch (err) {
      // Only an answer that may have come after the create keeps `creating` (the next attempt searches first).
      const kind = err instanceof ShopifyError ? err.kind : 'unknown';
      await setState(orderNumber, shopId, kind === 'unknown' ? 'creating' : kind === 'rejected' ? 'rejected' : 'pending', { error: describe(err) });
      throw err;
    }
  }

  return {
    /** The order in the shop's Shopify store, once (see above); `not_configured` when the shop has none. */
    async pushOrderToShopify({ orderNumber }: ShopifyPushInput): Promise<ShopifyPushResult> {
      try {
        return await push(orderNumber);
      } catch (err) {
        throw asFailure(err);
      }
    },
  };
}
