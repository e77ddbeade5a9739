import { isCurrencyCode, money, toDecimalString } from '../../domain/money.ts';
import { readGraphAnswer } from './graph-answer.ts';

/**
 * Meta Commerce catalog client (protocols.md §3, §12): the Catalog Batch API (`items_batch`, `check_batch_request_status`)
 * and product sets. Like the Cloud API client it never retries: it runs inside activities whose retry policy owns backoff,
 * and only says whether a failure is worth retrying (`retryable`) and how long Meta asked to wait (`retryAfterMs`).
 */
export interface CatalogClientOptions {
  graphUrl: string;
  apiVersion: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Meta's limit per `items_batch` call (stated for `/batch`, applied to `items_batch` too: §3). */
export const MAX_BATCH_REQUESTS = 5_000;

/** Feed-style item fields of `items_batch` (§3: names seen in third-party code, not on a Meta page). */
export interface CatalogItemData {
  id: string;
  title: string;
  description: string;
  availability: 'in stock' | 'out of stock';
  condition: 'new';
  /** `"1500.00 KES"`: the amount in major units and the currency. */
  price: string;
  link: string;
  image_link: string;
  brand: string;
}

export type CatalogRequest = { method: 'UPDATE'; data: CatalogItemData } | { method: 'DELETE'; data: { id: string } };

/** What duka knows of a product, as the catalog item is built from it. */
export interface CatalogProductInput {
  retailerId: string;
  name: string;
  description: string | null | undefined;
  price: number;
  currency: string;
  /** Absolute, or a path on duka's public base URL. */
  imageUrl: string | null | undefined;
  /** For sale now: available, in a shown category, and with stock left (or unlimited). */
  inStock: boolean;
  brand: string;
  link: string;
}

/** Meta's field limits (Commerce Manager): title 150, description 9,999, retailer id 100. */
const LIMITS = { title: 150, description: 9_999, retailerId: 100 } as const;

/**
 * The `items_batch` item for a product, or why it cannot be sent: Meta refuses an item without a title, description,
 * price, image or link, so those are checked here and the product is reported failed instead of sent.
 */
export function toCatalogItem(p: CatalogProductInput, publicBaseUrl: string): { item: CatalogItemData } | { problems: string[] } {
  const problems: string[] = [];
  const title = p.name.trim();
  const description = (p.description ?? '').trim();
  const image = (p.imageUrl ?? '').trim();
  if (!p.retailerId.trim() || p.retailerId.length > LIMITS.retailerId) problems.push(`retailer id must be 1 to ${LIMITS.retailerId} characters`);
  if (!title) problems.push('a name (Meta\'s title) is required');
  else if (title.length > LIMITS.title) problems.push(`the name is longer than Meta's ${LIMITS.title} characters`);
  if (!description) problems.push('a description is required by Meta');
  else if (description.length > LIMITS.description) problems.push(`the description is longer than Meta's ${LIMITS.description} characters`);
  if (!image) problems.push('an image (imageUrl) is required by Meta');
  if (!Number.isSafeInteger(p.price) || p.price <= 0) problems.push('a price above zero is required');
  if (!isCurrencyCode(p.currency)) problems.push(`currency ${p.currency} is not one duka prices in`);
  if (problems.length || !isCurrencyCode(p.currency)) return { problems };
  const imageLink = image.startsWith('/') ? `${publicBaseUrl}${image}` : image;
  return {
    item: {
      id: p.retailerId,
      title,
      description,
      availability: p.inStock ? 'in stock' : 'out of stock',
      condition: 'new',
      price: `${toDecimalString(money(p.price, p.currency))} ${p.currency}`,
      link: p.link,
      image_link: imageLink,
      brand: p.brand,
    },
  };
}

export interface ItemProblem {
  retailerId: string;
  message: string;
}

export interface BatchAccepted {
  /** 0 or 1 handle; none means nothing was ingested (§12.3). */
  handles: string[];
  /** Rows Meta refused at once (`validation_status` errors). */
  refused: ItemProblem[];
}

export interface BatchStatus {
  /** Lower-cased: scheduled, dispatched, started, finished, canceled, error. */
  status: string;
  done: boolean;
  /** Rows that were not saved: `ids_of_invalid_requests`, with the message of the sampled error when there is one. */
  invalid: ItemProblem[];
  errorsTotal: number;
}

/** Throttling (4, 80004, 80009, 80014, 17, 32, 613) and transient server errors. */
const RETRYABLE_CODES = new Set([1, 2, 4, 17, 32, 613, 80004, 80009, 80014]);
const UNFINISHED = new Set(['scheduled', 'dispatched', 'started', 'in_progress']);

export class CatalogApiError extends Error {
  override name = 'CatalogApiError';
  readonly httpStatus: number;
  readonly code: number;
  readonly retryable: boolean;
  /** From Meta's `X-Business-Use-Case-Usage` (`estimated_time_to_regain_access`, minutes) when it says. */
  readonly retryAfterMs?: number;

  constructor(message: string, fields: { httpStatus: number; code: number; retryAfterMs?: number | undefined }) {
    super(message);
    this.httpStatus = fields.httpStatus;
    this.code = fields.code;
    if (fields.retryAfterMs !== undefined) this.retryAfterMs = fields.retryAfterMs;
    // Code 1 with "reduce the amount of data" is a payload that must be split, not retried as it is.
    const tooLarge = fields.code === 1 && /reduce the amount of data/i.test(message);
    this.retryable = !tooLarge && (fields.httpStatus === 0 || fields.httpStatus === 429 || fields.httpStatus >= 500 || RETRYABLE_CODES.has(fields.code));
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The longest wait Meta's usage header names, in ms. */
function retryAfter(headers: Headers): number | undefined {
  const raw = headers.get('x-business-use-case-usage');
  if (!raw) return undefined;
  try {
    const usage = JSON.parse(raw) as Record<string, { estimated_time_to_regain_access?: unknown }[]>;
    const minutes = Object.values(usage)
      .flat()
      .map((u) => (typeof u.estimated_time_to_regain_access === 'number' ? u.estimated_time_to_regain_access : 0));
    const most = Math.max(0, ...minutes);
    return most > 0 ? most * 60_000 : undefined;
  } catch {
    return undefined;
  }
}

export class CatalogClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: CatalogClientOptions) {
    this.baseUrl = `${options.graphUrl.replace(/\/+$/, '')}/${options.apiVersion}`;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** `UPDATE` creates an item that is not there yet (`allow_upsert`), so a request sent twice leaves the same catalog. */
  async itemsBatch(catalogId: string, requests: CatalogRequest[], accessToken: string): Promise<BatchAccepted> {
    if (requests.length === 0 || requests.length > MAX_BATCH_REQUESTS) throw new RangeError(`a batch holds 1 to ${MAX_BATCH_REQUESTS} requests, got ${requests.length}`);
    const json = await this.call('POST', `/${encodeURIComponent(catalogId)}/items_batch`, accessToken, { item_type: 'PRODUCT_ITEM', allow_upsert: true, requests });
    const handles = Array.isArray(json.handles) ? json.handles.filter((h): h is string => typeof h === 'string') : [];
    const refused: ItemProblem[] = [];
    for (const row of Array.isArray(json.validation_status) ? json.validation_status : []) {
      if (!isObject(row) || !Array.isArray(row.errors) || row.errors.length === 0) continue;
      const message = row.errors.map((e) => (isObject(e) ? str(e.message) : undefined)).filter(Boolean).join('; ');
      refused.push({ retailerId: str(row.retailer_id) ?? '', message: message || 'refused by Meta' });
    }
    return { handles, refused };
  }

  async batchStatus(catalogId: string, handle: string, accessToken: string): Promise<BatchStatus> {
    const query = new URLSearchParams({ handle, load_ids_of_invalid_requests: 'true' });
    const json = await this.call('GET', `/${encodeURIComponent(catalogId)}/check_batch_request_status?${query}`, accessToken);
    const entry = Array.isArray(json.data) && isObject(json.data[0]) ? json.data[0] : {};
    const status = (str(entry.status) ?? 'scheduled').toLowerCase();
    const messages = new Map<string, string>();
    for (const e of Array.isArray(entry.errors) ? entry.errors : []) {
      const id = isObject(e) ? str(e.id) : undefined;
      if (id && isObject(e)) messages.set(id, [messages.get(id), str(e.message)].filter(Boolean).join('; '));
    }
    const ids = new Set<string>([...(Array.isArray(entry.ids_of_invalid_requests) ? entry.ids_of_invalid_requests.filter((x): x is string => typeof x === 'string') : []), ...messages.keys()]);
    return {
      status,
      done: !UNFINISHED.has(status),
      invalid: [...ids].map((retailerId) => ({ retailerId, message: messages.get(retailerId) || 'Meta did not save this item (no message in its sample of errors)' })),
      errorsTotal: typeof entry.errors_total_count === 'number' ? entry.errors_total_count : ids.size,
    };
  }

  async createProductSet(catalogId: string, set: { name: string; filter: Json; retailerId: string }, accessToken: string): Promise<string> {
    const json = await this.call('POST', `/${encodeURIComponent(catalogId)}/product_sets`, accessToken, { name: set.name, filter: JSON.stringify(set.filter), retailer_id: set.retailerId });
    const id = str(json.id);
    if (!id) throw new CatalogApiError('Meta created a product set but answered no id', { httpStatus: 200, code: 0 });
    return id;
  }

  async updateProductSet(setId: string, set: { name: string; filter: Json }, accessToken: string): Promise<void> {
    await this.call('POST', `/${encodeURIComponent(setId)}`, accessToken, { name: set.name, filter: JSON.stringify(set.filter) });
  }

  async deleteProductSet(setId: string, accessToken: string): Promise<void> {
    await this.call('DELETE', `/${encodeURIComponent(setId)}?allow_live_product_set_deletion=true`, accessToken);
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', path: string, accessToken: string, body?: Json): Promise<Json> {
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new CatalogApiError(`Meta catalog API unreachable: ${(err as Error).message}`, { httpStatus: 0, code: 0 });
    }
    const answer = await readGraphAnswer(response);
    if (answer.ok) return answer.json;
    const { code, message, details } = answer;
    throw new CatalogApiError(`Meta catalog API ${response.status}${code ? ` (#${code})` : ''}: ${message}${details ? ` – ${details}` : ''}`, {
      httpStatus: response.status,
      code,
      retryAfterMs: retryAfter(response.headers),
    });
  }
}
