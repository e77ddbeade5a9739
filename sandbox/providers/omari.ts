import { randomInt } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

/**
 * An O'mari merchant API stand-in that speaks §7 of the protocol reference over HTTP: `/auth` issues an OTP (which the
 * sandbox shows as the SMS the customer received), `/request` checks it and takes the money, `/query/{reference}`
 * reports. O'mari documents only responseCode `000`; the failure codes below are this simulator's own, and its
 * failure messages are plain wording that the provider has to classify as it would in production.
 */
export interface OmariSimulatorOptions {
  merchantKey: string;
}

export type SimulatedOmariStatus = 'Pending' | 'Success' | 'Failed';

export interface SimulatedOmariTransaction {
  reference: string;
  msisdn: string;
  amount: number;
  currency: string;
  channel: string;
  otpReference: string;
  status: SimulatedOmariStatus;
  paymentReference?: string;
  debitReference?: string;
  created: string;
}

export interface OmariOtpMessage {
  reference: string;
  msisdn: string;
  otp: string;
  otpReference: string;
  amount: number;
  currency: string;
}

export interface OmariDecline {
  stage: 'auth' | 'request';
  message: string;
  responseCode?: string;
}

export interface OmariSimulatorBehaviour {
  /** Every route answers 503. */
  down: boolean;
  /** The next answers at that stage fail with this body, e.g. `{ stage: 'request', message: 'Insufficient funds' }`. */
  declineWith: OmariDecline | null;
  /**
   * Every /auth hands out this otpReference instead of a random 4-letter one. The code is only shown beside the SMS,
   * so O'mari may give two customers the same one; this lets a test make that happen.
   */
  otpReference: string | null;
}

export interface OmariSimulatorControl {
  lastOtp(reference: string): string | undefined;
  onOtp(listener: (message: OmariOtpMessage) => void): () => void;
  transactions(): SimulatedOmariTransaction[];
  get(reference: string): SimulatedOmariTransaction | undefined;
  setBehaviour(patch: Partial<OmariSimulatorBehaviour>): void;
  behaviour(): OmariSimulatorBehaviour;
}

export interface OmariSimulator {
  router: Router;
  control: OmariSimulatorControl;
}

const SIMULATOR_CODES = { invalidRequest: '400', invalidOtp: '201', duplicate: '202', notFound: '404', declined: '300' } as const;
const MSISDN = /^2637\d{8}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';

function randomCode(alphabet: string, length: number): string {
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
}

/** `2024-09-20T16:27:40`: O'mari's local date-time without a zone. */
function localDateTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function failure(res: Response, httpStatus: number, message: string, responseCode: string): void {
  res.status(httpStatus).json({ error: true, message, responseCode });
}

export function createOmariSimulator(opts: OmariSimulatorOptions): OmariSimulator {
  const transactions = new Map<string, SimulatedOmariTransaction>();
  const otps = new Map<string, string>();
  const otpListeners = new Set<(message: OmariOtpMessage) => void>();
  let behaviour: OmariSimulatorBehaviour = { down: false, declineWith: null, otpReference: null };

  const declineAt = (stage: OmariDecline['stage']) => (behaviour.declineWith?.stage === stage ? behaviour.declineWith : null);

  const router = express.Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (behaviour.down) return void res.status(503).type('text/plain').send('Service Unavailable');
    if (req.get('x-merchant-key') !== opts.merchantKey) return failure(res, 401, 'Invalid merchant key', SIMULATOR_CODES.invalidRequest);
    next();
  });
  router.use(express.json({ limit: '16kb' }));

  router.post('/auth', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { msisdn, reference, amount, currency, channel } = body;
    if (typeof msisdn !== 'string' || !MSISDN.test(msisdn)) return failure(res, 400, 'Invalid msisdn', SIMULATOR_CODES.invalidRequest);
    if (typeof reference !== 'string' || !UUID.test(reference)) return failure(res, 400, 'Invalid reference: must be a UUID', SIMULATOR_CODES.invalidRequest);
    if (typeof amount !== 'number' || !(amount > 0) || !/^\d+(\.\d{1,2})?$/.test(String(amount))) {
      return failure(res, 400, 'Invalid amount', SIMULATOR_CODES.invalidRequest);
    }
    if (currency !== 'USD' && currency !== 'ZWG') return failure(res, 400, 'Invalid currency', SIMULATOR_CODES.invalidRequest);
    if (channel !== 'WEB' && channel !== 'POS') return failure(res, 400, 'Invalid channel', SIMULATOR_CODES.invalidRequest);
    if (transactions.has(reference)) return failure(res, 200, 'Duplicate reference', SIMULATOR_CODES.duplicate);
    const decline = declineAt('auth');
    if (decline) return failure(res, 200, decline.message, decline.responseCode ?? SIMULATOR_CODES.declined);

    const t: SimulatedOmariTransaction = {
      reference,
      msisdn,
      amount,
      currency,
      channel,
      otpReference: behaviour.otpReference ?? randomCode(LETTERS, 4),
      status: 'Pending',
      created: localDateTime(new Date()),
    };
    const otp = String(randomInt(0, 1_000_000)).padStart(6, '0');
    transactions.set(reference, t);
    otps.set(reference, otp);
    res.json({ error: false, message: 'Auth Success', responseCode: '000', otpReference: t.otpReference });
    for (const listener of otpListeners) listener({ reference, msisdn, otp, otpReference: t.otpReference, amount, currency });
  });

  router.post('/request', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { msisdn, reference, otp } = body;
    if (typeof reference !== 'string' || typeof msisdn !== 'string' || typeof otp !== 'string') {
      return failure(res, 400, 'msisdn, reference and otp are required', SIMULATOR_CODES.invalidRequest);
    }
    const t = transactions.get(reference);
    if (!t || t.msisdn !== msisdn) return failure(res, 404, 'Transaction not found', SIMULATOR_CODES.notFound);
    if (t.status !== 'Pending') return failure(res, 200, `Transaction already processed: ${t.status}`, SIMULATOR_CODES.duplicate);
    if (otps.get(reference) !== otp) return failure(res, 200, 'Invalid OTP', SIMULATOR_CODES.invalidOtp);
    const decline = declineAt('request');
    if (decline) {
      t.status = 'Failed';
      return failure(res, 200, decline.message, decline.responseCode ?? SIMULATOR_CODES.declined);
    }
    t.status = 'Success';
    t.paymentReference = randomCode(`${LETTERS}0123456789`, 10);
    t.debitReference = randomCode('0123456789abcdef', 12);
    res.json({ error: false, message: 'Payment Success', responseCode: '000', paymentReference: t.paymentReference, debitReference: t.debitReference });
  });

  router.get('/query/:reference', (req, res) => {
    const t = transactions.get(req.params.reference);
    if (!t) return failure(res, 404, 'Transaction not found', SIMULATOR_CODES.notFound);
    res.json({
      error: false,
      message: 'Transaction found',
      status: t.status,
      responseCode: '000',
      reference: t.reference,
      amount: t.amount,
      currency: t.currency,
      channel: t.channel,
      paymentReference: t.paymentReference ?? null,
      debitReference: t.debitReference ?? null,
      created: t.created,
    });
  });

  const control: OmariSimulatorControl = {
    lastOtp: (reference) => otps.get(reference),
    onOtp(listener) {
      otpListeners.add(listener);
      return () => {
        otpListeners.delete(listener);
      };
    },
    transactions: () => [...transactions.values()].map((t) => ({ ...t })),
    get: (reference) => {
      const t = transactions.get(reference);
      return t && { ...t };
    },
    setBehaviour(patch) {
      behaviour = { ...behaviour, ...patch };
    },
    behaviour: () => ({ ...behaviour }),
  };
  return { router, control };
}
