import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Request, Response } from 'express';
import { graphErrorBody, isObject, newWamid, sendBodyProblem as bodyProblem, type GraphFailure } from '../../sandbox/meta.ts';

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

export interface FakeGraphApi {
  /** Pass as `graphUrl`; any `/vNN.N/{phone_number_id}/messages` path under it is served. */
  url: string;
  sent: RecordedSend[];
  reads: RecordedRead[];
  failNext(n: number, failure: GraphFailure): void;
  waitForSent(predicate: (send: RecordedSend) => boolean, timeoutMs?: number): Promise<RecordedSend>;
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
  const waiters = new Set<() => void>();

  const app = express();
  app.use(express.json({ limit: '1mb' }));

  app.post('/:version/:phoneNumberId/messages', (req: Request, res: Response) => {
    const receivedAt = performance.now();
    const { version, phoneNumberId } = req.params as { version: string; phoneNumberId: string };
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!token || (options.accessToken !== undefined && token !== options.accessToken)) {
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
    res.json({
      messaging_product: 'whatsapp',
      contacts: [{ input: message.to, wa_id: message.to.replace(/^\+/, '') }],
      messages: [{ id: messageId }],
    });
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
    sent,
    reads,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) failures.push(failure);
    },
    waitForSent(predicate, timeoutMs = 5_000) {
      const found = sent.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<RecordedSend>((resolve, reject) => {
        let checked = sent.length;
        const wake = () => {
          const match = sent.slice(checked).find(predicate);
          checked = sent.length;
          if (match) {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          const seen = sent.map((s) => `${String(s.body.type)}→${s.to}`).join(', ') || 'nothing';
          reject(new Error(`fake Graph API: no matching send within ${timeoutMs} ms (sent so far: ${seen})`));
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    clear() {
      sent.length = 0;
      reads.length = 0;
      failures.length = 0;
    },
    close() {
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
