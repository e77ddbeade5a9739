import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Request, Response } from 'express';
import { CatalogStandIn } from '../../sandbox/catalog.ts';
import { FlowManagementStandIn } from './graph-flows.ts';
import { buildInboundWebhook, graphErrorBody, isObject, newWamid, sendBodyProblem as bodyProblem, statusUpdate, type GraphFailure, type RawStatus } from '../../sandbox/meta.ts';

/**
 * A stand-in for graph.facebook.com over real HTTP: it checks the Bearer token, validates the request body roughly the
 * way Meta does (including the interactive limits Meta enforces), records every send and answers with Meta's shapes.
 * The raw builders at the bottom produce webhook payloads exactly as Meta posts them, signed with the app secret.
 */
export interface RecordedSend {
  phoneNumberId: string;
  to: string;
  body: Record<string, unknown>;
  messageId: string;
  /** performance.now() when the request arrived. */
  receivedAt: number;
}

export interface RecordedRead {
  phoneNumberId: string;
  messageId: string;
  typing: boolean;
}

export type { GraphFailure };

type Json = Record<string, unknown>;

export interface FakeGraphApiOptions {
  /** Only this token is accepted; by default any non-empty Bearer token is. */
  accessToken?: string;
}

export interface StatusTarget {
  /** duka's `POST /webhooks/whatsapp`. */
  url: string;
  appSecret: string;
}

export interface PostedStatus {
  messageId: string;
  status: string;
  callbackData?: string;
  /** duka's answer; 0 when the post itself failed. */
  httpStatus: number;
}

export interface FakeGraphApi {
  /** Pass as `graphUrl`; any `/vNN.N/{phone_number_id}/messages` path under it is served. */
  url: string;
  /** Meta's Commerce catalogs: `items_batch`, `check_batch_request_status`, product sets (sandbox/catalog.ts). */
  catalog: CatalogStandIn;
  /** WhatsApp Flows management: flows, their JSON and status, the endpoint public keys (test/fakes/graph-flows.ts). */
  flows: FlowManagementStandIn;
  sent: RecordedSend[];
  reads: RecordedRead[];
  /** Status webhooks posted so far (see reportStatusesTo). */
  statuses: PostedStatus[];
  failNext(n: number, failure: GraphFailure): void;
  /** From now on, messages from this phone number id are accepted with this token only. */
  ownNumber(phoneNumberId: string, accessToken: string): void;
  /** The next n messages are accepted (recorded, statuses posted) but their answer never comes: the connection drops. */
  loseAnswerNext(n: number): void;
  /** The next n messages are accepted at once but answered only after `ms`. */
  delayAnswerNext(n: number, ms: number): void;
  /**
   * After each accepted message, post its `sent` status to duka as Meta does (signed, echoing the send's
   * `biz_opaque_callback_data`); null stops it. Off by default.
   */
  reportStatusesTo(target: StatusTarget | null): void;
  waitForSent(predicate: (send: RecordedSend) => boolean, timeoutMs?: number): Promise<RecordedSend>;
  /** Resolves once a status matching the predicate has been posted (and answered). */
  waitForStatus(predicate: (status: PostedStatus) => boolean, timeoutMs?: number): Promise<PostedStatus>;
  clear(): void;
  close(): Promise<void>;
}

function graphError(res: Response, failure: GraphFailure): void {
  res.status(failure.status).json(graphErrorBody(failure));
}

export async function startFakeGraphApi(options: FakeGraphApiOptions = {}): Promise<FakeGraphApi> {
  const sent: RecordedSend[] = [];
  const reads: RecordedRead[] = [];
  const failures: GraphFailure[] = [];
  const answers: ({ kind: 'lose' } | { kind: 'delay'; ms: number })[] = [];
  const statuses: PostedStatus[] = [];
  let statusTarget: StatusTarget | null = null;
  const waiters = new Set<() => void>();
  const pending = new Set<ReturnType<typeof setTimeout>>();

  /** The first entry of `list` (now or once it grows) that matches; rejects with `problem()` after the timeout. */
  function waitFor<T>(list: T[], predicate: (item: T) => boolean, timeoutMs: number, problem: () => string): Promise<T> {
    const found = list.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      let checked = list.length;
      const wake = () => {
        const match = list.slice(checked).find(predicate);
        checked = list.length;
        if (match) {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new Error(`fake Graph API: ${problem()}`));
      }, timeoutMs);
      waiters.add(wake);
    });
  }

  async function postStatus(target: StatusTarget, phoneNumberId: string, raw: RawStatus): Promise<void> {
    const built = buildInboundWebhook({ phoneNumberId, statuses: [raw], appSecret: target.appSecret });
    const callbackData = typeof raw.biz_opaque_callback_data === 'string' ? raw.biz_opaque_callback_data : undefined;
    const posted: PostedStatus = { messageId: raw.id, status: raw.status, ...(callbackData !== undefined && { callbackData }), httpStatus: 0 };
    try {
      const res = await fetch(target.url, { method: 'POST', headers: built.headers, body: built.raw });
      posted.httpStatus = res.status;
      await res.body?.cancel();
    } catch {
      // duka is down: Meta would retry later; the fake just records the miss.
    }
    statuses.push(posted);
    for (const wake of waiters) wake();
  }

  // A shop with its own WhatsApp Business Account: Meta accepts only that account's token for its number.
  const numberTokens = new Map<string, string>();

  const catalog = new CatalogStandIn(options.accessToken !== undefined ? { accessToken: options.accessToken } : {});
  const flows = new FlowManagementStandIn(options.accessToken !== undefined ? { accessToken: options.accessToken } : {});
  const app = express();
  app.use(flows.router);
  app.use(catalog.router);
  app.use(express.json({ limit: '1mb' }));

  app.post('/:version/:phoneNumberId/messages', (req: Request, res: Response) => {
    const receivedAt = performance.now();
    const { version, phoneNumberId } = req.params as { version: string; phoneNumberId: string };
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    const expected = numberTokens.get(phoneNumberId) ?? options.accessToken;
    if (!token || (expected !== undefined && token !== expected)) {
      graphError(res, { status: 401, code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
      return;
    }
    if (!/^v\d+\.\d+$/.test(version)) {
      graphError(res, { status: 400, code: 2500, message: `Unknown path components: /${version}` });
      return;
    }
    const failure = failures.shift();
    if (failure) {
      graphError(res, failure);
      return;
    }

    const body: unknown = req.body;
    if (isObject(body) && body.status === 'read') {
      if (body.messaging_product !== 'whatsapp' || typeof body.message_id !== 'string') {
        graphError(res, { status: 400, code: 100, message: 'Invalid parameter' });
        return;
      }
      reads.push({ phoneNumberId, messageId: body.message_id, typing: isObject(body.typing_indicator) });
      res.json({ success: true });
      return;
    }
    const problem = bodyProblem(body);
    if (problem) {
      graphError(res, { status: 400, code: 131009, message: 'Parameter value is not valid', details: problem });
      return;
    }

    const message = body as Json & { to: string };
    const messageId = newWamid();
    sent.push({ phoneNumberId, to: message.to, body: message, messageId, receivedAt });
    for (const wake of waiters) wake();
    if (statusTarget) {
      const callbackData = typeof message.biz_opaque_callback_data === 'string' ? message.biz_opaque_callback_data : undefined;
      const raw: RawStatus = { ...statusUpdate(messageId, 'sent', message.to.replace(/^\+/, '')), ...(callbackData !== undefined && { biz_opaque_callback_data: callbackData }) };
      void postStatus(statusTarget, phoneNumberId, raw);
    }
    const answer = () =>
      res.json({
        messaging_product: 'whatsapp',
        contacts: [{ input: message.to, wa_id: message.to.replace(/^\+/, '') }],
        messages: [{ id: messageId }],
      });
    const how = answers.shift();
    if (how?.kind === 'lose') {
      req.socket.destroy();
    } else if (how?.kind === 'delay') {
      const timer = setTimeout(() => {
        pending.delete(timer);
        if (!res.writableEnded && !req.socket.destroyed) answer();
      }, how.ms);
      pending.add(timer);
    } else {
      answer();
    }
  });

  app.use((_req: Request, res: Response) => {
    graphError(res, { status: 404, code: 803, message: 'Some of the aliases you requested do not exist' });
  });

  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    catalog,
    flows,
    sent,
    reads,
    statuses,
    ownNumber(phoneNumberId, accessToken) {
      numberTokens.set(phoneNumberId, accessToken);
    },
    failNext(n, failure) {
      for (let i = 0; i < n; i++) failures.push(failure);
    },
    loseAnswerNext(n) {
      for (let i = 0; i < n; i++) answers.push({ kind: 'lose' });
    },
    delayAnswerNext(n, ms) {
      for (let i = 0; i < n; i++) answers.push({ kind: 'delay', ms });
    },
    reportStatusesTo(target) {
      statusTarget = target;
    },
    waitForSent(predicate, timeoutMs = 5_000) {
      return waitFor(sent, predicate, timeoutMs, () => {
        const seen = sent.map((s) => `${String(s.body.type)}→${s.to}`).join(', ') || 'nothing';
        return `no matching send within ${timeoutMs} ms (sent so far: ${seen})`;
      });
    },
    waitForStatus(predicate, timeoutMs = 5_000) {
      return waitFor(statuses, predicate, timeoutMs, () => `no matching status posted within ${timeoutMs} ms (${statuses.length} posted)`);
    },
    clear() {
      sent.length = 0;
      reads.length = 0;
      failures.length = 0;
      answers.length = 0;
      statuses.length = 0;
    },
    close() {
      catalog.close();
      for (const timer of pending) clearTimeout(timer);
      pending.clear();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

// Webhook payloads as Meta posts them: shared with the sandbox, which needs them at run time.
export {
  buildInboundWebhook,
  buttonReply,
  flowReply,
  listReply,
  locationMessage,
  orderMessage,
  statusUpdate,
  templateButtonReply,
  textMessage,
} from '../../sandbox/meta.ts';
export type { BuiltWebhook, InboundWebhookOptions, RawInboundMessage, RawMessageOptions, RawOrderItem, RawStatus } from '../../sandbox/meta.ts';
