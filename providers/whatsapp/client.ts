import type { OutboundMessage } from '../../domain/outbound.ts';
import { toGraphMessage, toGraphReadReceipt } from './messages.ts';
import type { GraphMessageBody } from './messages.ts';

/**
 * Cloud API client. It never retries: sends run inside Temporal activities, whose retry policy owns backoff. The client
 * only says whether a failure is worth retrying (`retryable`) and whether the 24-hour window has closed
 * (`outsideWindow`, send a template instead).
 */
export interface WhatsAppClientOptions {
  graphUrl: string;
  apiVersion: string;
  accessToken: string;
  /** Per business phone number; Meta's default throughput is 80 messages/second, inbound and outbound together. */
  ratePerSecond: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Throttling and transient server-side failures (Meta error-codes page and throughput page). */
const RETRYABLE_CODES = new Set([4, 80007, 130429, 131000, 131016, 133004]);
const OUTSIDE_WINDOW_CODE = 131047;
/** Meta's limit for `biz_opaque_callback_data`. */
const MAX_CALLBACK_DATA = 512;

export interface WhatsAppApiErrorFields {
  /** 0 when no HTTP response arrived (network failure, timeout). */
  httpStatus: number;
  /** Set only when no response arrived: whether the request may have reached Meta (see `maybeAccepted`). */
  requestMayHaveLeft?: boolean;
  /** Meta's error code; 0 when the response carried none. */
  code: number;
  subcode?: number;
  details?: string;
  fbtraceId?: string;
}

export class WhatsAppApiError extends Error {
  override name = 'WhatsAppApiError';
  readonly httpStatus: number;
  readonly code: number;
  readonly subcode?: number;
  readonly details?: string;
  readonly fbtraceId?: string;
  readonly retryable: boolean;
  readonly outsideWindow: boolean;
  /**
   * Whether Meta may have accepted the message in spite of this error, so that sending it again could deliver it
   * twice: a timeout or a connection that dropped once the request could have left, a 2xx without a message id, or a
   * 5xx without the Graph API's error body (a gateway between us and Meta, which may have passed the request on).
   * False when Meta answered with its own error body or no connection was ever made: nothing was sent.
   */
  readonly maybeAccepted: boolean;

  constructor(message: string, fields: WhatsAppApiErrorFields, options?: { cause?: unknown }) {
    super(message, options);
    this.httpStatus = fields.httpStatus;
    this.code = fields.code;
    if (fields.subcode !== undefined) this.subcode = fields.subcode;
    if (fields.details !== undefined) this.details = fields.details;
    if (fields.fbtraceId !== undefined) this.fbtraceId = fields.fbtraceId;
    this.outsideWindow = fields.code === OUTSIDE_WINDOW_CODE;
    this.retryable =
      fields.httpStatus === 0 || fields.httpStatus >= 500 || fields.httpStatus === 429 || RETRYABLE_CODES.has(fields.code);
    this.maybeAccepted =
      fields.httpStatus === 0
        ? fields.requestMayHaveLeft ?? true
        : (fields.httpStatus >= 200 && fields.httpStatus < 300) || (fields.httpStatus >= 500 && fields.code === 0);
  }
}

/**
 * Token bucket that hands out reservations: each caller learns how long to wait for its token, so concurrent senders
 * queue in arrival order without a timer loop.
 */
class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly ratePerMs: number;
  private readonly capacity: number;

  constructor(ratePerSecond: number, now: number) {
    this.ratePerMs = ratePerSecond / 1000;
    this.capacity = Math.max(1, ratePerSecond);
    this.tokens = this.capacity;
    this.updatedAt = now;
  }

  reserve(now: number): number {
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.ratePerMs);
    this.updatedAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : -this.tokens / this.ratePerMs;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface GraphErrorBody {
  error?: { message?: unknown; code?: unknown; error_subcode?: unknown; fbtrace_id?: unknown; error_data?: { details?: unknown } };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Failures that happen before a connection exists (DNS, refused, unreachable, TLS): the request never left. */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT',
  'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Error codes along a fetch failure's `cause` chain (undici wraps them; a multi-address connect aggregates them). */
function errorCodes(err: unknown, depth = 0): string[] {
  if (depth > 5 || typeof err !== 'object' || err === null) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...nested, ...errorCodes(e.cause, depth + 1)];
}

/** True unless the failure shows that no connection was made (then Meta cannot have seen the request). */
function requestMayHaveLeft(err: unknown): boolean {
  const codes = errorCodes(err);
  return !(codes.length > 0 && codes.every((c) => NOT_CONNECTED.has(c)));
}

export class WhatsAppClient {
  private readonly baseUrl: string;
  private readonly accessToken: string;
  private readonly ratePerSecond: number;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(options: WhatsAppClientOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be positive, got ${options.ratePerSecond}`);
    this.baseUrl = `${options.graphUrl.replace(/\/+$/, '')}/${options.apiVersion}`;
    this.accessToken = options.accessToken;
    this.ratePerSecond = options.ratePerSecond;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  /**
   * `callbackData` goes out as `biz_opaque_callback_data` (at most 512 characters): Meta does not process it and echoes
   * it in the sent/delivered/read statuses of this message, which is how a send whose answer was lost is recognised.
   * `accessToken`: the shop's own token, when it has one (the client's is the environment's fallback).
   */
  async send(phoneNumberId: string, to: string, msg: OutboundMessage, options: { callbackData?: string; accessToken?: string | undefined } = {}): Promise<{ messageId: string }> {
    const body = toGraphMessage(to, msg);
    if (options.callbackData !== undefined) {
      if (options.callbackData.length > MAX_CALLBACK_DATA) throw new RangeError(`callbackData is longer than ${MAX_CALLBACK_DATA} characters`);
      body.biz_opaque_callback_data = options.callbackData;
    }
    const response = await this.post(phoneNumberId, body, options.accessToken);
    const messageId = (response as { messages?: { id?: unknown }[] }).messages?.[0]?.id;
    if (typeof messageId !== 'string' || !messageId) {
      // Meta accepted the request, so retrying would risk a duplicate message.
      throw new WhatsAppApiError('WhatsApp API accepted the message but returned no message id', { httpStatus: 200, code: 0 });
    }
    return { messageId };
  }

  async markAsRead(phoneNumberId: string, messageId: string, options: { showTyping?: boolean; accessToken?: string | undefined } = {}): Promise<void> {
    await this.post(phoneNumberId, toGraphReadReceipt(messageId, options.showTyping), options.accessToken);
  }

  private async throttle(phoneNumberId: string): Promise<void> {
    const now = performance.now();
    let bucket = this.buckets.get(phoneNumberId);
    if (!bucket) {
      bucket = new TokenBucket(this.ratePerSecond, now);
      this.buckets.set(phoneNumberId, bucket);
    }
    const wait = bucket.reserve(now);
    if (wait > 0) await sleep(wait);
  }

  private async post(phoneNumberId: string, body: GraphMessageBody, accessToken = this.accessToken): Promise<unknown> {
    await this.throttle(phoneNumberId);
    const url = `${this.baseUrl}/${encodeURIComponent(phoneNumberId)}/messages`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new WhatsAppApiError(`WhatsApp API unreachable: ${(err as Error).message}`, { httpStatus: 0, code: 0, requestMayHaveLeft: requestMayHaveLeft(err) }, { cause: err });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      // The status arrived but the body did not: an error status still means nothing was sent; a 2xx may be an acceptance.
      throw new WhatsAppApiError(`WhatsApp API ${response.status}: the answer broke off: ${(err as Error).message}`, { httpStatus: response.status, code: 0 }, { cause: err });
    }

    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (response.ok && json !== undefined) return json;

    const error = (json as GraphErrorBody | undefined)?.error;
    const code = numberOr(error?.code, 0);
    const message = stringOrUndefined(error?.message) ?? (response.ok ? 'response is not JSON' : response.statusText || 'no error body');
    const subcode = typeof error?.error_subcode === 'number' ? error.error_subcode : undefined;
    const details = stringOrUndefined(error?.error_data?.details);
    const fbtraceId = stringOrUndefined(error?.fbtrace_id);
    throw new WhatsAppApiError(
      `WhatsApp API ${response.status}${code ? ` (#${code})` : ''}: ${message}${details ? ` – ${details}` : ''}`,
      {
        httpStatus: response.status,
        code,
        ...(subcode !== undefined && { subcode }),
        ...(details !== undefined && { details }),
        ...(fbtraceId !== undefined && { fbtraceId }),
      },
    );
  }
}
