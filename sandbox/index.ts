import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import { logger } from '../lib/logger.ts';
import { CustomerRefs } from '../lib/customer-ref.ts';
import { conversationWorkflowId, orderWorkflowId } from '../domain/ids.ts';
import { Order, Product, Shop } from '../db/entities.ts';
import { conversationQuery, orderQuery, type ConversationView, type OrderView } from '../workflows/definitions.ts';
import { ChatStore, type ChatEntry } from './chat.ts';
import { EventHub, type ChatKey } from './events.ts';
import { createGraphStandIn, type StatusDelivery } from './graph.ts';
import { CatalogStandIn } from './catalog.ts';
import { FlowManagementStandIn } from './flow-management.ts';
import { deploySandboxFlows, flowClientRouter } from './flow-client.ts';
import { requestCatalogSync } from '../lib/catalog-sync.ts';
import { isCurrencyCode, parseDecimal } from '../domain/money.ts';
import { createSimulators, type Simulators } from './simulators.ts';
import { productSvg } from './images.ts';
import { pageRouter } from './static.ts';
import { buildInboundWebhook, buttonReply, listReply, locationMessage, orderMessage, textMessage, type RawInboundMessage } from './meta.ts';
import { HttpError } from '../api/errors.ts';


/**
 * The sandbox (`/sandbox`, when SANDBOX is on): a WhatsApp-like chat page that reaches duka only as Meta would (signed
 * webhooks to /webhooks/whatsapp), the Graph API stand-in duka sends to by default, the payment simulators at the
 * providers' default sandbox base URLs, and the order as duka sees it, live.
 */
export interface SandboxDeps {
  config: Config;
  orm: MikroORM;
  temporal: Client;
  /** For webhooks and callbacks to duka (tests may route them). */
  fetch?: typeof fetch;
  /** Delays of the sent, delivered and read statuses after a send. */
  statusDelaysMs?: [number, number, number];
  /** Built pages (default sandbox/web/dist). */
  dist?: string;
  /** Deploy every shop's WhatsApp Flows to the Graph stand-in once the API listens (`npm start`); tests leave it off. */
  deployFlows?: boolean;
}

export interface Sandbox {
  router: Router;
  close(): Promise<void>;
  simulators: Simulators;
  chats: ChatStore;
  /** Status webhooks posted to duka, newest last. */
  statusDeliveries: StatusDelivery[];
}

interface ShopInfo {
  id: string;
  name: string;
  phoneNumberId: string;
  displayPhone: string;
  country: string;
  currency: string;
  language: string;
  catalogId: string | null;
  paymentMethods: string[];
  products: { id: string; retailerId: string; name: string; description: string | null; price: number; imageUrl: string | null; available: boolean; customisable: boolean }[];
}

const SHOP_CACHE_MS = 30_000;
const QUERY_TIMEOUT_MS = 2_500;

const Digits = (min: number, max: number, what: string) => z.string().regex(new RegExp(`^\\d{${min},${max}}$`), `${what}: ${min} to ${max} digits`);
const PhoneNumberId = Digits(5, 20, 'a phone_number_id');
const Customer = Digits(8, 15, 'a phone number with its country code');
const WamId = z.string().min(1).max(200);
const Title = z.string().trim().min(1).max(100);

const OutgoingMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string().trim().min(1).max(4096) }),
  z.strictObject({ type: z.literal('button_reply'), id: z.string().min(1).max(256), title: Title, contextId: WamId.optional() }),
  z.strictObject({ type: z.literal('list_reply'), id: z.string().min(1).max(200), title: Title, description: z.string().max(72).optional(), contextId: WamId.optional() }),
  z.strictObject({
    type: z.literal('location'),
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    name: z.string().trim().max(100).optional(),
    address: z.string().trim().max(300).optional(),
  }),
  z.strictObject({
    type: z.literal('order'),
    catalogId: z.string().min(1).max(64),
    items: z
      .array(z.strictObject({ retailerId: z.string().min(1).max(100), quantity: z.number().int().min(1).max(999), itemPrice: z.number().min(0).optional(), currency: z.string().regex(/^[A-Z]{3}$/).optional() }))
      .min(1)
      .max(30),
    note: z.string().max(500).optional(),
    contextId: WamId.optional(),
  }),
]);
export type OutgoingMessage = z.infer<typeof OutgoingMessage>;

const SendBody = z.strictObject({ phoneNumberId: PhoneNumberId, from: Customer, name: z.string().trim().max(100).optional(), message: OutgoingMessage });
const ChatQuery = z.object({ phoneNumberId: PhoneNumberId, from: Customer });
const OptionalChatQuery = z.object({ phoneNumberId: PhoneNumberId.optional(), from: Customer.optional() });

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.slice(0, 5).map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new HttpError(400, 'invalid_request', `invalid ${where}: ${problems.join('; ')}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The Meta message for what the page sent. */
export function rawMessageFor(from: string, m: OutgoingMessage): RawInboundMessage {
  const context = 'contextId' in m && m.contextId ? { contextId: m.contextId } : {};
  switch (m.type) {
    case 'text':
      return textMessage(from, m.text);
    case 'button_reply':
      return buttonReply(from, m.id, m.title, context);
    case 'list_reply':
      return listReply(from, m.id, m.title, m.description, context);
    case 'location':
      return locationMessage(from, m.latitude, m.longitude, { ...(m.name ? { name: m.name } : {}), ...(m.address ? { address: m.address } : {}) });
    case 'order':
      return orderMessage(from, m.catalogId, m.items, m.note, context);
  }
}

export function createSandbox(deps: SandboxDeps): Sandbox {
  const { config, orm, temporal } = deps;
  const doFetch = deps.fetch ?? fetch;
  const log = logger.child({ component: 'sandbox' });
  const warn = (message: string, detail?: Record<string, unknown>) => log.warn(detail ?? {}, `sandbox: ${message}`);
  const hub = new EventHub();
  const chats = new ChatStore();
  const webhookUrl = `${config.publicBaseUrl}/webhooks/whatsapp`;
  const refs = CustomerRefs.forConfig(config, orm);

  // ---- shops (the page's picker, the catalog sheet, the Graph stand-in's known numbers) ---------------------------
  let shopCache: { at: number; shops: ShopInfo[] } | null = null;
  async function loadShops(): Promise<ShopInfo[]> {
    if (shopCache && Date.now() - shopCache.at < SHOP_CACHE_MS) return shopCache.shops;
    const em = orm.em.fork();
    const shops = await em.find(Shop, {}, { orderBy: { phoneNumberId: 'asc' } });
    const products = await em.find(Product, {}, { populate: ['presentations', 'modifierGroups'], orderBy: { position: 'asc' } });
    const list: ShopInfo[] = shops.map((s) => ({
      id: s.id,
      name: s.name,
      phoneNumberId: s.phoneNumberId,
      displayPhone: s.displayPhone,
      country: s.country,
      currency: s.currency,
      language: s.defaultLanguage,
      catalogId: s.catalogId ?? null,
      paymentMethods: s.paymentMethods,
      products: products
        .filter((p) => p.shop.id === s.id)
        .map((p) => ({
          id: p.id,
          retailerId: p.retailerId,
          name: p.name,
          description: p.description ?? null,
          price: p.price,
          imageUrl: p.imageUrl ?? null,
          available: p.available,
          customisable: p.presentations.length > 0 || p.modifierGroups.length > 0,
        })),
    }));
    shopCache = { at: Date.now(), shops: list };
    displayPhones = new Map(list.map((s) => [s.phoneNumberId, s.displayPhone]));
    return list;
  }
  let displayPhones = new Map<string, string>();
  const shopByNumber = async (phoneNumberId: string) => (await loadShops()).find((s) => s.phoneNumberId === phoneNumberId);
  // Known numbers for the Graph stand-in, which answers synchronously; refreshed in the background.
  void loadShops().catch((err: unknown) => warn('could not load shops', { error: String(err) }));

  const catalog = new CatalogStandIn({ accessToken: config.whatsapp.accessToken });
  const flows = new FlowManagementStandIn({ accessToken: config.whatsapp.accessToken });
  const graph = createGraphStandIn({
    catalog,
    flows,
    accessToken: config.whatsapp.accessToken,
    appSecret: config.whatsapp.appSecret,
    webhookUrl,
    chats,
    hub,
    fetch: doFetch,
    ...(deps.statusDelaysMs ? { statusDelaysMs: deps.statusDelaysMs } : {}),
    displayPhone: (id) => {
      if (shopCache && Date.now() - shopCache.at > SHOP_CACHE_MS) void loadShops().catch(() => undefined);
      // Before the first load answers, any number is accepted rather than refusing duka's first message.
      return displayPhones.get(id) ?? (displayPhones.size === 0 ? '15550000000' : undefined);
    },
    log: warn,
  });
  const simulators = createSimulators({ config, hub, fetch: doFetch, log: warn });
  if (deps.deployFlows) void deploySandboxFlows({ config, orm, fetch: doFetch, log: warn }, loadShops);
  // The stand-in's catalogs start empty each time, like a new Meta catalog: every shop that has one is synced whole.
  void loadShops()
    .then((shops) => Promise.all(shops.map((s) => requestCatalogSync({ orm, temporal, taskQueue: config.temporal.taskQueue }, s, { source: 'manual', full: true, now: true }))))
    .catch((err: unknown) => warn('could not ask for the catalog sync', { error: String(err) }));

  // ---- inbound: the page's message → a signed Meta webhook, one at a time per chat -------------------------------
  const queues = new Map<string, Promise<unknown>>();
  function serial<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = queues.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    const tail = next.catch(() => undefined);
    queues.set(key, tail);
    void tail.then(() => {
      if (queues.get(key) === tail) queues.delete(key);
    });
    return next;
  }

  async function deliverInbound(shop: ShopInfo, key: ChatKey, name: string | undefined, raw: RawInboundMessage): Promise<{ id: string; status: ChatEntry['status']; httpStatus?: number; error?: string }> {
    const entry: ChatEntry = { id: raw.id, direction: 'in', at: Date.now(), message: raw, status: 'pending' };
    chats.add(key, entry);
    hub.publish({ event: 'message', chat: key, data: entry });
    return serial(`${key.phoneNumberId}:${key.customer}`, async () => {
      const built = buildInboundWebhook({
        phoneNumberId: shop.phoneNumberId,
        displayPhoneNumber: shop.displayPhone,
        from: key.customer,
        ...(name ? { name } : {}),
        messages: [raw],
        appSecret: config.whatsapp.appSecret,
        escapeNonAscii: true,
      });
      let httpStatus: number | undefined;
      let error: string | undefined;
      try {
        const res = await doFetch(webhookUrl, { method: 'POST', headers: built.headers, body: built.raw, signal: AbortSignal.timeout(15_000) });
        httpStatus = res.status;
        const text = await res.text();
        if (!res.ok) error = `duka answered ${res.status}: ${text.slice(0, 200)}`;
      } catch (err) {
        error = `could not reach duka at ${webhookUrl}: ${(err as Error).message}`;
      }
      const status = error ? 'failed' : 'delivered';
      const changed = chats.setStatus(raw.id, status, error);
      if (changed) hub.publish({ event: 'status', chat: key, data: { id: raw.id, status, ...(error ? { error } : {}) } });
      if (error) warn('inbound webhook not accepted', { httpStatus, error });
      return { id: raw.id, status, ...(httpStatus !== undefined ? { httpStatus } : {}), ...(error ? { error } : {}) };
    });
  }

  // ---- the order beside the chat ---------------------------------------------------------------------------------
  const uiLink = (workflowId: string) =>
    `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;

  async function orderPanel(shop: ShopInfo, from: string) {
    const customerRef = await refs.of(shop.id, from);
    const conversationId = conversationWorkflowId(shop.id, customerRef);
    let conversation: ConversationView | null = null;
    try {
      conversation = await withTimeout(temporal.workflow.getHandle(conversationId).query(conversationQuery), QUERY_TIMEOUT_MS);
    } catch {
      // No conversation yet (or Temporal is slow): the panel says so.
    }
    let orderNumber = conversation?.activeOrder ?? null;
    if (!orderNumber) {
      // The conversation forgets an order once it is over; the panel keeps showing the customer's latest one.
      const em = orm.em.fork();
      const latest = await em.findOne(Order, { shop: shop.id, customer: { ref: customerRef } }, { orderBy: { createdAt: 'desc' } });
      orderNumber = latest?.number ?? null;
    }
    let order: OrderView | null = null;
    let orderError: string | null = null;
    if (orderNumber) {
      try {
        order = await withTimeout(temporal.workflow.getHandle(orderWorkflowId(orderNumber)).query(orderQuery), QUERY_TIMEOUT_MS);
      } catch (err) {
        orderError = (err as Error).message;
      }
    }
    return {
      shopId: shop.id,
      customerRef,
      conversation: conversation && { workflowId: conversationId, step: conversation.step, language: conversation.language, activeOrder: conversation.activeOrder, temporalUrl: uiLink(conversationId) },
      orderNumber,
      order,
      orderError,
      temporalUrl: orderNumber ? uiLink(orderWorkflowId(orderNumber)) : null,
    };
  }

  // ---- routes ------------------------------------------------------------------------------------------------------
  const router = express.Router();
  const api = express.Router();
  api.use(express.json({ limit: '64kb' }));

  api.get('/shops', async (_req, res) => {
    res.json({ shops: await loadShops(), temporalUiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace });
  });

  // "Browse the catalog": what WhatsApp would show, the stand-in's catalog (items in stock), priced in minor units.
  api.get('/catalog', async (req, res) => {
    const { catalogId } = parse(z.object({ catalogId: Digits(1, 30, 'a catalog id') }), req.query, 'query');
    const products = new Map((await loadShops()).flatMap((s) => s.products).map((p) => [p.retailerId, p]));
    const items = catalog.visible(catalogId).map((i) => {
      const [amount = '', currency = ''] = i.price.split(' ');
      return {
        id: i.retailerId,
        retailerId: i.retailerId,
        name: i.title,
        description: i.description || null,
        price: isCurrencyCode(currency) ? (parseDecimal(amount, currency) ?? 0) : 0,
        imageUrl: i.imageLink || null,
        available: true,
        customisable: products.get(i.retailerId)?.customisable ?? false,
      };
    });
    res.json({ synced: catalog.batches.some((b) => b.catalogId === catalogId), items });
  });

  api.get('/chat', (req, res) => {
    const q = parse(ChatQuery, req.query, 'query');
    res.json({ entries: chats.history({ phoneNumberId: q.phoneNumberId, customer: q.from }) });
  });

  api.delete('/chat', (req, res) => {
    const q = parse(ChatQuery, req.query, 'query');
    chats.clear({ phoneNumberId: q.phoneNumberId, customer: q.from });
    res.status(204).end();
  });

  api.post('/send', async (req, res) => {
    const body = parse(SendBody, req.body, 'body');
    const shop = await shopByNumber(body.phoneNumberId);
    if (!shop) throw new HttpError(400, 'unknown_shop', `no shop has phone_number_id ${body.phoneNumberId}`);
    const raw = rawMessageFor(body.from, body.message);
    res.json(await deliverInbound(shop, { phoneNumberId: shop.phoneNumberId, customer: body.from }, body.name, raw));
  });

  api.get('/conversation', async (req, res) => {
    const q = parse(ChatQuery, req.query, 'query');
    const shop = await shopByNumber(q.phoneNumberId);
    if (!shop) throw new HttpError(404, 'unknown_shop', `no shop has phone_number_id ${q.phoneNumberId}`);
    res.json(await orderPanel(shop, q.from));
  });

  api.get('/events', (req, res) => {
    const q = parse(OptionalChatQuery, req.query, 'query');
    hub.subscribe(req, res, q.phoneNumberId && q.from ? { phoneNumberId: q.phoneNumberId, customer: q.from } : null);
  });

  api.use('/simulators', simulators.api);
  api.use(
    '/flows',
    flowClientRouter({
      config,
      orm,
      flows,
      fetch: doFetch,
      log: warn,
      deliver: async (phoneNumberId, from, raw) => {
        const shop = await shopByNumber(phoneNumberId);
        if (!shop) throw new HttpError(400, 'unknown_shop', `no shop has phone_number_id ${phoneNumberId}`);
        return deliverInbound(shop, { phoneNumberId, customer: from }, undefined, raw);
      },
    }),
  );

  api.use((req: Request, _res: Response) => {
    throw new HttpError(404, 'not_found', `no sandbox route for ${req.method} ${req.baseUrl}${req.path}`);
  });
  api.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: unknown } | null)?.type;
    if (type === 'entity.parse.failed') return void res.status(400).json({ error: { code: 'invalid_json', message: 'the body is not valid JSON' } });
    if (type === 'entity.too.large') return void res.status(413).json({ error: { code: 'payload_too_large', message: 'the body is too large' } });
    if (!(err instanceof HttpError)) return next(err);
    res.status(err.status).json({ error: { code: err.code, message: err.message } });
  });

  router.get('/images/:file', async (req, res) => {
    const match = /^([A-Za-z0-9_-]{1,100})\.svg$/.exec(req.params.file);
    const product = match ? (await loadShops()).flatMap((s) => s.products).find((p) => p.id === match[1]) : undefined;
    if (!match || !product) throw new HttpError(404, 'not_found', 'no such product image');
    res.set('cache-control', 'public, max-age=3600').type('image/svg+xml').send(productSvg(product.id, product.name));
  });
  router.use('/api', api);
  router.use('/graph', graph.router);
  router.use(simulators.providers);
  router.use(pageRouter({ page: 'index.html', title: 'sandbox', ...(deps.dist ? { dist: deps.dist } : {}) }));
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof HttpError)) return next(err);
    res.status(err.status).json({ error: { code: err.code, message: err.message } });
  });

  return {
    router,
    simulators,
    chats,
    statusDeliveries: graph.deliveries,
    async close() {
      graph.close();
      simulators.close();
      hub.close();
    },
  };
}
