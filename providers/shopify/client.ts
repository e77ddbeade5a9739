import { requestFailure } from '../payments/http.ts';
import { ProviderUnavailableError } from '../payments/types.ts';

/**
 * Shopify's GraphQL Admin API (protocols.md §13): the two calls duka makes to push a paid order, a search by tag and
 * `orderCreate`. Every answer is classified so the caller knows whether the order may have been created.
 */

/** A version with `orderCreate` (2024-10 and later); a shop may name its own in its `shopify.apiVersion`. */
export const DEFAULT_SHOPIFY_API_VERSION = '2026-01';
/** One HTTP request; the push activity runs for up to a minute and makes at most three. */
const REQUEST_TIMEOUT_MS = 15_000;

export interface ShopifyStore {
  shopDomain: string;
  accessToken: string;
  apiVersion?: string;
}

export interface ShopifyOrderRef {
  /** `gid://shopify/Order/…` */
  id: string;
  /** The shop's order name, e.g. `#1001`. */
  name: string;
}

/**
 * - `throttled`: nothing was done; try again after `retryAfterMs` (429 with Retry-After, or GraphQL THROTTLED).
 * - `unavailable`: nothing was done (no connection, 503), or Shopify refused the call itself (401 token, 403 scope,
 *   404 store or version, 423 locked shop): an operator can fix those, so they are retried too.
 * - `unknown`: the request may have been carried out (timeout, reset connection, 5xx): search before creating again.
 * - `rejected`: Shopify refused the request for good (userErrors, GraphQL errors, 400): retrying cannot help.
 */
export type ShopifyErrorKind = 'throttled' | 'unavailable' | 'unknown' | 'rejected';

export class ShopifyError extends Error {
  override name = 'ShopifyError';
  readonly kind: ShopifyErrorKind;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, kind: ShopifyErrorKind, retryAfterMs?: number, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.retryAfterMs = retryAfterMs;
  }
}

interface Cost {
  requestedQueryCost?: number;
  actualQueryCost?: number | null;
  throttleStatus?: { maximumAvailable: number; currentlyAvailable: number; restoreRate: number };
}

interface GraphqlReply<T> {
  data?: T;
  errors?: unknown;
  extensions?: { cost?: Cost };
}

const ORDER_BY_TAG = `query dukaOrderByTag($query: String!) {
  orders(first: 1, query: $query) { nodes { id name } }
}`;

const ORDER_CREATE = `mutation dukaOrderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) { userErrors { field message code } order { id name } }
}`;

/** Retry-After is in seconds, possibly fractional (protocols.md §13.4). */
function retryAfterHeader(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
}

/** The cost-based wait: (requested − available) / restore rate, in seconds; at least one second. */
function throttleWait(cost: Cost | undefined): number {
  const status = cost?.throttleStatus;
  if (!status || !(status.restoreRate > 0)) return 1_000;
  const missing = (cost?.requestedQueryCost ?? 10) - status.currentlyAvailable;
  return Math.max(1_000, Math.ceil((missing / status.restoreRate) * 1000));
}

const graphqlErrors = (errors: unknown): { message: string; code?: string }[] =>
  Array.isArray(errors)
    ? errors.map((e: { message?: unknown; extensions?: { code?: unknown } }) => ({
        message: typeof e?.message === 'string' ? e.message : 'error',
        ...(typeof e?.extensions?.code === 'string' ? { code: e.extensions.code } : {}),
      }))
    : typeof errors === 'string'
      ? [{ message: errors }]
      : [];

export class ShopifyClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  /** `baseUrl`: SHOPIFY_BASE_URL, where `{shopDomain}` stands for the shop's own domain. */
  constructor(baseUrl: string, fetchImpl: typeof fetch = fetch) {
    this.baseUrl = baseUrl;
    this.fetchImpl = fetchImpl;
  }

  private endpoint(store: ShopifyStore): string {
    const base = this.baseUrl.replace('{shopDomain}', store.shopDomain).replace(/\/$/, '');
    return `${base}/admin/api/${store.apiVersion ?? DEFAULT_SHOPIFY_API_VERSION}/graphql.json`;
  }

  private async call<T>(store: ShopifyStore, what: string, query: string, variables: Record<string, unknown>): Promise<T> {
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    let res: Response;
    try {
      res = await this.fetchImpl(this.endpoint(store), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-shopify-access-token': store.accessToken },
        body: JSON.stringify({ query, variables }),
        signal,
      });
    } catch (err) {
      const failure = requestFailure(`Shopify ${what}`, err, signal);
      throw new ShopifyError(failure.message, failure instanceof ProviderUnavailableError ? 'unavailable' : 'unknown', undefined, { cause: err });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // The answer broke off: Shopify may have carried the request out.
      throw new ShopifyError(`Shopify ${what}: the answer was cut off`, 'unknown', undefined, { cause: err });
    }
    let reply: GraphqlReply<T> | undefined;
    try {
      reply = text ? (JSON.parse(text) as GraphqlReply<T>) : undefined;
    } catch {
      // Gateways answer outages with HTML.
    }
    const errors = graphqlErrors(reply?.errors);
    if (res.status === 429 || errors.some((e) => e.code === 'THROTTLED')) {
      throw new ShopifyError(`Shopify ${what}: throttled`, 'throttled', retryAfterHeader(res.headers.get('retry-after')) ?? throttleWait(reply?.extensions?.cost));
    }
    if (res.status === 503) throw new ShopifyError(`Shopify ${what}: unavailable (503)`, 'unavailable', retryAfterHeader(res.headers.get('retry-after')));
    if (res.status >= 500) throw new ShopifyError(`Shopify ${what}: HTTP ${res.status}`, 'unknown');
    if ([401, 403, 404, 423].includes(res.status)) {
      const why = { 401: 'the access token is refused', 403: 'the app lacks a scope (write_orders, read_orders)', 404: 'no such store or API version', 423: 'the shop is locked' }[res.status];
      throw new ShopifyError(`Shopify ${what}: HTTP ${res.status}, ${why}`, 'unavailable');
    }
    if (res.status !== 200 || errors.length > 0 || !reply?.data) {
      throw new ShopifyError(`Shopify ${what}: HTTP ${res.status}${errors.length ? `: ${errors.map((e) => e.message).join('; ').slice(0, 300)}` : ''}`, 'rejected');
    }
    return reply.data;
  }

  /** The order carrying this tag, if Shopify's search finds one (its index may lag a few seconds behind a create). */
  async findOrderByTag(store: ShopifyStore, tag: string): Promise<ShopifyOrderRef | null> {
    const data = await this.call<{ orders?: { nodes?: ShopifyOrderRef[] } }>(store, 'order search', ORDER_BY_TAG, { query: `tag:'${tag.replace(/'/g, "\\'")}'` });
    return data.orders?.nodes?.[0] ?? null;
  }

  /** `orderCreate`; its userErrors (business errors, HTTP 200) are a `rejected` ShopifyError. */
  async createOrder(store: ShopifyStore, order: Record<string, unknown>, options: Record<string, unknown>): Promise<ShopifyOrderRef> {
    const data = await this.call<{ orderCreate?: { order?: ShopifyOrderRef | null; userErrors?: { field?: string[]; message: string }[] } }>(store, 'orderCreate', ORDER_CREATE, { order, options });
    const userErrors = data.orderCreate?.userErrors ?? [];
    if (userErrors.length > 0) throw new ShopifyError(`Shopify refused the order: ${userErrors.map((e) => `${(e.field ?? []).join('.')} ${e.message}`.trim()).join('; ').slice(0, 500)}`, 'rejected');
    const created = data.orderCreate?.order;
    if (!created?.id) throw new ShopifyError('Shopify orderCreate answered without an order', 'unknown');
    return created;
  }
}
