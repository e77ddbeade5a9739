import express, { type Request, type Response, type Router } from 'express';
import type { ChatStore } from './chat.ts';
import type { EventHub } from './events.ts';
import type { CatalogStandIn } from './catalog.ts';
import type { FlowManagementStandIn } from './flow-management.ts';
import { buildInboundWebhook, graphErrorBody, isObject, newWamid, sendBodyProblem, statusUpdate, type GraphFailure, type RawStatus } from './meta.ts';

/**
 * The Graph API as duka's WhatsApp client sees it (`POST /{version}/{phone_number_id}/messages`): Bearer token, Meta's
 * answers and error bodies, read receipts. Every accepted message is shown in its chat, then Meta's delivery statuses
 * (sent → delivered → read) come back to duka as signed webhooks, a few hundred ms apart, echoing the send's
 * `biz_opaque_callback_data` as Meta does. With a `catalog`, Meta's Commerce catalog endpoints are served too.
 */
export interface GraphStandInOptions {
  accessToken: string;
  appSecret: string;
  /** duka's `POST /webhooks/whatsapp`. */
  webhookUrl: string;
  chats: ChatStore;
  hub: EventHub;
  fetch: typeof fetch;
  /** Delays after the send for sent, delivered, read (default 250, 700, 1400 ms). */
  statusDelaysMs?: [number, number, number];
  displayPhone(phoneNumberId: string): string | undefined;
  /** Meta's Commerce catalogs (items_batch, batch status, product sets), served under the same base URL. */
  catalog?: CatalogStandIn;
  /** WhatsApp Flows management (sandbox/flow-management.ts), served under the same base URL. */
  flows?: FlowManagementStandIn;
  log(message: string, detail?: Record<string, unknown>): void;
}

export interface StatusDelivery {
  messageId: string;
  status: string;
  httpStatus?: number;
  error?: string;
}

const STATUSES = ['sent', 'delivered', 'read'] as const;

export function createGraphStandIn(opts: GraphStandInOptions): { router: Router; deliveries: StatusDelivery[]; close(): void } {
  const delays = opts.statusDelaysMs ?? [250, 700, 1400];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const deliveries: StatusDelivery[] = [];
  let closed = false;

  const fail = (res: Response, failure: GraphFailure) => void res.status(failure.status).json(graphErrorBody(failure));

  async function postStatus(phoneNumberId: string, status: RawStatus): Promise<void> {
    const built = buildInboundWebhook({
      phoneNumberId,
      ...(opts.displayPhone(phoneNumberId) ? { displayPhoneNumber: opts.displayPhone(phoneNumberId) } : {}),
      statuses: [status],
      appSecret: opts.appSecret,
      escapeNonAscii: true,
    });
    const delivery: StatusDelivery = { messageId: status.id, status: status.status };
    try {
      const res = await opts.fetch(opts.webhookUrl, { method: 'POST', headers: built.headers, body: built.raw, signal: AbortSignal.timeout(10_000) });
      delivery.httpStatus = res.status;
      await res.body?.cancel();
      if (!res.ok) opts.log('status webhook refused', { status: status.status, httpStatus: res.status });
    } catch (err) {
      delivery.error = (err as Error).message;
      opts.log('status webhook failed', { status: status.status, error: delivery.error });
    }
    deliveries.push(delivery);
    if (deliveries.length > 500) deliveries.splice(0, deliveries.length - 500);
  }

  /** `callbackData`: the send's `biz_opaque_callback_data`, which Meta echoes in the sent, delivered and read statuses. */
  function scheduleStatuses(phoneNumberId: string, messageId: string, to: string, callbackData: string | undefined): void {
    const conversation = { id: `sandbox-${phoneNumberId}-${to}`, origin: { type: 'service' } };
    const pricing = { billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' };
    STATUSES.forEach((status, i) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (closed) return;
        const changed = opts.chats.setStatus(messageId, status);
        if (changed) opts.hub.publish({ event: 'status', chat: changed.key, data: { id: messageId, status } });
        const raw: RawStatus = { ...statusUpdate(messageId, status, to), ...(callbackData !== undefined && { biz_opaque_callback_data: callbackData }) };
        void postStatus(phoneNumberId, status === 'read' ? raw : { ...raw, conversation, pricing });
      }, delays[i]);
      timer.unref();
      timers.add(timer);
    });
  }

  const router = express.Router();
  if (opts.flows) router.use(opts.flows.router);
  if (opts.catalog) router.use(opts.catalog.router);
  router.use(express.json({ limit: '1mb' }));

  router.post('/:version/:phoneNumberId/messages', (req: Request, res: Response) => {
    const { version, phoneNumberId } = req.params as { version: string; phoneNumberId: string };
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!token) return fail(res, { status: 401, code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
    if (token !== opts.accessToken) return fail(res, { status: 401, code: 190, message: 'Error validating access token: The session is invalid.', subcode: 463 });
    if (!/^v\d+\.\d+$/.test(version)) return fail(res, { status: 400, code: 2500, message: `Unknown path components: /${version}/${phoneNumberId}/messages` });
    if (!opts.displayPhone(phoneNumberId)) {
      return fail(res, { status: 400, code: 100, type: 'GraphMethodException', message: `Unsupported post request. Object with ID '${phoneNumberId}' does not exist` });
    }

    const body: unknown = req.body;
    if (isObject(body) && body.status === 'read') {
      if (body.messaging_product !== 'whatsapp' || typeof body.message_id !== 'string') {
        return fail(res, { status: 400, code: 100, message: 'Invalid parameter', details: 'message_id is required' });
      }
      // A message the sandbox did not carry (posted to the webhook by something else) is still a valid wamid to Meta.
      const read = opts.chats.markReadUpTo(body.message_id);
      if (read?.ids.length) opts.hub.publish({ event: 'read', chat: read.key, data: { ids: read.ids } });
      if (read && isObject(body.typing_indicator)) opts.hub.publish({ event: 'typing', chat: read.key, data: {} });
      return void res.json({ success: true });
    }

    const problem = sendBodyProblem(body);
    if (problem) return fail(res, { status: 400, code: 131009, message: 'Parameter value is not valid', details: problem });
    const message = body as Record<string, unknown> & { to: string };
    const to = message.to.replace(/^\+/, '');
    const id = newWamid();
    const key = { phoneNumberId, customer: to };
    const entry = { id, direction: 'out' as const, at: Date.now(), message, status: 'pending' as const };
    opts.chats.add(key, entry);
    opts.hub.publish({ event: 'message', chat: key, data: entry });
    res.json({ messaging_product: 'whatsapp', contacts: [{ input: message.to, wa_id: to }], messages: [{ id }] });
    scheduleStatuses(phoneNumberId, id, to, typeof message.biz_opaque_callback_data === 'string' ? message.biz_opaque_callback_data : undefined);
  });

  router.use((_req: Request, res: Response) => fail(res, { status: 400, code: 100, type: 'GraphMethodException', message: 'Unsupported request' }));

  // Malformed JSON: Meta answers with its own error body, never an HTML page.
  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (res.headersSent) return next(err);
    const tooLarge = (err as { type?: unknown } | null)?.type === 'entity.too.large';
    fail(res, tooLarge ? { status: 413, code: 100, message: 'Request body too large' } : { status: 400, code: 100, message: 'Invalid parameter', details: 'the body is not valid JSON' });
  });

  return {
    router,
    deliveries,
    close() {
      closed = true;
      opts.catalog?.close();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
