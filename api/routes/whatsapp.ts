import { randomUUID } from 'node:crypto';
import express, { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../../lib/config.ts';
import { handOffInTime, signalConversation, type HandOffPayload, type HandOffPlan } from '../hand-off.ts';

export { handoverMinutes } from '../hand-off.ts';
import type { Logger } from '../../lib/logger.ts';
import { CustomerRefs } from '../../lib/customer-ref.ts';
import { conversationWorkflowId } from '../../domain/ids.ts';
import type { InboundMessage } from '../../domain/inbound.ts';
import { INTENT_KEY, messageIntents } from '../../db/message-intents.ts';
import { verifyMetaSignature } from '../../providers/whatsapp/signature.ts';
import { WhatsAppClient } from '../../providers/whatsapp/client.ts';
import { tracedFetch } from '../../lib/tracing.ts';
import { InvalidWebhookError, parseWebhook, verifyChallenge, type ParsedStatus } from '../../providers/whatsapp/webhook.ts';
import { HttpError } from '../errors.ts';
import { requestLog } from '../context.ts';
import type { ShopDirectory, ShopEntry } from '../shops.ts';
import { BODY_LIMIT } from '../limits.ts';
import { parseUntrustedJson } from '../../lib/untrusted-json.ts';

export interface WhatsAppRouteDeps {
  config: Config;
  orm: MikroORM;
  temporal: Client;
  shops: ShopDirectory;
}

/** One thing to hand to a conversation: a customer's message, or a staff reply typed in the WhatsApp Business app. */
type HandOff =
  | { kind: 'inbound'; waMessageId: string; shop: ShopEntry; customerRef: string; type: string; message: InboundMessage }
  | { kind: 'echo'; waMessageId: string; shop: ShopEntry; customerRef: string; type: string };

/** Staff messages sent from the WhatsApp Business app on a coexistence number (`smb_message_echoes`). */
interface Echo {
  phoneNumberId: string;
  id: string;
  to: string;
  type: string;
}

const EMPTY = Buffer.alloc(0);
/** `message.wa_message_id` is varchar(255); a longer id (never seen from Meta) must not turn into a 5xx. */
const MAX_ID = 255;
const INT4_MAX = 2_147_483_647;
/** A webhook of many messages is answered within seconds (Meta waits about 20); the rest go to the re-driver. */
const HAND_OFF_PLAN: HandOffPlan = { concurrency: 16, budgetMs: 5_000 };

/** Delivery statuses only move forward: Meta does not keep their order (`read` may come before `delivered`). */
const STATUS_RANK_SQL = `case status when 'sent' then 1 when 'delivered' then 2 when 'read' then 3 when 'failed' then 4 else 0 end`;
const STATUS_RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };

const CLAIM_SQL =
  'insert into message (id, wa_message_id, direction, shop_id, customer_ref, type, status, payload, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, clock_timestamp()) ' +
  // A redelivery takes the row back from the re-driver (status, status_at = when it was last claimed); the row lock of
  // `do update` waits for a re-drive in progress, which then answers handed_off_at.
  "on conflict (wa_message_id) do update set status = case when message.handed_off_at is null then excluded.status else message.status end, " +
  'status_at = case when message.handed_off_at is null then clock_timestamp() else message.status_at end returning handed_off_at';
const CLAIM_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, clock_timestamp())';
/** CLAIM_SQL for many rows at once (clock_timestamp() per row keeps their order for the re-driver). */
const claimManySql = (count: number) => CLAIM_SQL.replace(`values ${CLAIM_ROW}`, `values ${Array.from({ length: count }, () => CLAIM_ROW).join(', ')}`);
/** Rows per statement when deferring (8 parameters each, well under PostgreSQL's 65,535). */
const DEFER_CHUNK = 500;
/** The payload is only kept until the hand-off: after it, the conversation (Temporal) has the message. */
export const HANDED_OFF_SQL = 'update message set handed_off_at = now(), payload = null where wa_message_id = ? and handed_off_at is null';
/** A failed hand-off is for the re-driver (api/redrive.ts) as soon as Temporal answers again. */
const handOffFailedSql = (count: number) =>
  `update message set status = 'handoff_failed' where wa_message_id in (${Array.from({ length: count }, () => '?').join(', ')}) and handed_off_at is null`;
const OUTBOUND_SQL =
  "insert into message (id, wa_message_id, direction, shop_id, customer_ref, type, status, created_at) values (?, ?, 'out', ?, ?, ?, 'accepted', now()) " +
  'on conflict (wa_message_id) do nothing';
const STATUS_SQL =
  `update message set status = ?, status_at = ?, error_code = ? where wa_message_id = ? and direction = 'out' and ${STATUS_RANK_SQL} <= ?`;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * `smb_message_echoes` changes: parseWebhook only reads `messages` changes, so echoes are picked out here.
 * protocols.md does not describe the field; Meta's coexistence payload is `value.message_echoes[]` with `from` = the
 * business number and `to` = the customer, next to the usual `metadata.phone_number_id`.
 */
export function collectEchoes(body: unknown): Echo[] {
  const echoes: Echo[] = [];
  const entries = asRecord(body)?.entry;
  if (!Array.isArray(entries)) return echoes;
  for (const entry of entries) {
    const changes = asRecord(entry)?.changes;
    if (!Array.isArray(changes)) continue;
    for (const change of changes) {
      const c = asRecord(change);
      if (c?.field !== 'smb_message_echoes') continue;
      const value = asRecord(c.value);
      const phoneNumberId = asRecord(value?.metadata)?.phone_number_id;
      const list = value?.message_echoes;
      if (typeof phoneNumberId !== 'string' || !Array.isArray(list)) continue;
      for (const raw of list) {
        const echo = asRecord(raw);
        if (typeof echo?.id === 'string' && echo.id && typeof echo.to === 'string' && echo.to) {
          echoes.push({ phoneNumberId, id: echo.id, to: echo.to, type: typeof echo.type === 'string' ? echo.type.slice(0, 40) : 'unknown' });
        }
      }
    }
  }
  return echoes;
}

/** The `metadata.phone_number_id` of every change in a webhook body (unverified: only to choose whose secret to try). */
function phoneNumberIdsOf(body: unknown): Set<string> {
  const ids = new Set<string>();
  const entries = (body as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return ids;
  for (const entry of entries.slice(0, 50)) {
    const changes = (entry as { changes?: unknown } | null)?.changes;
    if (!Array.isArray(changes)) continue;
    for (const change of changes.slice(0, 50)) {
      const id = (change as { value?: { metadata?: { phone_number_id?: unknown } } } | null)?.value?.metadata?.phone_number_id;
      if (typeof id === 'string') ids.add(id);
    }
  }
  return ids;
}

export function whatsappRouter(deps: WhatsAppRouteDeps): Router {
  const { config, orm, temporal, shops } = deps;
  const router = Router();
  const sql = () => orm.em.getConnection();
  const intents = messageIntents(orm);
  const readReceipts = new WhatsAppClient({ graphUrl: config.whatsapp.graphUrl, apiVersion: config.whatsapp.apiVersion, accessToken: config.whatsapp.accessToken, ratePerSecond: config.whatsapp.ratePerSecond, fetch: tracedFetch('whatsapp') });
  const refs = CustomerRefs.forConfig(config, orm);

  router.get('/webhooks/whatsapp', (req, res) => {
    const result = verifyChallenge(req.query as Record<string, unknown>, config.whatsapp.verifyToken);
    if (!result.ok) throw new HttpError(403, 'forbidden', 'verify token does not match');
    res.type('text/plain').send(result.challenge);
  });

  function claimParams(unit: HandOff): unknown[] {
    const direction = unit.kind === 'inbound' ? 'in' : 'out';
    const status = unit.kind === 'inbound' ? 'received' : 'echo';
    return [
      randomUUID(),
      unit.waMessageId,
      direction,
      unit.shop.id,
      unit.customerRef,
      unit.type,
      status,
      JSON.stringify(unit.kind === 'inbound' ? ({ kind: 'inbound', message: unit.message } satisfies HandOffPayload) : ({ kind: 'echo' } satisfies HandOffPayload)),
    ];
  }

  /** Durable de-dup: true when this wamid still has to be handed off (new, or an earlier hand-off failed). */
  async function claim(unit: HandOff): Promise<boolean> {
    const rows = await sql().execute<{ handed_off_at: Date | null }[]>(CLAIM_SQL, claimParams(unit));
    return rows[0]?.handed_off_at == null;
  }

  async function handOff(unit: HandOff, log: Logger): Promise<void> {
    if (!(await claim(unit))) {
      log.debug({ wamid: unit.waMessageId }, 'whatsapp: duplicate delivery skipped');
      return;
    }
    const target = { shopId: unit.shop.id, shopName: unit.shop.name, customerRef: unit.customerRef };
    await signalConversation(temporal, config, target, unit.kind === 'inbound' ? { kind: 'inbound', message: unit.message } : { kind: 'echo' });
    await sql().execute(HANDED_OFF_SQL, [unit.waMessageId]);
    // The blue ticks go from here, once the conversation has the message: a read receipt is a courtesy, so it costs the
    // conversation no activity (patch read-by-api) and a refused one is only logged.
    if (unit.kind === 'inbound') {
      void readReceipts.markAsRead(unit.shop.phoneNumberId, unit.waMessageId, { accessToken: unit.shop.accessToken }).catch((err: unknown) => log.debug({ err }, 'whatsapp: read receipt refused'));
    }
  }

  /**
   * Signed by duka's Meta app, or by the own app of the shops the body is for. A shop on its own app can only speak
   * for numbers on that same app: a body naming any other number must carry duka's signature.
   */
  async function signedByKnownApp(raw: Buffer, header: string | undefined): Promise<boolean> {
    if (verifyMetaSignature(raw, header, config.whatsapp.appSecret)) return true;
    if (header === undefined) return false;
    let numbers: Set<string>;
    try {
      numbers = phoneNumberIdsOf(parseUntrustedJson(raw));
    } catch {
      return false;
    }
    if (numbers.size === 0 || numbers.size > 10) return false;
    const secrets = new Set<string | undefined>();
    for (const id of numbers) secrets.add((await shops.byPhoneNumberId(id))?.appSecret);
    const [secret] = secrets;
    return secrets.size === 1 && secret !== undefined && verifyMetaSignature(raw, header, secret);
  }

  /**
   * Stored for the re-driver (api/redrive.ts), which hands them off in arrival order once this webhook is answered: a
   * few statements for any number (a wamid twice in one webhook is one row; one already handed off stays so).
   */
  async function deferHandOffs(units: HandOff[]): Promise<void> {
    const unique = [...new Map(units.map((u) => [u.waMessageId, u])).values()];
    for (let i = 0; i < unique.length; i += DEFER_CHUNK) {
      const chunk = unique.slice(i, i + DEFER_CHUNK);
      await sql().execute(claimManySql(chunk.length), chunk.flatMap(claimParams));
      await sql().execute(handOffFailedSql(chunk.length), chunk.map((u) => u.waMessageId));
    }
  }

  async function recordStatus(s: ParsedStatus): Promise<void> {
    if (s.callbackData !== undefined && INTENT_KEY.test(s.callbackData) && s.messageId.length <= MAX_ID) {
      // The status names the send intent: Meta accepted that message, even if the sending activity never heard so.
      // Recording the wamid lets its retry return it instead of sending again, and gives the statuses their row.
      const intent = await intents.acceptedByStatus(s.callbackData, s.messageId);
      if (intent) await sql().execute(OUTBOUND_SQL, [randomUUID(), s.messageId, intent.shop_id, intent.customer_ref, intent.message_type ?? 'unknown']);
    }
    const errorCode = s.errors?.[0]?.code;
    await sql().execute(STATUS_SQL, [
      s.status,
      new Date(s.timestamp),
      errorCode !== undefined && Number.isInteger(errorCode) && Math.abs(errorCode) <= INT4_MAX ? errorCode : null,
      s.messageId,
      STATUS_RANK[s.status] ?? 0,
    ]);
  }

  router.post('/webhooks/whatsapp', express.raw({ type: () => true, limit: BODY_LIMIT }), async (req, res) => {
    const log = requestLog(res);
    const raw = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    if (!(await signedByKnownApp(raw, req.get('x-hub-signature-256')))) {
      log.warn({ bytes: raw.length }, 'whatsapp webhook: bad signature, nothing processed');
      throw new HttpError(401, 'invalid_signature', 'X-Hub-Signature-256 does not match the body');
    }
    let body: unknown;
    try {
      // Signed bytes, then no NUL and no deep nesting past this point (lib/untrusted-json.ts).
      body = parseUntrustedJson(raw);
    } catch (err) {
      throw new HttpError(400, 'invalid_json', `WhatsApp webhook body: ${(err as Error).message}`);
    }
    let parsed;
    try {
      parsed = parseWebhook(body);
    } catch (err) {
      if (err instanceof InvalidWebhookError) throw new HttpError(400, 'invalid_webhook', err.message);
      throw err;
    }
    const echoes = collectEchoes(body);
    try {
      await handOffAll(parsed.messages, echoes, parsed.statuses, log);
    } catch (err) {
      // The database or Temporal: Meta retries a non-2xx, and the de-dup row lets the retry through.
      log.warn({ err }, 'whatsapp webhook: hand-off failed, Meta will retry');
      throw new HttpError(503, 'unavailable', 'could not hand the event to Temporal; retry later');
    }
    res.json({ status: 'ok' });
  });

  async function handOffAll(messages: InboundMessage[], echoes: Echo[], statuses: ParsedStatus[], log: Logger): Promise<void> {
    const units: HandOff[] = [];
    // Looked up together (order kept by Promise.all): a batch of many messages must not pay one round trip after another.
    const inbound = await Promise.all(
      messages.map(async (message): Promise<HandOff | null> => {
        if (message.id.length > MAX_ID) {
          log.warn({ length: message.id.length }, 'whatsapp webhook: message id too long to store, skipped');
          return null;
        }
        const shop = await shops.byPhoneNumberId(message.phoneNumberId);
        if (!shop) {
          log.warn({ phoneNumberId: message.phoneNumberId }, 'whatsapp webhook: message for an unknown phone number id, skipped');
          return null;
        }
        return { kind: 'inbound', waMessageId: message.id, shop, customerRef: await refs.of(shop.id, message.from), type: message.content.kind, message };
      }),
    );
    for (const unit of inbound) if (unit) units.push(unit);
    for (const echo of echoes) {
      if (echo.id.length > MAX_ID) continue;
      const shop = await shops.byPhoneNumberId(echo.phoneNumberId);
      if (!shop) {
        log.warn({ phoneNumberId: echo.phoneNumberId }, 'whatsapp webhook: echo for an unknown phone number id, skipped');
        continue;
      }
      units.push({ kind: 'echo', waMessageId: echo.id, shop, customerRef: await refs.of(shop.id, echo.to), type: `echo:${echo.type}` });
    }

    // One conversation's messages go in order; different conversations go in parallel.
    const byConversation = new Map<string, HandOff[]>();
    for (const unit of units) {
      const key = conversationWorkflowId(unit.shop.id, unit.customerRef);
      const list = byConversation.get(key);
      if (list) list.push(unit);
      else byConversation.set(key, [unit]);
    }
    const results = await Promise.allSettled([
      handOffInTime([...byConversation.values()], HAND_OFF_PLAN, (unit) => handOff(unit, log), deferHandOffs),
      ...statuses.map((s) => recordStatus(s)),
    ]);
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) {
      const ids = units.map((u) => u.waMessageId);
      if (ids.length > 0) {
        await sql()
          .execute(handOffFailedSql(ids.length), ids)
          .catch((err: unknown) => log.warn({ err }, 'whatsapp webhook: could not mark the failed hand-off'));
      }
      throw failures[0]!.reason;
    }
  }

  return router;
}
