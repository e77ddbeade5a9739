import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request as HttpRequest, type Response as HttpResponse } from 'express';
import { ChatStore, type ChatEntry } from '../../sandbox/chat.ts';
import { EventHub, type ChatKey } from '../../sandbox/events.ts';
import { createGraphStandIn } from '../../sandbox/graph.ts';
import { createMpesaSimulator, type StkPush } from '../../sandbox/providers/mpesa.ts';
import { createOmariSimulator, type OmariOtpMessage } from '../../sandbox/providers/omari.ts';
import { createPaynowSimulator } from '../../sandbox/providers/paynow.ts';
import { createRazorpaySimulator } from '../../sandbox/providers/razorpay.ts';
import type { Charge } from './checks.ts';
import type { ApiPool } from './pool.ts';
import type { Random } from './random.ts';

/**
 * Everything outside duka that `npm run chaos` plays, in the chaos process itself so that no kill takes its memory:
 * the Graph API stand-in of the sandbox (it records every message and posts Meta's delivery statuses back) and the
 * four payment simulators, each answering after a provider-like delay and redelivering its callbacks the way the
 * real provider does (duplicates, late copies, retries while duka is down). Everything they send to duka goes to its
 * front address and from there to the next live API (ApiPool), each try anew. Each duka process instance is given its
 * own port of the fakes, so a provider call is known by the instance that made it (a kill at the worst moment kills
 * that one).
 */

/** Credentials duka is given (SANDBOX off refuses sandbox values) and the simulators check. */
export const CHAOS_SECRETS = {
  WHATSAPP_ACCESS_TOKEN: 'chaos-access-token',
  WHATSAPP_APP_SECRET: 'chaos-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'chaos-verify-token',
  CUSTOMER_REF_SECRET: 'chaos-customer-ref-secret',
  PAYLOAD_CODEC_KEY: '6368616f73207061796c6f6164206b65792c206e6f7420612073656372657421',
  MPESA_CONSUMER_KEY: 'chaos-mpesa-key',
  MPESA_CONSUMER_SECRET: 'chaos-mpesa-secret',
  MPESA_SHORTCODE: '174379',
  MPESA_PASSKEY: 'chaos-mpesa-passkey',
  PAYNOW_INTEGRATION_ID: '7001',
  PAYNOW_INTEGRATION_KEY: 'chaos-paynow-key',
  OMARI_MERCHANT_KEY: 'chaos-omari-key',
  RAZORPAY_KEY_ID: 'rzp_test_chaos',
  RAZORPAY_KEY_SECRET: 'chaos-razorpay-secret',
  RAZORPAY_WEBHOOK_SECRET: 'chaos-razorpay-webhook-secret',
} as const;

export type ProviderName = 'mpesa' | 'paynow' | 'omari' | 'razorpay';

/** A request duka makes that moves money or starts a charge: the worst moment to lose the worker. */
export interface ProviderCall {
  provider: ProviderName;
  path: string;
  /** `arrived`: the provider has it and has not answered; `answered`: the answer is on its way back to duka. */
  phase: 'arrived' | 'answered';
  /** The duka process instance that made the call (`worker#2`), when it came through that instance's own port. */
  caller?: string;
}

export interface OutboundRecord {
  phoneNumberId: string;
  to: string;
  wamid: string;
  body: Record<string, unknown>;
  at: number;
}

export interface FakesOptions {
  random: Random;
  /** duka's APIs: statuses, callbacks and webhooks go to the front, and from there to the next live API. */
  apis: ApiPool;
  /** duka process instances that each get a port of their own (see `envFor`). */
  callers: string[];
  /** Shops' phone_number_id → display number, for the Graph stand-in. */
  displayPhones: Map<string, string>;
  /** Provider answers take this long, uniformly (ms). */
  latencyMs: [number, number];
  /** Share of callbacks and status webhooks that are delivered a second time, a little later. */
  duplicateRate: number;
  onProviderCall?: (call: ProviderCall) => void;
}

const MONEY_CALLS: Record<ProviderName, RegExp> = {
  mpesa: /^\/mpesa\/stkpush\/v1\/processrequest$/,
  paynow: /^\/interface\/(remote|initiate)transaction$/,
  omari: /^\/(auth|request)$/,
  razorpay: /^\/v1\/(payment_links|payments\/[^/]+\/refund)$/,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The Graph stand-in shows messages in chats; this one also hands each message duka sent to the run. */
class RecordingChatStore extends ChatStore {
  private readonly onOutbound: (key: ChatKey, entry: ChatEntry) => void;
  constructor(onOutbound: (key: ChatKey, entry: ChatEntry) => void) {
    super();
    this.onOutbound = onOutbound;
  }
  override add(key: ChatKey, entry: ChatEntry): void {
    super.add(key, entry);
    if (entry.direction === 'out') this.onOutbound(key, entry);
  }
}

export interface Fakes {
  url: string;
  env: Record<string, string>;
  /** `env` with every base URL on the instance's own port (so its calls are known as its own). */
  envFor(instance: string): Record<string, string>;
  outbound: OutboundRecord[];
  outboundTo(phone: string): OutboundRecord[];
  /** Resolves on the next message duka sends (or after `ms`). */
  nextOutbound(ms: number): Promise<void>;
  /** Unix ms of the last message duka sent or provider call it made. */
  lastActivityAt(): number;
  /** Callbacks and statuses still to be (re)delivered. */
  pendingDeliveries(): number;
  mpesa: ReturnType<typeof createMpesaSimulator>['control'];
  paynow: ReturnType<typeof createPaynowSimulator>['control'];
  omari: ReturnType<typeof createOmariSimulator>['control'];
  razorpay: ReturnType<typeof createRazorpaySimulator>['control'];
  /** Every STK push so far (the simulator forgets completed ones from its pending list). */
  pushes: StkPush[];
  onOtp(listener: (message: OmariOtpMessage) => void): void;
  /** Money the simulators took, per payer. */
  charges(): Charge[];
  /** Deliveries by outcome, for the report. */
  deliveryStats(): Record<string, number>;
  /** Calls that start or move money, by the duka instance that made them (`unknown`: not through an instance's port). */
  moneyCallsBy(): Record<string, number>;
  close(): Promise<void>;
}

export async function startFakes(opts: FakesOptions): Promise<Fakes> {
  const { random } = opts;
  const outbound: OutboundRecord[] = [];
  const byPhone = new Map<string, OutboundRecord[]>();
  const waiters = new Set<() => void>();
  let lastActivity = Date.now();
  let pending = 0;
  const stats: Record<string, number> = {};
  const count = (key: string) => void (stats[key] = (stats[key] ?? 0) + 1);
  const touch = () => {
    lastActivity = Date.now();
    for (const wake of [...waiters]) wake();
  };

  /**
   * A `fetch` for callbacks: the first try is the provider's own (its answer goes back to the simulator); with
   * `retry`, a failed or non-2xx delivery is tried again in the background with growing pauses, as Meta and Razorpay
   * do; and a share of deliveries is sent once more a little later, as every one of them sometimes does.
   */
  function redelivering(name: string, retry: boolean): typeof fetch {
    /** One delivery; `drain` reads the answer (background tries), otherwise the caller does. */
    const once = async (url: string, init: RequestInit, drain: boolean): Promise<Response | Error> => {
      try {
        const res = await fetch(opts.apis.route(url).url, { ...init, signal: AbortSignal.timeout(10_000) });
        if (drain) await res.arrayBuffer().catch(() => undefined);
        count(`${name} ${res.status}`);
        return res;
      } catch (err) {
        count(`${name} unreachable`);
        return err as Error;
      }
    };
    const ok = (r: Response | Error) => !(r instanceof Error) && r.status >= 200 && r.status < 300;
    const background = (run: () => Promise<void>) => {
      pending += 1;
      void run().finally(() => (pending -= 1));
    };
    const untilDelivered = async (url: string, init: RequestInit) => {
      for (let attempt = 0; attempt < 12; attempt++) {
        await sleep(Math.min(15_000, 500 * 2 ** attempt));
        if (ok(await once(url, init, true))) return;
      }
      count(`${name} given up`);
    };
    return (async (input: string | URL | Request, init: RequestInit = {}) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
      const { signal: _signal, ...rest } = init;
      const first = await once(url, rest, false);
      if (retry && !ok(first)) background(() => untilDelivered(url, rest));
      if (random.chance(opts.duplicateRate)) {
        count(`${name} duplicated`);
        background(async () => {
          await sleep(random.between(300, 5_000));
          if (!ok(await once(url, rest, true)) && retry) await untilDelivered(url, rest);
        });
      }
      if (first instanceof Error) throw first;
      return first;
    }) as typeof fetch;
  }

  const s = CHAOS_SECRETS;
  const mpesa = createMpesaSimulator({ consumerKey: s.MPESA_CONSUMER_KEY, consumerSecret: s.MPESA_CONSUMER_SECRET, shortcode: s.MPESA_SHORTCODE, passkey: s.MPESA_PASSKEY, fetch: redelivering('M-Pesa callback', false) });
  const paynow = createPaynowSimulator({ integrationId: s.PAYNOW_INTEGRATION_ID, integrationKey: s.PAYNOW_INTEGRATION_KEY, fetch: redelivering('Paynow update', false) });
  const omari = createOmariSimulator({ merchantKey: s.OMARI_MERCHANT_KEY });
  const razorpay = createRazorpaySimulator({ keyId: s.RAZORPAY_KEY_ID, keySecret: s.RAZORPAY_KEY_SECRET, webhookSecret: s.RAZORPAY_WEBHOOK_SECRET, webhookUrl: `${opts.apis.front}/webhooks/razorpay`, fetch: redelivering('Razorpay webhook', true) });
  // Paynow resends a refused update up to 10 times on its own; Daraja never resends (duka polls).
  paynow.control.setBehaviour({ callbackRetryDelayMs: 2_000 });
  const pushes: StkPush[] = [];
  mpesa.control.onPush((push) => pushes.push(push));

  const chats = new RecordingChatStore((key, entry) => {
    const record: OutboundRecord = { phoneNumberId: key.phoneNumberId, to: key.customer, wamid: entry.id, body: entry.message, at: entry.at };
    outbound.push(record);
    const list = byPhone.get(record.to);
    if (list) list.push(record);
    else byPhone.set(record.to, [record]);
    touch();
  });
  const hub = new EventHub();
  const graph = createGraphStandIn({
    accessToken: s.WHATSAPP_ACCESS_TOKEN,
    appSecret: s.WHATSAPP_APP_SECRET,
    webhookUrl: `${opts.apis.front}/webhooks/whatsapp`,
    chats,
    hub,
    fetch: redelivering('WhatsApp status', true),
    displayPhone: (id) => opts.displayPhones.get(id),
    log: () => undefined,
  });

  /** Which instance each port of the fakes belongs to. */
  const callerByPort = new Map<number, string>();
  const moneyCalls: Record<string, number> = {};

  /** Provider-like latency before the simulator answers, and the moments the chaos may strike at. */
  const provider = (name: ProviderName) => async (req: HttpRequest, res: HttpResponse, next: NextFunction) => {
    lastActivity = Date.now();
    const caller = callerByPort.get(req.socket.localPort ?? 0);
    const call = req.method === 'POST' && MONEY_CALLS[name].test(req.path.toLowerCase()) ? { provider: name, path: req.path, ...(caller ? { caller } : {}) } : null;
    if (call) {
      moneyCalls[caller ?? 'unknown'] = (moneyCalls[caller ?? 'unknown'] ?? 0) + 1;
      opts.onProviderCall?.({ ...call, phase: 'arrived' });
      res.once('finish', () => opts.onProviderCall?.({ ...call, phase: 'answered' }));
    }
    await sleep(random.between(opts.latencyMs[0], opts.latencyMs[1]));
    next();
  };

  const app = express();
  app.use('/graph', graph.router);
  app.use('/mpesa', provider('mpesa'), mpesa.router);
  app.use('/paynow', provider('paynow'), paynow.router);
  app.use('/omari', provider('omari'), omari.router);
  app.use('/razorpay', provider('razorpay'), razorpay.router);
  const listen = (): Promise<Server> =>
    new Promise((resolve, reject) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
      srv.once('error', reject);
    });
  const portOf = (srv: Server) => (srv.address() as AddressInfo).port;
  const servers = [await listen()];
  const urlOf = new Map<string, string>();
  for (const caller of opts.callers) {
    const srv = await listen();
    servers.push(srv);
    callerByPort.set(portOf(srv), caller);
    urlOf.set(caller, `http://127.0.0.1:${portOf(srv)}`);
  }
  const url = `http://127.0.0.1:${portOf(servers[0]!)}`;
  const envAt = (base: string) => ({
    ...CHAOS_SECRETS,
    WHATSAPP_GRAPH_URL: `${base}/graph`,
    MPESA_BASE_URL: `${base}/mpesa`,
    PAYNOW_BASE_URL: `${base}/paynow`,
    OMARI_BASE_URL: `${base}/omari`,
    RAZORPAY_BASE_URL: `${base}/razorpay`,
  });

  return {
    url,
    env: envAt(url),
    envFor: (instance) => envAt(urlOf.get(instance) ?? url),
    outbound,
    outboundTo: (phone) => byPhone.get(phone) ?? [],
    nextOutbound(ms) {
      return new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        waiters.add(wake);
      });
    },
    lastActivityAt: () => lastActivity,
    pendingDeliveries: () => pending,
    mpesa: mpesa.control,
    paynow: paynow.control,
    omari: omari.control,
    razorpay: razorpay.control,
    pushes,
    onOtp: (listener) => void omari.control.onOtp(listener),
    charges() {
      const charges: Charge[] = [];
      for (const push of pushes) if (mpesa.control.result(push.checkoutRequestId)?.resultCode === 0) charges.push({ provider: 'mpesa', id: push.checkoutRequestId, phone: push.phoneNumber });
      for (const t of paynow.control.transactions()) if (t.status === 'Paid') charges.push({ provider: 'paynow', id: t.paynowReference, phone: t.phone ? `263${t.phone.replace(/^0/, '')}` : '' });
      for (const t of omari.control.transactions()) if (t.status === 'Success') charges.push({ provider: 'omari', id: t.reference, phone: t.msisdn });
      for (const link of razorpay.control.links()) {
        const contact = Array.isArray(link.customer) ? '' : (link.customer.contact ?? '').replace(/\D/g, '');
        for (const p of link.payments ?? []) if (p.status === 'captured') charges.push({ provider: 'razorpay', id: p.payment_id, phone: contact });
      }
      return charges;
    },
    deliveryStats: () => ({ ...stats }),
    moneyCallsBy: () => ({ ...moneyCalls }),
    async close() {
      graph.close();
      hub.close();
      mpesa.control.close();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}
