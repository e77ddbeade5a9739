import { randomUUID } from 'node:crypto';
import { parseDecimal, toDecimalString, type Money } from '../../domain/money.ts';
import { isRetryableStatus, isUnavailableStatus, operationBudget, PROVIDER_HTTP_TIMEOUT_MS, requestFailure, requestSignal } from './http.ts';
import {
  PaymentDeclinedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  type FailureReason,
  type InitiateInput,
  type InitiateResult,
  type LostInitiation,
  type NormalisedPaymentEvent,
  type PaymentProvider,
  type PaymentStatus,
  type ProviderData,
} from './types.ts';

/**
 * O'mari merchant API (§7 of the protocol reference): `/auth` sends the customer an OTP, `/request` with that OTP
 * takes the money and answers synchronously, `/query/{reference}` reconciles. There are no callbacks.
 */

/** What a non-success answer means for duka: a customer-facing reason, an operator problem, or try again later. */
export type OmariOutcome = 'succeeded' | FailureReason | 'rejected' | 'retry';

export interface OmariMessageRule {
  pattern: RegExp;
  outcome: OmariOutcome;
}

export interface OmariSettings {
  baseUrl: string;
  merchantKey: string;
  channel?: 'WEB' | 'POS';
  /** responseCode → outcome, merged over DEFAULT_OMARI_RESPONSE_CODES; consulted before messageRules. */
  responseCodeMap?: Record<string, OmariOutcome>;
  /** Tried in order on `message` when the code is not in the map; replaces DEFAULT_OMARI_MESSAGE_RULES. */
  messageRules?: OmariMessageRule[];
  /** Per HTTP call; default PROVIDER_HTTP_TIMEOUT_MS. */
  requestTimeoutMs?: number;
}

export interface OmariDeps {
  fetch?: typeof fetch;
  uuid?: () => string;
}

export interface OmariProvider extends PaymentProvider {
  submitOtp(data: ProviderData, otp: string, amount: Money): Promise<NormalisedPaymentEvent>;
}

/** Spec v1.2.0 documents only `000` = success; every other code is unconfirmed, so none is guessed here. */
export const DEFAULT_OMARI_RESPONSE_CODES: Readonly<Record<string, OmariOutcome>> = { '000': 'succeeded' };

/**
 * O'mari's failure messages are unconfirmed too; these patterns pick the customer-facing reason where the wording is
 * unambiguous. Expiry comes before OTP so that "OTP expired" ends the attempt instead of asking for the same OTP again.
 */
export const DEFAULT_OMARI_MESSAGE_RULES: readonly OmariMessageRule[] = [
  { pattern: /expired/i, outcome: 'expired' },
  { pattern: /\botp\b|one[- ]time (pin|password)/i, outcome: 'wrong_otp' },
  { pattern: /insufficient|not enough (funds|balance)/i, outcome: 'insufficient_funds' },
  { pattern: /limit/i, outcome: 'limit_exceeded' },
  { pattern: /msisdn|mobile number|phone number|not registered|no (such )?(account|wallet)|unknown (subscriber|customer)/i, outcome: 'invalid_number' },
  { pattern: /cancel/i, outcome: 'cancelled_by_customer' },
];

const OMARI_CURRENCIES = new Set(['USD', 'ZWG']);
const MSISDN = /^2637\d{8}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface OmariReply {
  error?: boolean;
  message?: string;
  responseCode?: string;
  otpReference?: string;
  paymentReference?: string;
  debitReference?: string;
  status?: string;
  reference?: string;
  amount?: number | string;
  currency?: string;
}

interface Answer {
  httpStatus: number;
  body: OmariReply;
}

function readReply(value: unknown): OmariReply | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const reply: OmariReply = {};
  if (typeof v.error === 'boolean') reply.error = v.error;
  for (const key of ['message', 'otpReference', 'paymentReference', 'debitReference', 'status', 'reference', 'currency'] as const) {
    if (typeof v[key] === 'string') reply[key] = v[key];
  }
  if (typeof v.responseCode === 'string' || typeof v.responseCode === 'number') reply.responseCode = String(v.responseCode);
  if (typeof v.amount === 'number' || typeof v.amount === 'string') reply.amount = v.amount;
  return reply;
}

function describe(body: OmariReply): string {
  return `${body.message ?? 'no message'} (responseCode ${body.responseCode ?? 'none'})`;
}

function stringField(data: ProviderData, key: string): string {
  const value = data[key];
  if (typeof value !== 'string' || !value) throw new ProviderRejectedError('omari', `payment data holds no O'mari ${key}`);
  return value;
}

/** Unconfirmed query statuses: only an explicit success counts as paid; anything unrecognised stays pending. */
function queryStatus(status: string | undefined): { status: PaymentStatus; failureReason?: FailureReason } {
  const s = (status ?? '').trim();
  if (/^success(ful)?$/i.test(s)) return { status: 'succeeded' };
  if (/expire/i.test(s)) return { status: 'expired', failureReason: 'expired' };
  if (/cancel|void/i.test(s)) return { status: 'cancelled', failureReason: 'cancelled_by_customer' };
  if (/fail|declin|revers|reject/i.test(s)) return { status: 'failed', failureReason: 'declined' };
  return { status: 'pending' };
}

function statusOfReason(reason: FailureReason): PaymentStatus {
  if (reason === 'cancelled_by_customer') return 'cancelled';
  if (reason === 'expired') return 'expired';
  return 'failed';
}

export function createOmariProvider(settings: OmariSettings, deps: OmariDeps = {}): OmariProvider {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const newUuid = deps.uuid ?? randomUUID;
  const baseUrl = settings.baseUrl.replace(/\/+$/, '');
  const timeoutMs = settings.requestTimeoutMs ?? PROVIDER_HTTP_TIMEOUT_MS;
  const codes: Record<string, OmariOutcome> = { ...DEFAULT_OMARI_RESPONSE_CODES, ...settings.responseCodeMap };
  const rules = settings.messageRules ?? DEFAULT_OMARI_MESSAGE_RULES;

  function classify(body: OmariReply): OmariOutcome | undefined {
    const byCode = body.responseCode === undefined ? undefined : codes[body.responseCode];
    if (byCode === 'succeeded') return body.error === true ? undefined : 'succeeded';
    if (byCode) return byCode;
    const message = body.message ?? '';
    return rules.find((rule) => rule.pattern.test(message))?.outcome;
  }

  /**
   * Network failures, timeouts and 5xx are retryable; of those, only "never connected" and 503/429 say for sure that
   * O'mari did not take the request (ProviderUnavailableError). A refused key is an operator problem.
   */
  async function call(method: 'GET' | 'POST', path: string, payload?: Record<string, unknown>, budget?: AbortSignal): Promise<Answer> {
    const what = `O'mari ${method} ${path.split('/').slice(0, 2).join('/')}`;
    let response: Response;
    const signal = requestSignal(what, timeoutMs, budget);
    try {
      response = await doFetch(`${baseUrl}${path}`, {
        method,
        headers: { 'x-merchant-key': settings.merchantKey, accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
        body: payload ? JSON.stringify(payload) : null,
        signal,
      });
    } catch (cause) {
      throw requestFailure(what, cause, signal);
    }
    const text = await response.text().catch((cause: unknown) => {
      throw new Error(`${what}: reading the reply failed`, { cause });
    });
    if (isUnavailableStatus(response.status)) throw new ProviderUnavailableError(`${what}: HTTP ${response.status}`);
    if (isRetryableStatus(response.status)) throw new Error(`${what}: HTTP ${response.status}`);
    if (response.status === 401 || response.status === 403) {
      throw new ProviderRejectedError('omari', `${what}: merchant key refused (HTTP ${response.status})`, response.status);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const body = readReply(parsed);
    if (!body) {
      if (response.ok) throw new Error(`${what}: unreadable reply`);
      throw new ProviderRejectedError('omari', `${what}: HTTP ${response.status}`, response.status);
    }
    return { httpStatus: response.status, body };
  }

  async function initiate({ amount, method, context }: InitiateInput): Promise<InitiateResult> {
    if (method !== 'omari') throw new ProviderRejectedError('omari', `payment method ${method} is not an O'mari method`);
    if (!OMARI_CURRENCIES.has(amount.currency)) throw new ProviderRejectedError('omari', `O'mari does not take ${amount.currency}`);
    const msisdn = context.customerPhone ?? '';
    if (!MSISDN.test(msisdn)) throw new PaymentDeclinedError('invalid_number', "O'mari needs a 2637XXXXXXXX number");
    const reference = UUID.test(context.reference) ? context.reference : newUuid();

    const { body } = await call('POST', '/auth', {
      msisdn,
      reference,
      amount: Number(toDecimalString(amount)),
      currency: amount.currency,
      channel: settings.channel ?? 'WEB',
    });
    const outcome = classify(body) ?? 'rejected';
    if (outcome === 'succeeded') {
      if (!body.otpReference) throw new ProviderRejectedError('omari', "O'mari auth succeeded without an otpReference");
      // No providerReference: the otpReference is a short code shown beside the SMS, not an id (two customers can be
      // given the same one). O'mari knows the payment by duka's own reference.
      return {
        data: { reference, otpReference: body.otpReference, msisdn, amount: { amount: amount.amount, currency: amount.currency } },
        customerAction: { type: 'enter_otp' },
      };
    }
    // O'mari answered, and started nothing: asking again is safe.
    if (outcome === 'retry') throw new ProviderUnavailableError(`O'mari auth: ${describe(body)}`);
    if (outcome === 'rejected') throw new ProviderRejectedError('omari', `O'mari auth refused: ${describe(body)}`);
    throw new PaymentDeclinedError(outcome, `O'mari auth: ${describe(body)}`);
  }

  function authorisedAmount(data: ProviderData, fallback: Money): Money {
    const stored = data.amount as Partial<Money> | undefined;
    if (stored && typeof stored.amount === 'number' && stored.currency === fallback.currency) return { amount: stored.amount, currency: stored.currency };
    return fallback;
  }

  /**
   * An /auth whose answer was lost: the customer may have an OTP by SMS, but duka has no otpReference to tell them
   * which SMS it is, and cannot ask again for the same reference. Nothing moves without the OTP, so the attempt ends
   * and the customer tries again (a new attempt, a new reference, a new OTP).
   */
  async function recoverLost(): Promise<LostInitiation> {
    return { kind: 'unusable', reason: 'provider_error', message: "O'mari's answer to /auth was lost: the customer has no OTP reference" };
  }

  function baseEvent(data: ProviderData, status: PaymentStatus, raw: unknown): NormalisedPaymentEvent {
    const reference = stringField(data, 'reference');
    return { reference, status, dedupKey: `omari:${reference}:${status}`, raw };
  }

  async function status(data: ProviderData, amount: Money, budget?: AbortSignal): Promise<NormalisedPaymentEvent> {
    const reference = stringField(data, 'reference');
    const { httpStatus, body } = await call('GET', `/query/${encodeURIComponent(reference)}`, undefined, budget);
    if (httpStatus === 404) throw new ProviderRejectedError('omari', `O'mari knows no transaction with this reference: ${describe(body)}`, httpStatus);
    if (body.reference !== undefined && body.reference !== reference) {
      throw new Error(`O'mari query answered for reference ${body.reference}, expected ${reference}`);
    }
    const mapped = httpStatus >= 400 || body.error === true ? { status: 'pending' as const } : queryStatus(body.status);
    const event = baseEvent(data, mapped.status, body);
    if (body.paymentReference) event.transactionReference = body.paymentReference;
    if ('failureReason' in mapped && mapped.failureReason) {
      event.failureReason = mapped.failureReason;
      event.failureMessage = `O'mari status ${body.status ?? ''}`;
    }
    if (body.amount !== undefined) {
      if (body.currency && body.currency !== amount.currency) {
        throw new ProviderRejectedError('omari', `O'mari reports ${body.currency} for a ${amount.currency} payment`);
      }
      const minor = parseDecimal(body.amount, amount.currency);
      if (minor !== null) event.amount = { amount: minor, currency: amount.currency };
    }
    if (event.status === 'succeeded' && !event.amount) throw new Error("O'mari query reports success without a readable amount");
    return event;
  }

  /** When /request gave no clear answer, the query decides whether the money was taken. */
  async function reconcile(data: ProviderData, amount: Money, budget: AbortSignal): Promise<NormalisedPaymentEvent | undefined> {
    const event = await status(data, amount, budget).catch(() => undefined);
    return event?.status === 'succeeded' ? event : undefined;
  }

  async function submitOtp(data: ProviderData, otp: string, amount: Money): Promise<NormalisedPaymentEvent> {
    const reference = stringField(data, 'reference');
    const msisdn = stringField(data, 'msisdn');
    const budget = operationBudget();
    let answer: Answer;
    try {
      answer = await call('POST', '/request', { msisdn, reference, otp: otp.trim() }, budget);
    } catch (error) {
      if (error instanceof ProviderRejectedError) throw error;
      const settled = await reconcile(data, amount, budget);
      if (settled) return settled;
      throw error;
    }
    const { body } = answer;
    const outcome = classify(body);
    if (outcome === 'succeeded') {
      const event = baseEvent(data, 'succeeded', body);
      event.amount = authorisedAmount(data, amount);
      if (body.paymentReference) event.transactionReference = body.paymentReference;
      return event;
    }
    if (outcome === 'wrong_otp') throw new PaymentDeclinedError('wrong_otp', `O'mari: ${describe(body)}`);
    if (outcome === 'retry') throw new Error(`O'mari request: ${describe(body)}`);
    if (outcome === 'rejected') throw new ProviderRejectedError('omari', `O'mari request refused: ${describe(body)}`);
    if (outcome === undefined) {
      const settled = await reconcile(data, amount, budget);
      if (settled) return settled;
    }
    const reason: FailureReason = outcome ?? 'declined';
    const event = baseEvent(data, statusOfReason(reason), body);
    event.failureReason = reason;
    event.failureMessage = body.message ?? `O'mari responseCode ${body.responseCode ?? 'none'}`;
    return event;
  }

  // No cancel: /void is absent from spec v1.2.0 (§7.5), and nothing is taken until duka itself submits the OTP.
  return { id: 'omari', initiate, recoverLost, status: (data, amount) => status(data, amount), submitOtp };
}
