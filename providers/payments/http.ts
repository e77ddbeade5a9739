import { ProviderUnavailableError } from './types.ts';

/**
 * Timeouts of provider calls, in one place. The payment activities (initiatePayment, checkPayment, submitPaymentOtp,
 * cancelPayment, refundPayment) run with startToCloseTimeout 30 s; every HTTP request to a provider gives up well
 * before that, so an activity attempt never ends (and is retried) while a request it sent is still in flight: a
 * retry can never overlap a first STK push whose answer is still on its way.
 */
export const PAYMENT_ACTIVITY_TIMEOUT_MS = 30_000;
/** One HTTP request to a provider. */
export const PROVIDER_HTTP_TIMEOUT_MS = 10_000;
/**
 * Every request of one provider operation together (M-Pesa: an OAuth token, then the push, and one token refresh;
 * Razorpay: a create, then a lookup; O'mari: the OTP request, then a reconciling query).
 */
export const PROVIDER_OPERATION_TIMEOUT_MS = 20_000;

/** A provider's answer: the HTTP status and the body as JSON when it is JSON, else its text. */
export interface JsonReply {
  status: number;
  body: unknown;
}

/** Errors that mean the request never left this machine: nothing reached the provider. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ENETUNREACH', 'EHOSTUNREACH']);

function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * A request that got no HTTP answer. No connection at all (refused, unknown host) is a ProviderUnavailableError: the
 * provider never saw it. Anything else (a timeout, a reset connection) is a plain Error: the provider may have taken it.
 */
export function requestFailure(what: string, err: unknown, signal?: AbortSignal): Error {
  const code = codeOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (code && NOT_CONNECTED.has(code)) return new ProviderUnavailableError(`${what}: request failed (${code})`, { cause: err });
  const timedOut = (err as { name?: unknown } | null)?.name === 'TimeoutError' || signal?.aborted === true;
  return new Error(`${what}: ${timedOut ? 'no answer in time' : `request failed (${code ?? detail})`}`, { cause: err });
}

/** 503 and 429 say "not now" before anything is done; other 5xx (and 408) may come after the provider acted. */
export const isUnavailableStatus = (status: number): boolean => status === 503 || status === 429;
export const isRetryableStatus = (status: number): boolean => status >= 500 || status === 429 || status === 408;

/** A deadline for every request of one provider operation (see PROVIDER_OPERATION_TIMEOUT_MS). */
export function operationBudget(timeoutMs = PROVIDER_OPERATION_TIMEOUT_MS): AbortSignal {
  return AbortSignal.timeout(timeoutMs);
}

/**
 * The signal of one request: its own timeout, cut short by the operation's budget. A budget already spent means the
 * request is not sent at all (ProviderUnavailableError: retrying is safe).
 */
export function requestSignal(what: string, timeoutMs: number, budget?: AbortSignal): AbortSignal {
  if (budget?.aborted) throw new ProviderUnavailableError(`${what}: not sent, the operation ran out of time`);
  return budget ? AbortSignal.any([AbortSignal.timeout(timeoutMs), budget]) : AbortSignal.timeout(timeoutMs);
}

/**
 * One JSON call to a provider's REST API. Network failures become retryable errors naming the provider (see
 * requestFailure); HTTP errors are returned for the provider to classify, since each says "your fault" and "try
 * again" differently.
 */
export async function callJson(
  provider: string,
  fetchImpl: typeof fetch,
  request: { method: 'GET' | 'POST'; url: string; path: string; authorization: string; body?: unknown; timeoutMs: number; budget?: AbortSignal; headers?: Record<string, string> },
): Promise<JsonReply> {
  const what = `${provider} unreachable (${request.method} ${request.path.split('?')[0]})`;
  const signal = requestSignal(what, request.timeoutMs, request.budget);
  let res: Response;
  try {
    res = await fetchImpl(request.url, {
      method: request.method,
      headers: { ...request.headers, authorization: request.authorization, accept: 'application/json', ...(request.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    });
  } catch (err) {
    throw requestFailure(what, err, signal);
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Gateways in front of providers answer outages with HTML; keep the text for the error message.
  }
  return { status: res.status, body: parsed };
}
