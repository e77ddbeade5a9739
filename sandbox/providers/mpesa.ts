import { randomBytes, randomInt } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { requireBearer } from './bearer.ts';
import { WebhookDeliveries, type CallbackBehaviour, type WebhookOutcome } from './records.ts';

/**
 * A Daraja look-alike (protocols.md §5) that speaks the real wire format over HTTP: OAuth, STK push, STK query and
 * the callback to CallBackURL. Tests point the provider at it; the browser sandbox plays the customer's phone with it.
 */

export interface MpesaSimulatorOptions {
  consumerKey: string;
  consumerSecret: string;
  shortcode: string;
  passkey: string;
  /** Used to POST callbacks. */
  fetch?: typeof fetch;
  tokenLifetimeSeconds?: number;
}

export interface StkPush {
  checkoutRequestId: string;
  merchantRequestId: string;
  transactionType: string;
  /** Whole shillings, as Daraja takes them. */
  amount: number;
  phoneNumber: string;
  partyB: string;
  callbackUrl: string;
  accountReference: string;
  transactionDesc: string;
  timestamp: string;
  createdAt: Date;
}

export interface StkOutcome {
  resultCode: number;
  receipt?: string;
  /** Whole shillings reported in the callback; the pushed amount unless a test wants a mismatch. */
  amount?: number;
}

export interface StkResult extends StkPush {
  resultCode: number;
  resultDesc: string;
  receipt?: string;
  paidAmount?: number;
  completedAt: Date;
}

export interface MpesaSimulatorBehaviour extends CallbackBehaviour {
  /** Each new push completes by itself, as if the customer answered the prompt. */
  autoComplete?: { resultCode: number; afterMs: number } | null;
  /**
   * The push is taken at once (the prompt is on the phone) but Daraja's answer to it comes this much later: longer than
   * the client waits, it is the answer lost on the way. Unset or 0: answered at once.
   */
  pushAnswerDelayMs?: number;
  /**
   * A prompt nobody answers expires on the phone, as Daraja's do after about a minute: the push completes with
   * `resultCode`, the callback is sent and the STK query answers that code from then on. null: prompts wait for ever
   * (a bench that keeps payments open).
   */
  promptExpiry?: { afterMs: number; resultCode: number } | null;
}

/** Daraja: 1037 "DS timeout user cannot be reached" once the customer has not answered the prompt for 60 s. */
export const DARAJA_PROMPT_EXPIRY = { afterMs: 60_000, resultCode: 1037 } as const;

export interface CallbackDelivery extends WebhookOutcome {
  url: string;
  at: Date;
}

export interface MpesaSimulatorControl {
  pending(): StkPush[];
  result(checkoutRequestId: string): StkResult | undefined;
  onPush(listener: (push: StkPush) => void): () => void;
  /** Records the outcome (STK query answers it from now on) and POSTs the callback unless `sendCallback: false` or dropCallbacks. */
  complete(checkoutRequestId: string, outcome: StkOutcome, options?: { sendCallback?: boolean }): Promise<CallbackDelivery[]>;
  setBehaviour(behaviour: MpesaSimulatorBehaviour): void;
  behaviour(): MpesaSimulatorBehaviour;
  deliveries(): CallbackDelivery[];
  /** Stops pending auto-completions. */
  close(): void;
}

export interface MpesaSimulator {
  router: Router;
  control: MpesaSimulatorControl;
}

/** Wording after Daraja's result descriptions; only the codes are what integrations rely on. */
const RESULT_DESCRIPTIONS: Record<number, string> = {
  0: 'The service request is processed successfully.',
  1: 'The balance is insufficient for the transaction.',
  2: 'Declined due to limit rule: less than the minimum transaction amount.',
  3: 'Declined due to limit rule: greater than the maximum transaction amount.',
  4: 'Declined due to limit rule: would exceed daily transfer limit.',
  17: 'Rule limited.',
  1001: 'Unable to lock subscriber, a transaction is already in process for the current subscriber',
  1019: 'Transaction has expired',
  1025: 'An error occurred while sending a push request',
  1032: 'Request cancelled by user',
  1037: 'DS timeout user cannot be reached',
  2001: 'The initiator information is invalid.',
};

const KENYAN_MSISDN = /^254(7|1)\d{8}$/;
const TRANSACTION_TYPES = new Set(['CustomerPayBillOnline', 'CustomerBuyGoodsOnline']);

const nairobiClock = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Africa/Nairobi',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

function nairobiParts(at: Date): Record<string, string> {
  return Object.fromEntries(nairobiClock.formatToParts(at).map((p) => [p.type, p.value]));
}

function isCalendarTimestamp(value: string): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day && d.getUTCHours() === hour && d.getUTCMinutes() === minute;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function randomCode(length: number): string {
  return Array.from(randomBytes(length), (b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
}

function digits(length: number): string {
  return Array.from({ length }, () => randomInt(10)).join('');
}

function requestId(): string {
  return `${randomInt(10_000, 99_999)}-${randomInt(1_000_000, 9_999_999)}-1`;
}

function asDigits(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return value;
  return undefined;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createMpesaSimulator(opts: MpesaSimulatorOptions): MpesaSimulator {
  const tokenLifetime = opts.tokenLifetimeSeconds ?? 3599;
  const tokens = new Map<string, number>();
  const pushes = new Map<string, StkPush>();
  const results = new Map<string, StkResult>();
  const listeners = new Set<(push: StkPush) => void>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const deliveries = new WebhookDeliveries<CallbackDelivery>(opts.fetch);
  let behaviour: MpesaSimulatorBehaviour = { promptExpiry: DARAJA_PROMPT_EXPIRY };

  const darajaError = (res: Response, status: number, errorCode: string, errorMessage: string) =>
    res.status(status).json({ requestId: requestId(), errorCode, errorMessage });
  const invalid = (res: Response, field: string) => darajaError(res, 400, '400.002.02', `Bad Request - Invalid ${field}`);

  /** An access token from /oauth/v1/generate that has not expired. */
  const bearer = requireBearer(
    (token) => {
      const expiresAt = tokens.get(token);
      return expiresAt !== undefined && expiresAt >= Date.now();
    },
    (res, token) =>
      token === undefined ? darajaError(res, 401, '404.001.04', 'Invalid Authentication Header') : darajaError(res, 401, '404.001.03', 'Invalid Access Token'),
  );

  function merchantOk(body: Record<string, unknown>, res: Response): boolean {
    if (asDigits(body.BusinessShortCode) !== opts.shortcode) {
      invalid(res, 'BusinessShortCode');
      return false;
    }
    if (typeof body.Timestamp !== 'string' || !isCalendarTimestamp(body.Timestamp)) {
      invalid(res, 'Timestamp');
      return false;
    }
    const expected = Buffer.from(`${opts.shortcode}${opts.passkey}${body.Timestamp}`).toString('base64');
    if (body.Password !== expected) {
      darajaError(res, 500, '500.001.1001', 'Wrong credentials');
      return false;
    }
    return true;
  }

  function callbackBody(result: StkResult): unknown {
    const stkCallback: Record<string, unknown> = {
      MerchantRequestID: result.merchantRequestId,
      CheckoutRequestID: result.checkoutRequestId,
      ResultCode: result.resultCode,
      ResultDesc: result.resultDesc,
    };
    if (result.resultCode === 0) {
      const p = nairobiParts(result.completedAt);
      stkCallback.CallbackMetadata = {
        Item: [
          { Name: 'Amount', Value: result.paidAmount ?? result.amount },
          { Name: 'MpesaReceiptNumber', Value: result.receipt },
          { Name: 'Balance' },
          { Name: 'TransactionDate', Value: Number(`${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}`) },
          { Name: 'PhoneNumber', Value: Number(result.phoneNumber) },
        ],
      };
    }
    return { Body: { stkCallback } };
  }

  function deliver(url: string, body: string): Promise<CallbackDelivery> {
    return deliveries.deliver({ url, at: new Date() }, url, { 'content-type': 'application/json' }, body);
  }

  const control: MpesaSimulatorControl = {
    pending: () => [...pushes.values()].map((push) => ({ ...push })),
    result: (id) => {
      const result = results.get(id);
      return result && { ...result };
    },
    onPush(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async complete(checkoutRequestId, outcome, options = {}) {
      const push = pushes.get(checkoutRequestId);
      if (!push) {
        throw new Error(results.has(checkoutRequestId) ? `STK push ${checkoutRequestId} is already complete` : `no STK push ${checkoutRequestId}`);
      }
      pushes.delete(checkoutRequestId);
      const result: StkResult = {
        ...push,
        resultCode: outcome.resultCode,
        resultDesc: RESULT_DESCRIPTIONS[outcome.resultCode] ?? 'The transaction could not be processed.',
        completedAt: new Date(),
      };
      if (outcome.resultCode === 0) {
        result.receipt = outcome.receipt ?? `T${randomCode(9)}`;
        result.paidAmount = outcome.amount ?? push.amount;
      }
      results.set(checkoutRequestId, result);

      const { dropCallbacks, duplicateCallbacks, callbackDelayMs } = behaviour;
      if (options.sendCallback === false || dropCallbacks) return [];
      if (callbackDelayMs) await sleep(callbackDelayMs);
      const body = JSON.stringify(callbackBody(result));
      const sent = [await deliver(push.callbackUrl, body)];
      if (duplicateCallbacks) sent.push(await deliver(push.callbackUrl, body));
      return sent;
    },
    setBehaviour(next) {
      behaviour = { ...behaviour, ...next };
    },
    behaviour: () => ({ ...behaviour }),
    deliveries: () => deliveries.list(),
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };

  const router = express.Router();

  router.use((_req: Request, res: Response, next: NextFunction) => {
    if (behaviour.down) {
      res.status(503).type('text/plain').send('Service Unavailable');
      return;
    }
    next();
  });

  router.get('/oauth/v1/generate', (req: Request, res: Response) => {
    if (req.query.grant_type !== 'client_credentials') return darajaError(res, 400, '400.008.02', 'Invalid grant type passed');
    const match = /^Basic (\S+)$/.exec(req.get('authorization') ?? '');
    if (!match) return darajaError(res, 400, '400.008.01', 'Invalid Authentication passed');
    const expected = Buffer.from(`${opts.consumerKey}:${opts.consumerSecret}`).toString('base64');
    if (match[1] !== expected) return darajaError(res, 400, '400.008.01', 'Invalid Authentication passed');
    const token = randomBytes(21).toString('base64url');
    tokens.set(token, Date.now() + tokenLifetime * 1000);
    // Older Daraja answers carry expires_in as a string; clients must cope with it.
    return res.json({ access_token: token, expires_in: String(tokenLifetime) });
  });

  router.use('/mpesa', express.json());

  router.post('/mpesa/stkpush/v1/processrequest', bearer, (req: Request, res: Response) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return darajaError(res, 400, '400.002.05', 'Invalid Request Payload');
    if (!merchantOk(body, res)) return;
    if (typeof body.TransactionType !== 'string' || !TRANSACTION_TYPES.has(body.TransactionType)) return invalid(res, 'TransactionType');
    const amount = typeof body.Amount === 'string' && /^\d+$/.test(body.Amount) ? Number(body.Amount) : body.Amount;
    if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1) return invalid(res, 'Amount');
    const partyA = asDigits(body.PartyA);
    if (!partyA || !KENYAN_MSISDN.test(partyA)) return invalid(res, 'PartyA');
    const partyB = asDigits(body.PartyB);
    if (!partyB) return invalid(res, 'PartyB');
    const phone = asDigits(body.PhoneNumber);
    if (!phone || !KENYAN_MSISDN.test(phone)) return invalid(res, 'PhoneNumber');
    if (!isHttpUrl(body.CallBackURL)) return invalid(res, 'CallBackURL');
    if (typeof body.AccountReference !== 'string' || body.AccountReference === '' || body.AccountReference.length > 12) return invalid(res, 'AccountReference');
    const desc = body.TransactionDesc ?? '';
    if (typeof desc !== 'string' || desc.length > 13) return invalid(res, 'TransactionDesc');

    const now = new Date();
    const p = nairobiParts(now);
    const push: StkPush = {
      checkoutRequestId: `ws_CO_${p.day}${p.month}${p.year}${p.hour}${p.minute}${p.second}${digits(11)}`,
      merchantRequestId: `${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}-${randomBytes(8).toString('hex')}`,
      transactionType: body.TransactionType,
      amount,
      phoneNumber: phone,
      partyB,
      callbackUrl: body.CallBackURL,
      accountReference: body.AccountReference,
      transactionDesc: desc,
      timestamp: body.Timestamp as string,
      createdAt: now,
    };
    pushes.set(push.checkoutRequestId, push);
    const answer = () => {
      if (res.destroyed || res.writableEnded) return;
      res.json({
        MerchantRequestID: push.merchantRequestId,
        CheckoutRequestID: push.checkoutRequestId,
        ResponseCode: '0',
        ResponseDescription: 'Success. Request accepted for processing',
        CustomerMessage: 'Success. Request accepted for processing',
      });
    };
    const answerDelay = behaviour.pushAnswerDelayMs ?? 0;
    if (answerDelay > 0) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, answerDelay);
      timer.unref();
      timers.add(timer);
    } else {
      answer();
    }

    for (const listener of listeners) {
      try {
        listener({ ...push });
      } catch {
        // A sandbox UI listener failing must not undo a push Daraja already accepted.
      }
    }
    const completeLater = (outcome: { resultCode: number; afterMs: number }) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (pushes.has(push.checkoutRequestId)) void control.complete(push.checkoutRequestId, { resultCode: outcome.resultCode }).catch(() => undefined);
      }, outcome.afterMs);
      timer.unref();
      timers.add(timer);
    };
    if (behaviour.autoComplete) completeLater(behaviour.autoComplete);
    if (behaviour.promptExpiry) completeLater(behaviour.promptExpiry);
  });

  router.post('/mpesa/stkpushquery/v1/query', bearer, (req: Request, res: Response) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return darajaError(res, 400, '400.002.05', 'Invalid Request Payload');
    if (!merchantOk(body, res)) return;
    const id = body.CheckoutRequestID;
    if (typeof id !== 'string') return invalid(res, 'CheckoutRequestID');
    if (pushes.has(id)) return darajaError(res, 500, '500.001.1001', 'The transaction is being processed');
    const result = results.get(id);
    if (!result) return invalid(res, 'CheckoutRequestID');
    return res.json({
      ResponseCode: '0',
      ResponseDescription: 'The service request has been accepted successfully',
      MerchantRequestID: result.merchantRequestId,
      CheckoutRequestID: result.checkoutRequestId,
      ResultCode: String(result.resultCode),
      ResultDesc: result.resultDesc,
    });
  });

  // Malformed JSON reaches here from express.json(); Daraja answers it in its own error shape.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    darajaError(res, 400, '400.002.05', 'Invalid Request Payload');
  });

  return { router, control };
}
