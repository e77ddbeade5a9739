import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDecimal, toDecimalString, type CurrencyCode, type Money } from '../../domain/money.ts';
import { isRetryableStatus, isUnavailableStatus, PROVIDER_HTTP_TIMEOUT_MS, requestFailure, requestSignal } from './http.ts';
import {
  CallbackSignatureError,
  forgedWebhook,
  InvalidCallbackError,
  malformedWebhook,
  PaymentDeclinedError,
  ProviderRejectedError,
  ProviderUnavailableError,
  webhookEvent,
  type CustomerAction,
  type FailureReason,
  type InitiateInput,
  type InitiateResult,
  type LostInitiation,
  type NormalisedPaymentEvent,
  type PaymentMethod,
  type PaymentProvider,
  type PaymentStatus,
  type ProviderData,
  type WebhookActionAndData,
  type WebhookPayment,
  type WebhookRequest,
  type WebhookSpec,
} from './types.ts';

/** Paynow (§4 of the protocol reference): form-encoded requests and replies, each authenticated by a SHA-512 `hash` field. */
export interface PaynowSettings {
  baseUrl: string;
  integrationId: string;
  integrationKey: string;
  /** Paynow requires `authemail` for express checkout; in test mode it must be the merchant's login email. */
  authEmail?: string;
  /** Per HTTP call; default PROVIDER_HTTP_TIMEOUT_MS. */
  requestTimeoutMs?: number;
}

export interface PaynowDeps {
  fetch?: typeof fetch;
}

export type PaynowFields = Array<[string, string]>;

/** Money has been received in these (the last two are escrow states); §4.4. */
const SUCCEEDED_STATUSES = new Set(['paid', 'awaiting delivery', 'delivered']);

/** Innbucks hands out an authorisation code that its app opens through this deep link (§4.3). */
const INNBUCKS_DEEP_LINK = 'schinn.wbpycode://innbucks.co.zw?pymInnCode=';

const EXPRESS_METHODS: ReadonlySet<PaymentMethod> = new Set(['ecocash', 'onemoney', 'innbucks']);
/**
 * Paid on Paynow's hosted page: `paynow_web` (any card or wallet Paynow shows) and `zimswitch` (a ZimSwitch bank card,
 * which Paynow takes on that page only; its express checkout has no ZimSwitch method, protocols.md §4.3).
 */
const WEB_METHODS: ReadonlySet<PaymentMethod> = new Set(['paynow_web', 'zimswitch']);

function toPairs(fields: PaynowFields | Record<string, string>): PaynowFields {
  return Array.isArray(fields) ? fields : Object.entries(fields);
}

/** §4.5: every value except `hash`, in message order, then the integration key; SHA-512, uppercase hex. */
export function paynowHash(fields: PaynowFields | Record<string, string>, integrationKey: string): string {
  const values = toPairs(fields)
    .filter(([key]) => key.toLowerCase() !== 'hash')
    .map(([, value]) => value)
    .join('');
  return createHash('sha512').update(values + integrationKey, 'utf8').digest('hex').toUpperCase();
}

export function verifyPaynowHash(fields: PaynowFields | Record<string, string>, integrationKey: string): boolean {
  const pairs = toPairs(fields);
  const received = pairs.find(([key]) => key.toLowerCase() === 'hash')?.[1];
  if (!received) return false;
  const expected = Buffer.from(paynowHash(pairs, integrationKey), 'utf8');
  const actual = Buffer.from(received.toUpperCase(), 'utf8');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A Paynow message body → its fields in message order, keys lower-cased (Paynow sometimes capitalises them). */
export function parsePaynowFields(body: string): PaynowFields {
  return [...new URLSearchParams(body.trim())].map(([key, value]) => [key.toLowerCase(), value]);
}

/** Fields (without hash) → a form body with the hash appended last, as Paynow expects. */
export function signPaynowFields(fields: PaynowFields, integrationKey: string): string {
  const unsigned = fields.filter(([key]) => key.toLowerCase() !== 'hash');
  return new URLSearchParams([...unsigned, ['hash', paynowHash(unsigned, integrationKey)]]).toString();
}

export function paynowFieldMap(fields: PaynowFields): Map<string, string> {
  return new Map(fields);
}

/** Paynow's wallet numbers are local (`0771111111`); duka keeps them international (`263771111111`). */
export function toPaynowPhone(phone: string): string {
  return /^2637\d{8}$/.test(phone) ? `0${phone.slice(3)}` : phone;
}

function classifyStatus(paynowStatus: string): { status: PaymentStatus; failureReason?: FailureReason } {
  const normalised = paynowStatus.trim().toLowerCase();
  if (SUCCEEDED_STATUSES.has(normalised)) return { status: 'succeeded' };
  if (normalised === 'cancelled') return { status: 'cancelled', failureReason: 'cancelled_by_customer' };
  if (normalised === 'failed' || normalised === 'disputed' || normalised === 'refunded') {
    return { status: 'failed', failureReason: 'declined' };
  }
  // Created, Sent and any status Paynow has not documented: not paid (yet), so keep waiting.
  return { status: 'pending' };
}

function declineFromErrorText(text: string): PaymentDeclinedError | undefined {
  if (/invalid\b.*\b(phone|mobile|number|msisdn|wallet)|(phone|mobile|number|msisdn)\b.*\b(invalid|not valid)/i.test(text)) {
    return new PaymentDeclinedError('invalid_number', `Paynow: ${text}`);
  }
  if (/insufficient/i.test(text)) return new PaymentDeclinedError('insufficient_funds', `Paynow: ${text}`);
  return undefined;
}

interface StatusMessage {
  fields: Map<string, string>;
  status: string;
}

function toEvent(message: StatusMessage, currency: CurrencyCode, fallbackPollUrl?: string): NormalisedPaymentEvent {
  const { fields } = message;
  const classified = classifyStatus(message.status);
  const amountText = fields.get('amount');
  const minor = amountText === undefined ? null : parseDecimal(amountText, currency);
  const paynowReference = fields.get('paynowreference');
  const pollUrl = fields.get('pollurl') ?? fallbackPollUrl;
  const event: NormalisedPaymentEvent = {
    status: classified.status,
    dedupKey: `paynow:${paynowReference ?? pollUrl ?? fields.get('reference')}:${message.status}`,
    raw: Object.fromEntries(fields),
  };
  const reference = fields.get('reference');
  if (reference !== undefined) event.reference = reference;
  if (pollUrl !== undefined) event.providerReference = pollUrl;
  if (paynowReference !== undefined) event.transactionReference = paynowReference;
  if (minor !== null) event.amount = { amount: minor, currency };
  if (classified.failureReason) {
    event.failureReason = classified.failureReason;
    event.failureMessage = `Paynow status ${message.status}`;
  }
  return event;
}

/** The `reference` of a status update, before its hash is checked: only for finding whose integration key to check it with. */
export function referenceFromPaynowUpdate(rawBody: string): string | undefined {
  return parsePaynowFields(rawBody).find(([key]) => key === 'reference')?.[1] || undefined;
}

/** A status update POSTed to the resulturl (§4.4) → a normalised event, hash verified. */
export function parsePaynowStatusUpdate(rawBody: string, integrationKey: string, currency: CurrencyCode): NormalisedPaymentEvent {
  const pairs = parsePaynowFields(rawBody);
  if (pairs.length === 0) throw new InvalidCallbackError('Paynow status update has an empty body');
  if (!pairs.some(([key]) => key === 'hash')) throw new CallbackSignatureError('Paynow status update carries no hash');
  if (!verifyPaynowHash(pairs, integrationKey)) throw new CallbackSignatureError('Paynow status update hash does not match');
  const fields = paynowFieldMap(pairs);
  const status = fields.get('status');
  const reference = fields.get('reference');
  const paynowReference = fields.get('paynowreference');
  if (!status || !reference || !paynowReference) {
    throw new InvalidCallbackError('Paynow status update lacks status, reference or paynowreference');
  }
  const amountText = fields.get('amount');
  if (amountText !== undefined && parseDecimal(amountText, currency) === null) {
    throw new InvalidCallbackError(`Paynow status update amount is not a decimal: ${amountText}`);
  }
  const event = toEvent({ fields, status }, currency);
  if (event.status === 'succeeded' && !event.amount) throw new InvalidCallbackError('Paynow paid update carries no amount');
  const pollUrl = fields.get('pollurl');
  // A verified update names its poll URL: a payment whose initiation answer was lost learns where to poll from it.
  if (pollUrl && /^https?:\/\//i.test(pollUrl)) event.providerData = { pollUrl, reference, paynowReference };
  return event;
}

/**
 * Status updates to the resulturl (§4.4): form-encoded, found by duka's `reference` in them, authenticated by the hash
 * with the integration key of the payment's shop. An unknown reference is 404: Paynow retries errors a bounded number
 * of times, which also covers an update racing the payment row's commit.
 */
export const paynowWebhook: WebhookSpec = {
  provider: 'paynow',
  path: 'paynow',
  tokenInPath: false,
  claim(req) {
    const reference = referenceFromPaynowUpdate(req.rawBody.toString('utf8'));
    return reference ? { by: 'reference', value: reference } : null;
  },
  unknownPayment: 'not_found',
  forged: { status: 403, code: 'invalid_signature', message: 'Paynow status update hash does not verify' },
  accepted: { status: 'accepted' },
};

/** A status update → its event, verified with this integration key. */
export function parsePaynowWebhook(req: WebhookRequest, payment: WebhookPayment | null, integrationKey: string): WebhookActionAndData {
  if (!payment) return forgedWebhook('no payment with this reference');
  try {
    const event = parsePaynowStatusUpdate(req.rawBody.toString('utf8'), integrationKey, payment.currency);
    return event.reference === payment.reference ? webhookEvent(event) : forgedWebhook('the update is about another payment');
  } catch (err) {
    if (err instanceof CallbackSignatureError) return forgedWebhook(err.message);
    if (err instanceof InvalidCallbackError) return malformedWebhook(err.message);
    throw err;
  }
}

export function createPaynowProvider(settings: PaynowSettings, deps: PaynowDeps = {}): PaymentProvider {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const baseUrl = settings.baseUrl.replace(/\/+$/, '');
  const timeoutMs = settings.requestTimeoutMs ?? PROVIDER_HTTP_TIMEOUT_MS;

  /**
   * Network failures and 5xx are the retryable kind; of those, only "never connected" and 503/429 say for sure that
   * Paynow did not take the request (ProviderUnavailableError). A 4xx means the request itself is wrong.
   */
  async function post(url: string, body: string, what: string): Promise<PaynowFields> {
    let response: Response;
    const signal = requestSignal(`Paynow ${what}`, timeoutMs);
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/x-www-form-urlencoded, text/plain' },
        body,
        signal,
      });
    } catch (cause) {
      throw requestFailure(`Paynow ${what}`, cause, signal);
    }
    const text = await response.text().catch((cause: unknown) => {
      throw new Error(`Paynow ${what}: reading the reply failed`, { cause });
    });
    if (isUnavailableStatus(response.status)) throw new ProviderUnavailableError(`Paynow ${what}: HTTP ${response.status}`);
    if (isRetryableStatus(response.status)) {
      throw new Error(`Paynow ${what}: HTTP ${response.status}`);
    }
    if (!response.ok) throw new ProviderRejectedError('paynow', `Paynow ${what}: HTTP ${response.status}`, response.status);
    return parsePaynowFields(text);
  }

  async function initiate({ amount, method, context }: InitiateInput): Promise<InitiateResult> {
    const express = EXPRESS_METHODS.has(method);
    if (!express && !WEB_METHODS.has(method)) {
      throw new ProviderRejectedError('paynow', `payment method ${method} is not a Paynow method`);
    }
    const authEmail = settings.authEmail ?? context.customerEmail;
    const fields: PaynowFields = [
      ['id', settings.integrationId],
      ['reference', context.reference],
      ['amount', toDecimalString(amount)],
      ['additionalinfo', context.description],
      ['returnurl', context.returnUrl],
      ['resulturl', context.callbackUrl],
    ];
    if (express) {
      if (!authEmail) throw new ProviderRejectedError('paynow', 'Paynow express checkout needs authemail: configure authEmail');
      if (!context.customerPhone) throw new PaymentDeclinedError('invalid_number', 'no wallet number given for Paynow express checkout');
      fields.push(['authemail', authEmail], ['phone', toPaynowPhone(context.customerPhone)], ['method', method]);
    } else if (authEmail) {
      fields.push(['authemail', authEmail]);
    }
    fields.push(['status', 'Message']);

    const path = express ? '/interface/remotetransaction' : '/interface/initiatetransaction';
    const reply = await post(`${baseUrl}${path}`, signPaynowFields(fields, settings.integrationKey), 'initiate');
    const answer = paynowFieldMap(reply);
    const status = (answer.get('status') ?? '').toLowerCase();
    if (status === 'error') {
      const text = answer.get('error') ?? 'unspecified error';
      throw declineFromErrorText(text) ?? new ProviderRejectedError('paynow', `Paynow refused the transaction: ${text}`);
    }
    // A reply that fails verification may still have started a payment; retrying would prompt the customer twice.
    if (status !== 'ok') throw new ProviderRejectedError('paynow', `Paynow initiate answered status "${answer.get('status') ?? ''}"`);
    if (!verifyPaynowHash(reply, settings.integrationKey)) {
      throw new ProviderRejectedError('paynow', 'Paynow initiate reply hash does not match (check the integration key)');
    }
    const pollUrl = answer.get('pollurl');
    if (!pollUrl) throw new ProviderRejectedError('paynow', 'Paynow initiate reply has no pollurl');

    const data: ProviderData = { pollUrl, method, reference: context.reference };
    const paynowReference = answer.get('paynowreference');
    if (paynowReference) data.paynowReference = paynowReference;
    const instructions = answer.get('instructions');
    if (instructions) data.instructions = instructions;

    let customerAction: CustomerAction = { type: 'approve_on_phone' };
    if (!express) {
      const browserUrl = answer.get('browserurl');
      if (!browserUrl) throw new ProviderRejectedError('paynow', 'Paynow web initiate reply has no browserurl');
      data.browserUrl = browserUrl;
      customerAction = { type: 'open_url', url: browserUrl };
    } else {
      const authorizationCode = answer.get('authorizationcode');
      if (authorizationCode) {
        data.authorizationCode = authorizationCode;
        const expires = answer.get('authorizationexpires');
        if (expires) data.authorizationExpires = expires;
        if (method === 'innbucks') customerAction = { type: 'open_url', url: `${INNBUCKS_DEEP_LINK}${encodeURIComponent(authorizationCode)}` };
      }
    }
    return { providerReference: pollUrl, data, customerAction };
  }

  /**
   * An express prompt whose answer was lost may be on the customer's phone: Paynow's status update (hash-verified,
   * carrying duka's reference and the poll URL) settles it. A web page or an InnBucks code nobody received cannot be
   * paid: that attempt ends, and the customer may try again.
   */
  async function recoverLost({ method }: InitiateInput): Promise<LostInitiation> {
    if (method === 'ecocash' || method === 'onemoney') return { kind: 'wait', customerAction: { type: 'approve_on_phone' } };
    return { kind: 'unusable', reason: 'provider_error', message: `Paynow's answer to the ${method} initiation was lost: the customer has no ${method === 'innbucks' ? 'authorisation code' : 'payment page'}` };
  }

  async function status(data: ProviderData, amount: Money): Promise<NormalisedPaymentEvent> {
    const pollUrl = data.pollUrl;
    if (typeof pollUrl !== 'string' || !pollUrl) throw new ProviderRejectedError('paynow', 'payment data holds no Paynow pollUrl');
    const reply = await post(pollUrl, '', 'poll');
    const fields = paynowFieldMap(reply);
    const paynowStatus = fields.get('status');
    if (!paynowStatus) throw new Error('Paynow poll answer has no status');
    if (paynowStatus.toLowerCase() === 'error') throw new Error(`Paynow poll answered an error: ${fields.get('error') ?? 'unspecified'}`);
    if (!verifyPaynowHash(reply, settings.integrationKey)) throw new Error('Paynow poll answer hash does not match');
    const reference = fields.get('reference');
    if (typeof data.reference === 'string' && reference !== undefined && reference !== data.reference) {
      throw new Error(`Paynow poll answered for reference ${reference}, expected ${data.reference}`);
    }
    const event = toEvent({ fields, status: paynowStatus }, amount.currency, pollUrl);
    if (event.status === 'succeeded' && !event.amount) throw new Error('Paynow poll reports paid without a readable amount');
    return event;
  }

  // Paynow offers no refund API (§4): refunds are done by the merchant in the Paynow dashboard.
  async function parseWebhook(req: WebhookRequest, payment: WebhookPayment | null): Promise<WebhookActionAndData> {
    return parsePaynowWebhook(req, payment, settings.integrationKey);
  }

  return { id: 'paynow', initiate, recoverLost, status, parseWebhook };
}
