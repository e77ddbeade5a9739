import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../lib/config.ts';
import type { EventHub } from './events.ts';
import { createMpesaSimulator, type MpesaSimulator } from './providers/mpesa.ts';
import { createPaynowSimulator, type PaynowSimulator } from './providers/paynow.ts';
import { createOmariSimulator, type OmariSimulator } from './providers/omari.ts';
import { createShopifySimulator } from './providers/shopify.ts';
import { createRazorpaySimulator, type RazorpaySimulator } from './providers/razorpay.ts';
import { createGhalaSimulator, type GhalaSimulator } from './providers/ghala.ts';
import { HttpError } from '../api/errors.ts';

/**
 * The four payment simulators, mounted where duka's default sandbox base URLs point, with the configured credentials.
 * What reaches the customer's phone (an STK prompt, an EcoCash prompt, an O'mari SMS, a payment link) is pushed to the
 * page; the page answers through `/api/simulators/...`, and per-provider toggles make the provider misbehave.
 */
export const PROVIDERS = ['mpesa', 'paynow', 'omari', 'razorpay'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export interface Toggles {
  /** Every payment fails by itself (insufficient funds) shortly after it starts. */
  fail: boolean;
  /** Callbacks arrive late (DELAY_MS). */
  delay: boolean;
  /** Every callback is sent twice. */
  duplicate: boolean;
  /** No callback is sent: duka has to find out by polling. */
  drop: boolean;
  /** Every endpoint answers 503. */
  down: boolean;
}

/** O'mari answers synchronously (no callbacks), so only fail and down apply to it. */
export const SUPPORTED: Record<ProviderName, (keyof Toggles)[]> = {
  mpesa: ['fail', 'delay', 'duplicate', 'drop', 'down'],
  paynow: ['fail', 'delay', 'duplicate', 'drop', 'down'],
  omari: ['fail', 'down'],
  razorpay: ['fail', 'delay', 'duplicate', 'drop', 'down'],
};

export const DELAY_MS = 8_000;
const AUTO_FAIL_MS = 1_500;
export const GHALA_AUTO_APPROVE_MS = 3_000;
const MAX_PROMPTS = 200;

/** What the customer's phone or browser is asked to do. */
export type Prompt =
  | { provider: 'mpesa'; id: string; kind: 'stk'; phone: string; amount: number; currency: 'KES'; account: string; description: string; payee: string; at: number }
  | { provider: 'paynow'; id: string; kind: 'wallet' | 'innbucks' | 'web'; method: string; phone: string | null; amount: string; currency: string; reference: string; code: string | null; url: string | null; at: number }
  | { provider: 'omari'; id: string; kind: 'sms'; phone: string; otp: string; otpReference: string; amount: number; currency: string; at: number }
  | { provider: 'razorpay'; id: string; kind: 'link'; phone: string | null; amount: number; currency: string; description: string; url: string; at: number };

const toggleOff = (): Toggles => ({ fail: false, delay: false, duplicate: false, drop: false, down: false });

const MpesaAction = z.object({ action: z.enum(['pin', 'cancel', 'timeout']), pin: z.string().regex(/^\d{4}$/, 'a 4-digit PIN').optional() });
const TogglePatch = z.strictObject({
  fail: z.boolean().optional(),
  delay: z.boolean().optional(),
  duplicate: z.boolean().optional(),
  drop: z.boolean().optional(),
  down: z.boolean().optional(),
});

/** The sandbox's wrong PIN: every other four digits pay. */
export const WRONG_PIN = '0000';

export interface Simulators {
  /** Mounts /mpesa, /paynow, /omari, /razorpay and /ghala. */
  providers: Router;
  /** `/api/simulators`: state, actions and toggles for the page. */
  api: Router;
  mpesa: MpesaSimulator;
  paynow: PaynowSimulator;
  omari: OmariSimulator;
  razorpay: RazorpaySimulator;
  /** Not on the page yet: a Ghala prompt is approved by itself after GHALA_AUTO_APPROVE_MS. */
  ghala: GhalaSimulator;
  prompts(): Prompt[];
  toggles(): Record<ProviderName, Toggles>;
  close(): void;
}

export function createSimulators(opts: { config: Config; hub: EventHub; fetch: typeof fetch; log(message: string, detail?: Record<string, unknown>): void }): Simulators {
  const { config, hub } = opts;
  const base = config.publicBaseUrl;
  const mpesa = createMpesaSimulator({ ...config.mpesa, fetch: opts.fetch });
  const paynow = createPaynowSimulator({ integrationId: config.paynow.integrationId, integrationKey: config.paynow.integrationKey, fetch: opts.fetch });
  const omari = createOmariSimulator({ merchantKey: config.omari.merchantKey });
  const razorpay = createRazorpaySimulator({ ...config.razorpay, webhookUrl: `${base}/webhooks/razorpay`, fetch: opts.fetch });
  const ghala = createGhalaSimulator({ ...config.ghala, webhookUrl: `${base}/webhooks/ghala`, fetch: opts.fetch });
  // A Shopify store for every shop given `shopify` settings (SHOPIFY_BASE_URL's sandbox default points here).
  const shopify = createShopifySimulator({ acceptAnyStore: true });

  const toggles: Record<ProviderName, Toggles> = { mpesa: toggleOff(), paynow: toggleOff(), omari: toggleOff(), razorpay: toggleOff() };
  const open = new Map<string, Prompt>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const promptKey = (provider: ProviderName, id: string) => `${provider}:${id}`;

  function later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
  }

  function opened(prompt: Prompt): void {
    if (open.size >= MAX_PROMPTS) open.delete(open.keys().next().value as string);
    open.set(promptKey(prompt.provider, prompt.id), prompt);
    hub.publish({ event: 'prompt', data: prompt });
  }

  function closed(provider: ProviderName, id: string, outcome: string): void {
    open.delete(promptKey(provider, id));
    hub.publish({ event: 'prompt-closed', data: { provider, id, outcome } });
  }

  /** Runs a completion in the background (callbacks may be delayed or resent) and logs what went wrong. */
  function background(what: string, run: () => Promise<unknown>): void {
    run().catch((err: unknown) => opts.log(`${what} failed`, { error: err instanceof Error ? err.message : String(err) }));
  }

  mpesa.control.onPush((push) => {
    opened({ provider: 'mpesa', id: push.checkoutRequestId, kind: 'stk', phone: push.phoneNumber, amount: push.amount, currency: 'KES', account: push.accountReference, description: push.transactionDesc, payee: push.partyB, at: Date.now() });
  });
  paynow.control.onInitiate((t) => {
    const kind = t.method === 'web' ? 'web' : t.method === 'innbucks' ? 'innbucks' : 'wallet';
    // Paynow takes local numbers (07…); the page knows its customer by the international form.
    const phone = t.phone ? `263${t.phone.replace(/^0/, '')}` : null;
    opened({ provider: 'paynow', id: t.pollId, kind, method: t.method, phone, amount: t.amount, currency: 'USD', reference: t.reference, code: t.authorizationCode ?? null, url: t.browserUrl ?? null, at: Date.now() });
  });
  omari.control.onOtp((m) => {
    opened({ provider: 'omari', id: m.reference, kind: 'sms', phone: m.msisdn, otp: m.otp, otpReference: m.otpReference, amount: m.amount, currency: m.currency, at: Date.now() });
  });
  razorpay.control.onLink((link) => {
    const contact = Array.isArray(link.customer) ? undefined : link.customer.contact;
    opened({ provider: 'razorpay', id: link.id, kind: 'link', phone: contact ? contact.replace(/\D/g, '') : null, amount: link.amount, currency: link.currency, description: link.description, url: link.short_url, at: Date.now() });
    if (toggles.razorpay.fail) later(AUTO_FAIL_MS, () => background('razorpay auto-fail', () => razorpay.control.fail(link.id, { reason: 'insufficient_funds', description: 'The account has insufficient balance.' })));
  });

  ghala.control.onOrder((order) => later(GHALA_AUTO_APPROVE_MS, () => background('Ghala approval', () => ghala.control.complete(order.id))));

  function apply(provider: ProviderName): void {
    const t = toggles[provider];
    const delay = t.delay ? DELAY_MS : 0;
    if (provider === 'mpesa') {
      mpesa.control.setBehaviour({ down: t.down, dropCallbacks: t.drop, duplicateCallbacks: t.duplicate, callbackDelayMs: delay, autoComplete: t.fail ? { resultCode: 1, afterMs: AUTO_FAIL_MS } : null });
    } else if (provider === 'paynow') {
      paynow.control.setBehaviour({ down: t.down, dropCallbacks: t.drop, duplicateCallbacks: t.duplicate, callbackDelayMs: delay, autoComplete: t.fail ? { status: 'Failed', afterMs: AUTO_FAIL_MS } : null });
    } else if (provider === 'omari') {
      omari.control.setBehaviour({ down: t.down, declineWith: t.fail ? { stage: 'request', message: 'Insufficient funds' } : null });
    } else {
      razorpay.control.setBehaviour({ down: t.down, dropCallbacks: t.drop, duplicateCallbacks: t.duplicate, callbackDelayMs: delay });
    }
  }
  for (const p of PROVIDERS) apply(p);

  // Auto-completions and hosted pages finish prompts without the page: notice it when the page asks for the state.
  function sweep(): void {
    for (const prompt of [...open.values()]) {
      if (prompt.provider === 'mpesa' && !mpesa.control.pending().some((p) => p.checkoutRequestId === prompt.id)) {
        closed('mpesa', prompt.id, String(mpesa.control.result(prompt.id)?.resultCode ?? 'done'));
      } else if (prompt.provider === 'paynow') {
        const t = paynow.control.get(prompt.id);
        if (t && t.status !== 'Created' && t.status !== 'Sent') closed('paynow', prompt.id, t.status);
      } else if (prompt.provider === 'razorpay') {
        const link = razorpay.control.link(prompt.id);
        if (link && link.status !== 'created' && link.status !== 'partially_paid') closed('razorpay', prompt.id, link.status);
      } else if (prompt.provider === 'omari') {
        const t = omari.control.get(prompt.id);
        if (t && t.status !== 'Pending') closed('omari', prompt.id, t.status);
      }
    }
  }
  const sweeper = setInterval(sweep, 1_000);
  sweeper.unref();

  const providers = express.Router();
  providers.use('/mpesa', mpesa.router);
  providers.use('/shopify', shopify.router);
  providers.use('/paynow', paynow.router);
  providers.use('/omari', omari.router);
  providers.use('/razorpay', razorpay.router);
  providers.use('/ghala', ghala.router);

  const api = express.Router();
  api.use(express.json({ limit: '16kb' }));

  const state = () => ({ toggles, supported: SUPPORTED, wrongPin: WRONG_PIN, delayMs: DELAY_MS, prompts: [...open.values()] });
  api.get('/', (_req, res) => {
    sweep();
    res.json(state());
  });

  api.post('/:provider/behaviour', (req: Request, res: Response) => {
    const provider = providerOf(req.params.provider);
    const patch = TogglePatch.safeParse(req.body ?? {});
    if (!patch.success) throw new HttpError(400, 'invalid_request', `invalid toggles: ${patch.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    for (const [name, value] of Object.entries(patch.data) as [keyof Toggles, boolean | undefined][]) {
      if (value === undefined) continue;
      if (!SUPPORTED[provider].includes(name)) throw new HttpError(400, 'unsupported', `${provider} has no "${name}" toggle`);
      toggles[provider][name] = value;
    }
    apply(provider);
    hub.publish({ event: 'toggles', data: { provider, toggles: toggles[provider] } });
    res.json({ provider, toggles: toggles[provider] });
  });

  api.post('/mpesa/:id/:action', (req: Request, res: Response) => {
    const id = String(req.params.id);
    const parsed = MpesaAction.safeParse({ ...(req.body ?? {}), action: req.params.action });
    if (!parsed.success) throw new HttpError(400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    if (!mpesa.control.pending().some((p) => p.checkoutRequestId === id)) throw new HttpError(404, 'not_found', `no open M-Pesa prompt ${id}`);
    const { action, pin } = parsed.data;
    if (action === 'pin' && !pin) throw new HttpError(400, 'invalid_request', 'pin: a 4-digit PIN is required');
    // Daraja's codes: 0 paid, 2001 wrong PIN, 1032 cancelled by the customer, 1037 the phone did not answer.
    const resultCode = action === 'cancel' ? 1032 : action === 'timeout' ? 1037 : pin === WRONG_PIN ? 2001 : 0;
    background('M-Pesa completion', () => mpesa.control.complete(id, { resultCode }));
    closed('mpesa', id, String(resultCode));
    res.json({ provider: 'mpesa', id, resultCode });
  });

  api.post('/paynow/:id/:action', (req: Request, res: Response) => {
    const id = String(req.params.id);
    const status = ({ pay: 'Paid', cancel: 'Cancelled', fail: 'Failed' } as const)[String(req.params.action) as 'pay' | 'cancel' | 'fail'];
    if (!status) throw new HttpError(400, 'invalid_request', 'action must be pay, cancel or fail');
    const t = paynow.control.get(id);
    if (!t || (t.status !== 'Created' && t.status !== 'Sent')) throw new HttpError(404, 'not_found', `no open Paynow payment ${id}`);
    background('Paynow completion', () => paynow.control.complete(id, { status }));
    closed('paynow', id, status);
    res.json({ provider: 'paynow', id, status });
  });

  api.post('/razorpay/:id/:action', (req: Request, res: Response) => {
    const id = String(req.params.id);
    const action = String(req.params.action);
    if (action !== 'pay' && action !== 'fail') throw new HttpError(400, 'invalid_request', 'action must be pay or fail');
    const link = razorpay.control.link(id);
    if (!link || (link.status !== 'created' && link.status !== 'partially_paid')) throw new HttpError(404, 'not_found', `no payable link ${id}`);
    background('Razorpay completion', () => (action === 'pay' ? razorpay.control.pay(id) : razorpay.control.fail(id)));
    if (action === 'pay') closed('razorpay', id, 'paid');
    res.json({ provider: 'razorpay', id, action });
  });

  api.post('/omari/:id/dismiss', (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (!open.has(promptKey('omari', id))) throw new HttpError(404, 'not_found', `no O'mari SMS ${id}`);
    closed('omari', id, 'dismissed');
    res.json({ provider: 'omari', id });
  });

  api.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof HttpError)) return next(err);
    res.status(err.status).json({ error: { code: err.code, message: err.message } });
  });

  return {
    providers,
    api,
    mpesa,
    paynow,
    omari,
    razorpay,
    ghala,
    prompts: () => [...open.values()],
    toggles: () => structuredClone(toggles),
    close() {
      clearInterval(sweeper);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      mpesa.control.close();
    },
  };
}

function providerOf(value: unknown): ProviderName {
  if (typeof value === 'string' && (PROVIDERS as readonly string[]).includes(value)) return value as ProviderName;
  throw new HttpError(404, 'not_found', `no simulator ${String(value)}`);
}
