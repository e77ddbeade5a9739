import { randomInt, randomUUID } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import {
  paynowFieldMap,
  paynowHash,
  parsePaynowFields,
  signPaynowFields,
  verifyPaynowHash,
  type PaynowFields,
} from '../../providers/payments/paynow.ts';

/**
 * A Paynow stand-in that speaks §4 of the protocol reference over HTTP: hashed form-encoded initiate replies, a poll URL,
 * status updates POSTed to the merchant's resulturl, and a small hosted page for web payments. Tests drive it through
 * `control`; the browser sandbox does the same from its UI.
 */
export interface PaynowSimulatorOptions {
  integrationId: string;
  integrationKey: string;
  fetch?: typeof fetch;
  /** Public base of the mounted router; by default taken from each request's host and mount path. */
  publicUrl?: string;
}

export type SimulatedPaynowStatus = 'Created' | 'Sent' | 'Paid' | 'Cancelled' | 'Failed';
export type PaynowOutcome = 'Paid' | 'Cancelled' | 'Failed';

export interface SimulatedPaynowTransaction {
  pollId: string;
  paynowReference: string;
  reference: string;
  amount: string;
  /** `web` for the hosted page, otherwise the express checkout method (ecocash, onemoney, innbucks, …). */
  method: string;
  phone?: string;
  authEmail?: string;
  additionalInfo: string;
  returnUrl: string;
  resultUrl: string;
  pollUrl: string;
  browserUrl?: string;
  authorizationCode?: string;
  status: SimulatedPaynowStatus;
  createdAt: string;
}

export interface PaynowSimulatorBehaviour {
  /** Status changes but no update reaches the resulturl: the merchant must poll. */
  dropCallbacks: boolean;
  /** Every update is POSTed twice, as Paynow may resend. */
  duplicateCallbacks: boolean;
  callbackDelayMs: number;
  /** Paynow resends on an HTTP error up to 10 times (§4.4); this is the pause between tries. */
  callbackRetryDelayMs: number;
  /** Every route answers 503. */
  down: boolean;
  /** Each new transaction ends on its own with this outcome. */
  autoComplete: { status: PaynowOutcome; afterMs?: number } | null;
}

export interface PaynowCallbackAttempt {
  pollId: string;
  status: SimulatedPaynowStatus;
  attempt: number;
  httpStatus?: number;
  error?: string;
  at: string;
}

export interface PaynowSimulatorControl {
  pending(): SimulatedPaynowTransaction[];
  transactions(): SimulatedPaynowTransaction[];
  get(pollId: string): SimulatedPaynowTransaction | undefined;
  onInitiate(listener: (transaction: SimulatedPaynowTransaction) => void): () => void;
  /** Ends a transaction and POSTs the hashed status update; resolves once delivery (with resends) is over. */
  complete(pollId: string, outcome: { status: PaynowOutcome; amount?: string }): Promise<void>;
  setBehaviour(patch: Partial<PaynowSimulatorBehaviour>): void;
  behaviour(): PaynowSimulatorBehaviour;
  callbacks(): PaynowCallbackAttempt[];
}

export interface PaynowSimulator {
  router: Router;
  control: PaynowSimulatorControl;
}

const EXPRESS_METHODS = new Set(['ecocash', 'onemoney', 'innbucks', 'zimswitch', 'vmc', 'paygo', 'omari']);
const WALLET_METHODS = new Set(['ecocash', 'onemoney']);
/** Paynow's test-mode number that fails at once with "Insufficient balance" (§4.3). */
const INSUFFICIENT_BALANCE_NUMBER = '0774444444';
const MAX_CALLBACK_ATTEMPTS = 10;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const DEFAULT_BEHAVIOUR: PaynowSimulatorBehaviour = {
  dropCallbacks: false,
  duplicateCallbacks: false,
  callbackDelayMs: 0,
  callbackRetryDelayMs: 1000,
  down: false,
  autoComplete: null,
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `d-MMM-yyyy HH:mm`, the format of Innbucks' authorizationexpires. */
function paynowExpiry(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getDate()}-${MONTHS[date.getMonth()]}-${date.getFullYear()} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function isHttpUrl(text: string | undefined): boolean {
  if (!text) return false;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function sendForm(res: Response, body: string, httpStatus = 200): void {
  res.status(httpStatus).type('application/x-www-form-urlencoded').send(body);
}

function sendError(res: Response, message: string): void {
  sendForm(res, new URLSearchParams([['status', 'Error'], ['error', message]]).toString());
}

export function createPaynowSimulator(opts: PaynowSimulatorOptions): PaynowSimulator {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const transactions = new Map<string, SimulatedPaynowTransaction>();
  const initiateListeners = new Set<(transaction: SimulatedPaynowTransaction) => void>();
  const callbackLog: PaynowCallbackAttempt[] = [];
  let behaviour: PaynowSimulatorBehaviour = { ...DEFAULT_BEHAVIOUR };
  let nextPaynowReference = 9510 + randomInt(1000);

  const sign = (fields: PaynowFields) => signPaynowFields(fields, opts.integrationKey);
  const publicBase = (req: Request) => (opts.publicUrl ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`).replace(/\/+$/, '');
  const snapshot = (t: SimulatedPaynowTransaction): SimulatedPaynowTransaction => ({ ...t });

  function statusFields(t: SimulatedPaynowTransaction): PaynowFields {
    return [
      ['reference', t.reference],
      ['amount', t.amount],
      ['paynowreference', t.paynowReference],
      ['pollurl', t.pollUrl],
      ['status', t.status],
    ];
  }

  async function postUpdate(t: SimulatedPaynowTransaction, body: string): Promise<void> {
    for (let attempt = 1; attempt <= MAX_CALLBACK_ATTEMPTS; attempt += 1) {
      const entry: PaynowCallbackAttempt = { pollId: t.pollId, status: t.status, attempt, at: new Date().toISOString() };
      callbackLog.push(entry);
      try {
        const response = await doFetch(t.resultUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        entry.httpStatus = response.status;
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return;
      } catch (error) {
        entry.error = error instanceof Error ? error.message : String(error);
      }
      if (attempt < MAX_CALLBACK_ATTEMPTS) await sleep(behaviour.callbackRetryDelayMs);
    }
  }

  async function deliver(t: SimulatedPaynowTransaction): Promise<void> {
    if (behaviour.dropCallbacks) return;
    const body = sign(statusFields(t));
    const copies = behaviour.duplicateCallbacks ? 2 : 1;
    if (behaviour.callbackDelayMs > 0) await sleep(behaviour.callbackDelayMs);
    for (let i = 0; i < copies; i += 1) await postUpdate(t, body);
  }

  async function complete(pollId: string, outcome: { status: PaynowOutcome; amount?: string }): Promise<void> {
    const t = transactions.get(pollId);
    if (!t) throw new Error(`no simulated Paynow transaction ${pollId}`);
    if (t.status !== 'Created' && t.status !== 'Sent') throw new Error(`Paynow transaction ${pollId} is already ${t.status}`);
    t.status = outcome.status;
    if (outcome.amount !== undefined) t.amount = outcome.amount;
    await deliver(t);
  }

  /** Validates an initiate message the way Paynow would; returns the error text or the accepted fields. */
  function checkInitiate(body: string, express: boolean): string | Map<string, string> {
    const pairs = parsePaynowFields(body);
    const fields = paynowFieldMap(pairs);
    if (fields.get('id') !== opts.integrationId) return 'Invalid Id.';
    if (!fields.get('hash')) return 'Missing hash';
    if (!verifyPaynowHash(pairs, opts.integrationKey)) {
      return `Invalid Hash. Hash should start with: ${paynowHash(pairs, opts.integrationKey).slice(0, 6)}`;
    }
    if (fields.get('status') !== 'Message') return 'Invalid status: expected Message';
    if (!fields.get('reference')) return 'Missing reference';
    const amount = fields.get('amount') ?? '';
    if (!/^\d+(\.\d{1,2})?$/.test(amount) || Number(amount) <= 0) return 'Invalid amount';
    if (!isHttpUrl(fields.get('resulturl'))) return 'Invalid resulturl';
    if (!isHttpUrl(fields.get('returnurl'))) return 'Invalid returnurl';
    if (express) {
      const method = fields.get('method') ?? '';
      if (!EXPRESS_METHODS.has(method)) return `Invalid payment method: ${method}`;
      if (!fields.get('authemail')) return 'authemail is required for express checkout';
      if (WALLET_METHODS.has(method) || method === 'innbucks') {
        const phone = fields.get('phone') ?? '';
        if (!/^07\d{8}$/.test(phone)) return 'Invalid mobile phone number';
        if (phone === INSUFFICIENT_BALANCE_NUMBER) return 'Insufficient balance';
      }
    }
    return fields;
  }

  function handleInitiate(express: boolean) {
    return (req: Request, res: Response) => {
      const checked = checkInitiate(typeof req.body === 'string' ? req.body : '', express);
      if (typeof checked === 'string') return sendError(res, checked);
      const base = publicBase(req);
      const pollId = randomUUID();
      const method = express ? (checked.get('method') ?? '') : 'web';
      const t: SimulatedPaynowTransaction = {
        pollId,
        paynowReference: String(nextPaynowReference++),
        reference: checked.get('reference') ?? '',
        amount: checked.get('amount') ?? '',
        method,
        additionalInfo: checked.get('additionalinfo') ?? '',
        returnUrl: checked.get('returnurl') ?? '',
        resultUrl: checked.get('resulturl') ?? '',
        pollUrl: `${base}/Interface/CheckPayment/?guid=${pollId}`,
        status: express ? 'Sent' : 'Created',
        createdAt: new Date().toISOString(),
      };
      const phone = checked.get('phone');
      if (phone) t.phone = phone;
      const authEmail = checked.get('authemail');
      if (authEmail) t.authEmail = authEmail;

      const reply: PaynowFields = [['status', 'Ok']];
      if (!express) {
        t.browserUrl = `${base}/Payment/ConfirmPayment/${pollId}`;
        reply.push(['browserurl', t.browserUrl]);
      } else if (method === 'innbucks') {
        t.authorizationCode = String(randomInt(100_000_000, 1_000_000_000));
        reply.push(['instructions', `Open InnBucks and pay with code ${t.authorizationCode}`]);
      } else {
        reply.push(['instructions', `Approve the payment of ${t.amount} on the phone ${t.phone ?? ''} with your PIN`]);
      }
      reply.push(['pollurl', t.pollUrl], ['paynowreference', t.paynowReference]);
      if (t.authorizationCode) {
        reply.push(['authorizationcode', t.authorizationCode], ['authorizationexpires', paynowExpiry(new Date(Date.now() + 15 * 60_000))]);
      }
      transactions.set(pollId, t);
      sendForm(res, sign(reply));

      for (const listener of initiateListeners) listener(snapshot(t));
      const auto = behaviour.autoComplete;
      if (auto) {
        setTimeout(() => {
          complete(pollId, { status: auto.status }).catch(() => undefined);
        }, auto.afterMs ?? 0).unref();
      }
    };
  }

  const router = express.Router();
  router.use((_req, res, next) => {
    if (behaviour.down) res.status(503).type('text/plain').send('Service Unavailable');
    else next();
  });
  const formText = express.text({ type: () => true, limit: '64kb' });
  const formFields = express.urlencoded({ extended: false, limit: '16kb' });

  router.post('/interface/initiatetransaction', formText, handleInitiate(false));
  router.post('/interface/remotetransaction', formText, handleInitiate(true));

  router.post('/interface/checkpayment', (req, res) => {
    const t = typeof req.query.guid === 'string' ? transactions.get(req.query.guid) : undefined;
    if (!t) return sendError(res, 'Transaction not found');
    sendForm(res, sign([
      ['reference', t.reference],
      ['paynowreference', t.paynowReference],
      ['amount', t.amount],
      ['status', t.status],
      ['pollurl', t.pollUrl],
    ]));
  });

  router.get('/payment/confirmpayment/:pollId', (req, res) => {
    const t = transactions.get(req.params.pollId);
    if (!t) return res.status(404).type('text/plain').send('Unknown payment');
    const open = t.status === 'Created' || t.status === 'Sent';
    const action = `${req.baseUrl}/Payment/ConfirmPayment/${encodeURIComponent(t.pollId)}`;
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Paynow (sandbox)</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem}</style></head>
<body><h1>Paynow sandbox</h1>
<p>Payment <strong>${escapeHtml(t.reference)}</strong>, amount ${escapeHtml(t.amount)}</p>
<p>${escapeHtml(t.additionalInfo)}</p>
${open
    ? `<form method="post" action="${escapeHtml(action)}">
<button name="action" value="pay">Pay</button><button name="action" value="cancel">Cancel</button></form>`
    : `<p>This payment is ${escapeHtml(t.status)}.</p><p><a href="${escapeHtml(t.returnUrl)}">Back to the shop</a></p>`}
</body></html>`);
  });

  router.post('/payment/confirmpayment/:pollId', formFields, (req, res) => {
    const t = transactions.get(req.params.pollId);
    if (!t) return res.status(404).type('text/plain').send('Unknown payment');
    const choice = (req.body as Record<string, unknown> | undefined)?.action;
    if (t.status === 'Created' || t.status === 'Sent') {
      // The status changes at once; the browser need not wait for the update to reach the merchant.
      complete(t.pollId, { status: choice === 'pay' ? 'Paid' : 'Cancelled' }).catch(() => undefined);
    }
    res.redirect(303, t.returnUrl);
  });

  const control: PaynowSimulatorControl = {
    pending: () => [...transactions.values()].filter((t) => t.status === 'Created' || t.status === 'Sent').map(snapshot),
    transactions: () => [...transactions.values()].map(snapshot),
    get: (pollId) => {
      const t = transactions.get(pollId);
      return t && snapshot(t);
    },
    onInitiate(listener) {
      initiateListeners.add(listener);
      return () => {
        initiateListeners.delete(listener);
      };
    },
    complete,
    setBehaviour(patch) {
      behaviour = { ...behaviour, ...patch };
    },
    behaviour: () => ({ ...behaviour }),
    callbacks: () => callbackLog.map((entry) => ({ ...entry })),
  };
  return { router, control };
}
