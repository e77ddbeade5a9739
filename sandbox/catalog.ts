import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { graphErrorBody, isObject, type GraphFailure } from './meta.ts';

/**
 * Meta's Commerce catalogs as the Graph API serves them (protocols.md §3, §12): `items_batch` (UPDATE with upsert,
 * CREATE, DELETE; feed-style fields), `check_batch_request_status` (a batch is processed asynchronously: `started`
 * until it finishes), product sets, and the items themselves. Shared by the test fake (test/fakes/graph-api.ts) and the
 * sandbox's Graph stand-in, whose catalog the sandbox chat's "Browse the catalog" shows.
 */
export interface CatalogItem {
  retailerId: string;
  title: string;
  description: string;
  availability: string;
  price: string;
  imageLink: string;
  link: string;
  brand: string;
  updatedAt: number;
}

export interface ProductSet {
  id: string;
  catalogId: string;
  name: string;
  filter: unknown;
  retailerId: string | null;
}

export interface RecordedBatch {
  catalogId: string;
  handle: string;
  requests: { method: string; retailerId: string }[];
}

interface Batch extends RecordedBatch {
  status: 'started' | 'finished';
  raw: { method: string; data: Record<string, unknown> }[];
  errors: { line: number; id: string; message: string }[];
}

export interface CatalogStandInOptions {
  /** Only this token is accepted; any non-empty Bearer token otherwise. */
  accessToken?: string;
  /** How long a batch stays `started` before Meta has processed it (default 150 ms). */
  processingMs?: number;
}

const PRICE = /^\d+(\.\d{1,3})? [A-Z]{3}$/;
const AVAILABILITY = new Set(['in stock', 'out of stock', 'preorder', 'available for order', 'discontinued']);
/** What Meta needs to create an item; an UPDATE of an existing one may carry any of them. */
const REQUIRED = ['title', 'description', 'availability', 'price', 'image_link'] as const;

export class CatalogStandIn {
  readonly catalogs = new Map<string, Map<string, CatalogItem>>();
  readonly sets = new Map<string, ProductSet>();
  /** Every accepted `items_batch` call, oldest first. */
  readonly batches: RecordedBatch[] = [];
  readonly router: Router;
  private readonly byHandle = new Map<string, Batch>();
  private readonly itemFailures = new Map<string, string>();
  private readonly callFailures: GraphFailure[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /** Catalogs of a business on its own Meta account: only that account's token reaches them. */
  private readonly catalogTokens = new Map<string, string>();

  private readonly options: CatalogStandInOptions;

  constructor(options: CatalogStandInOptions = {}) {
    this.options = options;
    this.router = this.routes();
  }

  /** The catalog's items, by retailer id. */
  items(catalogId: string): Map<string, CatalogItem> {
    let items = this.catalogs.get(catalogId);
    if (!items) {
      items = new Map();
      this.catalogs.set(catalogId, items);
    }
    return items;
  }

  /** What WhatsApp shows of the catalog: items in stock. */
  visible(catalogId: string): CatalogItem[] {
    return [...this.items(catalogId).values()].filter((i) => i.availability === 'in stock');
  }

  /** From now on Meta does not save this item: the batch finishes with this error for it. */
  failItem(retailerId: string, message: string): void {
    this.itemFailures.set(retailerId, message);
  }

  clearItemFailure(retailerId: string): void {
    this.itemFailures.delete(retailerId);
  }

  /** From now on this catalog accepts only this token (a shop with its own WhatsApp Business Account). */
  ownCatalog(catalogId: string, accessToken: string): void {
    this.catalogTokens.set(catalogId, accessToken);
  }

  /** The next n catalog calls are answered with this Graph error. */
  failNext(n: number, failure: GraphFailure): void {
    for (let i = 0; i < n; i++) this.callFailures.push(failure);
  }

  /** Resolves once `check` returns something other than undefined (now or after a later change). */
  waitFor<T>(check: () => T | undefined, timeoutMs = 15_000, what = 'catalog state'): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const wake = () => {
        const found = check();
        if (found === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`catalog stand-in: no ${what} within ${timeoutMs} ms (${this.batches.length} batches so far)`));
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private changed(): void {
    for (const wake of this.waiters) wake();
  }

  /** Meta's asynchronous processing: each request applied or refused with a per-line error. */
  private process(batch: Batch): void {
    const items = this.items(batch.catalogId);
    batch.raw.forEach((request, line) => {
      const id = String(request.data.id ?? '');
      const failure = this.itemFailures.get(id);
      if (failure) return void batch.errors.push({ line, id, message: failure });
      if (request.method === 'DELETE') return void items.delete(id);
      const before = items.get(id);
      const field = (name: string, fallback = '') => (typeof request.data[name] === 'string' ? (request.data[name] as string) : fallback);
      if (!before) {
        const missing = REQUIRED.filter((f) => !field(f));
        if (missing.length) return void batch.errors.push({ line, id, message: `Invalid value: the item cannot be created without required field ${missing.join(', ')}` });
      }
      items.set(id, {
        retailerId: id,
        title: field('title', before?.title),
        description: field('description', before?.description),
        availability: field('availability', before?.availability),
        price: field('price', before?.price),
        imageLink: field('image_link', before?.imageLink),
        link: field('link', before?.link),
        brand: field('brand', before?.brand),
        updatedAt: Date.now(),
      });
    });
    batch.status = 'finished';
    this.changed();
  }

  private routes(): Router {
    const router = express.Router();
    router.use(express.json({ limit: '20mb' }));
    const fail = (res: Response, failure: GraphFailure) => void res.status(failure.status).json(graphErrorBody(failure));
    /** Token and forced failures: true when the request may go on. */
    const admitted = (req: Request, res: Response, catalogId = String(req.params.catalogId ?? '')): boolean => {
      const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
      const expected = (catalogId && this.catalogTokens.get(catalogId)) || this.options.accessToken;
      if (!token || (expected !== undefined && token !== expected)) {
        fail(res, { status: 401, code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
        return false;
      }
      const failure = this.callFailures.shift();
      if (failure) {
        fail(res, failure);
        return false;
      }
      return true;
    };
    /** Graph takes parameters as JSON values or JSON-encoded strings. */
    const param = (value: unknown): unknown => {
      if (typeof value !== 'string') return value;
      try {
        return JSON.parse(value);
      } catch {
        return value;
      }
    };

    router.post('/:version/:catalogId/items_batch', (req, res) => {
      if (!admitted(req, res)) return;
      const body: Record<string, unknown> = isObject(req.body) ? req.body : {};
      const requests = param(body.requests);
      if (param(body.item_type) !== 'PRODUCT_ITEM') return fail(res, { status: 400, code: 100, message: '(#100) Param item_type must be one of {PRODUCT_ITEM, …}' });
      if (!Array.isArray(requests) || requests.length === 0) return fail(res, { status: 400, code: 100, message: '(#100) The parameter requests is required' });
      if (requests.length > 5_000) return fail(res, { status: 400, code: 1, message: "Please reduce the amount of data you're asking for, then retry your request" });
      const raw: Batch['raw'] = [];
      const validation: { retailer_id: string; errors: { message: string }[]; warnings: never[] }[] = [];
      for (const r of requests) {
        const method = isObject(r) && typeof r.method === 'string' ? r.method.toUpperCase() : '';
        const data = isObject(r) && isObject(r.data) ? r.data : {};
        const id = typeof data.id === 'string' ? data.id : '';
        const problems = [
          !['CREATE', 'UPDATE', 'DELETE'].includes(method) && `method ${method || '(none)'} is not CREATE, UPDATE or DELETE`,
          !id && 'data.id (the retailer id) is required',
          method !== 'DELETE' && data.price !== undefined && !PRICE.test(String(data.price)) && `price "${String(data.price)}" is not like "9.99 USD"`,
          method !== 'DELETE' && data.availability !== undefined && !AVAILABILITY.has(String(data.availability)) && `availability "${String(data.availability)}" is not known`,
        ].filter((x): x is string => typeof x === 'string');
        if (problems.length) validation.push({ retailer_id: id, errors: problems.map((message) => ({ message })), warnings: [] });
        else raw.push({ method, data });
      }
      if (raw.length === 0) return void res.json({ handles: [], validation_status: validation });
      const catalogId = req.params.catalogId!;
      const handle = `AC${randomBytes(12).toString('base64url')}`;
      const batch: Batch = { catalogId, handle, status: 'started', raw, errors: [], requests: raw.map((r) => ({ method: r.method, retailerId: String(r.data.id) })) };
      this.byHandle.set(handle, batch);
      this.batches.push({ catalogId, handle, requests: batch.requests });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.process(batch);
      }, this.options.processingMs ?? 150);
      this.timers.add(timer);
      res.json({ handles: [handle], validation_status: validation });
      this.changed();
    });

    router.get('/:version/:catalogId/check_batch_request_status', (req, res) => {
      if (!admitted(req, res)) return;
      const batch = this.byHandle.get(String(req.query.handle ?? ''));
      if (!batch || batch.catalogId !== req.params.catalogId) return fail(res, { status: 400, code: 100, message: '(#100) Invalid handle' });
      const loadIds = req.query.load_ids_of_invalid_requests === 'true';
      res.json({
        data: [
          {
            handle: batch.handle,
            status: batch.status,
            errors_total_count: batch.errors.length,
            errors: batch.errors.slice(0, 100),
            warnings: [],
            warnings_total_count: 0,
            ids_of_invalid_requests: loadIds ? [...new Set(batch.errors.map((e) => e.id))] : [],
          },
        ],
      });
    });

    router.get('/:version/:catalogId/products', (req, res) => {
      if (!admitted(req, res)) return;
      const data = [...this.items(req.params.catalogId!).values()].map((i) => ({ retailer_id: i.retailerId, name: i.title, description: i.description, price: i.price, availability: i.availability, image_url: i.imageLink }));
      res.json({ data, summary: { total_count: data.length } });
    });

    router.post('/:version/:catalogId/product_sets', (req, res) => {
      if (!admitted(req, res)) return;
      const body: Record<string, unknown> = isObject(req.body) ? req.body : {};
      if (typeof body.name !== 'string' || !body.name) return fail(res, { status: 400, code: 100, message: '(#100) The parameter name is required' });
      const filter = param(body.filter);
      const catalogId = req.params.catalogId!;
      if ([...this.sets.values()].some((s) => s.catalogId === catalogId && JSON.stringify(s.filter) === JSON.stringify(filter))) {
        return fail(res, { status: 400, code: 10803, message: 'Product set with the same filters already exists' });
      }
      const id = String(BigInt(`0x${randomBytes(6).toString('hex')}`));
      this.sets.set(id, { id, catalogId, name: body.name, filter, retailerId: typeof body.retailer_id === 'string' ? body.retailer_id : null });
      res.json({ id });
      this.changed();
    });

    router.get('/:version/:catalogId/product_sets', (req, res) => {
      if (!admitted(req, res)) return;
      const data = [...this.sets.values()].filter((s) => s.catalogId === req.params.catalogId).map((s) => ({ id: s.id, name: s.name, filter: JSON.stringify(s.filter), retailer_id: s.retailerId }));
      res.json({ data });
    });

    router.post('/:version/:setId', (req, res, next) => {
      const set = this.sets.get(req.params.setId!);
      if (!set) return next();
      if (!admitted(req, res, set.catalogId)) return;
      const body: Record<string, unknown> = isObject(req.body) ? req.body : {};
      if (typeof body.name === 'string' && body.name) set.name = body.name;
      if (body.filter !== undefined) set.filter = param(body.filter);
      res.json({ success: true });
      this.changed();
    });

    router.delete('/:version/:setId', (req, res, next) => {
      const set = this.sets.get(req.params.setId!);
      if (!set) return next();
      if (!admitted(req, res, set.catalogId)) return;
      this.sets.delete(req.params.setId!);
      res.json({ success: true });
      this.changed();
    });

    return router;
  }
}
