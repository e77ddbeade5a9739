import express from 'express';
import type { Request, Response, Router } from 'express';

/**
 * A Shopify store look-alike for the GraphQL Admin API (protocols.md §13): `POST /{shopDomain}/admin/api/{version}/graphql.json`
 * with `X-Shopify-Access-Token`, answering the `orders(query: "tag:'…'")` search and `orderCreate` in Shopify's shapes,
 * with the cost-based throttle (`extensions.cost`, THROTTLED), 429 with Retry-After, outages, a search index that lags
 * behind creates, and answers lost after the order was created (protocols.md §13.5: "a fake needs").
 */

export interface SimulatedShopifyOrder {
  id: string;
  name: string;
  shopDomain: string;
  /** The `OrderCreateOrderInput` as received. */
  input: Record<string, unknown>;
  options: Record<string, unknown>;
  createdAt: number;
}

export interface ShopifyRequestLog {
  shopDomain: string;
  operation: 'orders' | 'orderCreate' | 'unknown';
  /** What the fake answered: HTTP status, and `throttled`/`lost` where that is what happened. */
  status: number;
  outcome: 'ok' | 'throttled' | 'lost' | 'failed' | 'refused' | 'invalid';
  /** Date.now() when it arrived. */
  at: number;
}

export interface ShopifySimulatorControl {
  /** A store the fake serves, with the only token it accepts. */
  addStore(shopDomain: string, accessToken: string): void;
  orders(shopDomain?: string): SimulatedShopifyOrder[];
  requests(): ShopifyRequestLog[];
  /** The next n requests are throttled: GraphQL THROTTLED with HTTP 200 (`graphql`), or 429 with Retry-After (`http`). */
  throttleNext(n: number, how: 'graphql' | 'http', retryAfterSeconds?: number): void;
  /** The next n requests answer this status and do nothing. */
  failNext(n: number, status: number): void;
  /** The next n orderCreate calls create the order, then the connection drops before the answer. */
  loseAnswerNext(n: number): void;
  /** Orders show in tag searches only this long after they were created (default 0). */
  setSearchLag(ms: number): void;
  reset(): void;
}

export interface ShopifySimulator {
  router: Router;
  control: ShopifySimulatorControl;
}

/** The fields of `OrderCreateOrderInput` (protocols.md §13.2); anything else is a GraphQL variable error, as Shopify answers it. */
const ORDER_FIELDS = new Set([
  'billingAddress', 'buyerAcceptsMarketing', 'closedAt', 'companyLocationId', 'currency', 'customAttributes', 'customer', 'discountCode', 'email',
  'financialStatus', 'fulfillment', 'fulfillmentStatus', 'lineItems', 'metafields', 'name', 'note', 'phone', 'poNumber', 'presentmentCurrency',
  'processedAt', 'referringSite', 'shippingAddress', 'shippingLines', 'sourceIdentifier', 'sourceName', 'sourceUrl', 'tags', 'taxesIncluded',
  'taxLines', 'test', 'transactions', 'userId',
]);
const FINANCIAL_STATUSES = new Set(['AUTHORIZED', 'EXPIRED', 'PAID', 'PARTIALLY_PAID', 'PARTIALLY_REFUNDED', 'PENDING', 'REFUNDED', 'VOIDED']);
const BUCKET = { maximumAvailable: 2000, restoreRate: 100 } as const;
const COST = { orders: 4, orderCreate: 10 } as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isMoneyBag = (v: unknown) => isObject(v) && isObject(v.shopMoney) && typeof v.shopMoney.amount === 'string' && /^\d+(\.\d+)?$/.test(v.shopMoney.amount) && typeof v.shopMoney.currencyCode === 'string';

/** What Shopify would refuse in the variables, as a GraphQL error message; null when they are acceptable. */
function orderProblem(order: unknown): string | null {
  if (!isObject(order)) return 'Variable $order of type OrderCreateOrderInput! was provided invalid value';
  for (const key of Object.keys(order)) if (!ORDER_FIELDS.has(key)) return `Variable $order of type OrderCreateOrderInput! was provided invalid value for ${key} (Field is not defined on OrderCreateOrderInput)`;
  if (order.financialStatus !== undefined && !FINANCIAL_STATUSES.has(String(order.financialStatus))) return 'Variable $order was provided invalid value for financialStatus';
  if (!Array.isArray(order.lineItems)) return 'Variable $order was provided invalid value for lineItems';
  for (const line of order.lineItems) {
    if (!isObject(line) || !Number.isInteger(line.quantity) || (line.quantity as number) < 1) return 'Variable $order was provided invalid value for lineItems.quantity';
    if (line.variantId === undefined && (typeof line.title !== 'string' || !isMoneyBag(line.priceSet))) return 'Variable $order was provided invalid value for lineItems (a custom line needs title and priceSet)';
  }
  for (const t of Array.isArray(order.transactions) ? order.transactions : []) if (!isObject(t) || !isMoneyBag(t.amountSet)) return 'Variable $order was provided invalid value for transactions.amountSet';
  for (const l of [...(Array.isArray(order.shippingLines) ? order.shippingLines : []), ...(Array.isArray(order.taxLines) ? order.taxLines : [])]) if (!isObject(l) || !isMoneyBag(l.priceSet)) return 'Variable $order was provided invalid value for a priceSet';
  if (order.tags !== undefined && (!Array.isArray(order.tags) || order.tags.some((t) => typeof t !== 'string'))) return 'Variable $order was provided invalid value for tags';
  return null;
}

/** The tag a search names: `tag:'duka:NBO-1001'`, `tag:"…"` or `tag:value`. */
function searchedTag(query: unknown): string | null {
  if (typeof query !== 'string') return null;
  const m = /tag:(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(\S+))/.exec(query);
  const raw = m?.[1] ?? m?.[2] ?? m?.[3];
  return raw === undefined ? null : raw.replace(/\\(.)/g, '$1');
}

export interface ShopifySimulatorOptions {
  /** The sandbox's stores: any `*.myshopify.com` is served, with the first token it is called with. */
  acceptAnyStore?: boolean;
}

export function createShopifySimulator(options: ShopifySimulatorOptions = {}): ShopifySimulator {
  const tokens = new Map<string, string>();
  const orders: SimulatedShopifyOrder[] = [];
  const log: ShopifyRequestLog[] = [];
  const buckets = new Map<string, { available: number; at: number }>();
  let throttles: { how: 'graphql' | 'http'; retryAfterSeconds: number }[] = [];
  let failures: number[] = [];
  let losses = 0;
  let searchLagMs = 0;
  let nextId = 5_500_000_001;

  /** The store's points bucket after leaking back since its last use. */
  function bucket(shopDomain: string) {
    const b = buckets.get(shopDomain) ?? { available: BUCKET.maximumAvailable, at: Date.now() };
    b.available = Math.min(BUCKET.maximumAvailable, b.available + ((Date.now() - b.at) / 1000) * BUCKET.restoreRate);
    b.at = Date.now();
    buckets.set(shopDomain, b);
    return b;
  }
  const costOf = (requested: number, actual: number | null, available: number) => ({
    requestedQueryCost: requested,
    actualQueryCost: actual,
    throttleStatus: { maximumAvailable: BUCKET.maximumAvailable, currentlyAvailable: Math.floor(available), restoreRate: BUCKET.restoreRate },
  });

  const router = express.Router();
  router.post('/:shopDomain/admin/api/:version/graphql.json', express.json({ limit: '1mb' }), (req: Request, res: Response) => {
    const shopDomain = String(req.params.shopDomain);
    const body = isObject(req.body) ? req.body : {};
    const query = typeof body.query === 'string' ? body.query : '';
    const variables = isObject(body.variables) ? body.variables : {};
    const operation: ShopifyRequestLog['operation'] = /\borderCreate\s*\(/.test(query) ? 'orderCreate' : /\borders\s*\(/.test(query) ? 'orders' : 'unknown';
    const record = (status: number, outcome: ShopifyRequestLog['outcome']) => log.push({ shopDomain, operation, status, outcome, at: Date.now() });
    res.setHeader('x-request-id', `fake-${log.length + 1}`);

    if (!/^\d{4}-\d{2}$/.test(String(req.params.version))) {
      record(404, 'refused');
      res.status(404).json({ errors: 'Not Found' });
      return;
    }
    const offered = req.get('x-shopify-access-token');
    if (!tokens.has(shopDomain) && options.acceptAnyStore && offered && /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(shopDomain)) tokens.set(shopDomain, offered);
    const token = tokens.get(shopDomain);
    if (!token) {
      record(404, 'refused');
      res.status(404).json({ errors: 'Not Found' });
      return;
    }
    if (offered !== token) {
      record(401, 'refused');
      res.status(401).json({ errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
      return;
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      record(failure, 'failed');
      res.status(failure).json({ errors: failure >= 500 ? 'Internal Server Error' : 'Error' });
      return;
    }
    const requested = operation === 'orderCreate' ? COST.orderCreate : COST.orders;
    const b = bucket(shopDomain);
    const throttle = throttles.shift();
    if (throttle?.how === 'http') {
      record(429, 'throttled');
      res.status(429).setHeader('retry-after', String(throttle.retryAfterSeconds)).json({ errors: 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.' });
      return;
    }
    if (throttle || b.available < requested) {
      // Shopify's GraphQL throttle: nothing is done, the cost says how long until the bucket holds enough.
      const available = throttle ? Math.max(0, requested - throttle.retryAfterSeconds * BUCKET.restoreRate) : b.available;
      record(200, 'throttled');
      res.json({ errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }], extensions: { cost: costOf(requested, null, available) } });
      return;
    }

    if (operation === 'orders') {
      b.available -= requested;
      const tag = searchedTag(variables.query);
      const visible = orders.filter((o) => o.shopDomain === shopDomain && Date.now() - o.createdAt >= searchLagMs);
      const nodes = tag === null ? [] : visible.filter((o) => Array.isArray(o.input.tags) && o.input.tags.includes(tag));
      const first = Number.isInteger(variables.first) ? Number(variables.first) : 1;
      record(200, 'ok');
      res.json({ data: { orders: { nodes: nodes.slice(0, Math.max(1, first)).map((o) => ({ id: o.id, name: o.name })) } }, extensions: { cost: costOf(requested, requested, b.available) } });
      return;
    }
    if (operation !== 'orderCreate') {
      record(200, 'invalid');
      res.json({ errors: [{ message: 'The fake Shopify serves only orders(query:) and orderCreate', extensions: { code: 'undefinedField' } }] });
      return;
    }
    const problem = orderProblem(variables.order);
    if (problem) {
      record(200, 'invalid');
      res.json({ errors: [{ message: problem, extensions: { code: 'INVALID_VARIABLE' } }] });
      return;
    }
    const input = variables.order as Json;
    b.available -= requested;
    const lines = input.lineItems as unknown[];
    if (lines.length === 0 || lines.length > 250) {
      record(200, 'ok');
      res.json({ data: { orderCreate: { order: null, userErrors: [{ field: ['order', 'lineItems'], message: 'Line items must have between 1 and 250 items', code: 'INVALID' }] } }, extensions: { cost: costOf(requested, requested, b.available) } });
      return;
    }
    const id = nextId++;
    const created: SimulatedShopifyOrder = { id: `gid://shopify/Order/${id}`, name: `#${1000 + orders.filter((o) => o.shopDomain === shopDomain).length + 1}`, shopDomain, input, options: isObject(variables.options) ? variables.options : {}, createdAt: Date.now() };
    orders.push(created);
    if (losses > 0) {
      losses -= 1;
      record(0, 'lost');
      // Committed, but the answer never arrives.
      req.socket.destroy();
      return;
    }
    record(200, 'ok');
    res.json({ data: { orderCreate: { order: { id: created.id, name: created.name }, userErrors: [] } }, extensions: { cost: costOf(requested, requested, b.available) } });
  });

  const control: ShopifySimulatorControl = {
    addStore: (shopDomain, accessToken) => void tokens.set(shopDomain, accessToken),
    orders: (shopDomain) => orders.filter((o) => shopDomain === undefined || o.shopDomain === shopDomain),
    requests: () => [...log],
    throttleNext: (n, how, retryAfterSeconds = 1) => void (throttles = [...throttles, ...Array.from({ length: n }, () => ({ how, retryAfterSeconds }))]),
    failNext: (n, status) => void (failures = [...failures, ...Array.from({ length: n }, () => status)]),
    loseAnswerNext: (n) => void (losses += n),
    setSearchLag: (ms) => void (searchLagMs = ms),
    reset() {
      throttles = [];
      failures = [];
      losses = 0;
      searchLagMs = 0;
    },
  };
  return { router, control };
}
