import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { InboundContent, InboundMessage, ReferredProduct, StatusEvent } from '../../domain/inbound.ts';
import { logger } from '../../lib/logger.ts';
import { parseUntrustedJson } from '../../lib/untrusted-json.ts';

/**
 * Meta webhook POST body → normalised inbound messages and delivery statuses. The envelope must be well formed (or the
 * caller answers 4xx and sees the problem); a single odd message inside it must not cost the rest of the batch, so
 * message payloads are parsed one by one and degrade to `unsupported`. Unknown fields are ignored everywhere: Meta keeps
 * adding them.
 */
export class InvalidWebhookError extends Error {
  override name = 'InvalidWebhookError';
}

/** A delivery status, with what duka put in `biz_opaque_callback_data` when it sent the message (Meta echoes it). */
export interface ParsedStatus extends StatusEvent {
  callbackData?: string;
}

export interface ParsedWebhook {
  messages: InboundMessage[];
  statuses: ParsedStatus[];
}

const WHATSAPP_OBJECT = 'whatsapp_business_account';

const Envelope = z.looseObject({
  object: z.string(),
  entry: z.array(
    z.looseObject({
      id: z.string().optional(),
      changes: z.array(z.looseObject({ field: z.string(), value: z.unknown() })),
    }),
  ),
});

const MessagesValue = z.looseObject({
  metadata: z.looseObject({ phone_number_id: z.string().min(1), display_phone_number: z.string().optional() }),
  contacts: z.array(z.unknown()).optional(),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
});

/** Meta's docs type quantities and prices as integers, its examples use decimals and its SDK uses strings. */
const Numeric = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?$/).transform(Number)]);
const IdString = z.union([z.string().min(1), z.number().transform(String)]);
/** Seconds since 1970 up to 9,999,999,999 (year 2286): a larger "timestamp" is no date PostgreSQL or Date can hold. */
const UnixSeconds = z.union([z.string().regex(/^\d{1,10}$/), z.number().int().nonnegative().max(9_999_999_999)]).transform((s) => Number(s) * 1000);
/**
 * Ids duka stores or keys on (`message.wa_message_id`, `customer.wa_id` are varchar(255)): a longer one, never sent by
 * Meta, would fail every insert and so every retry of the step holding it; it is dropped here instead.
 */
const StoredId = z.string().min(1).max(255);

const MessageBase = z.looseObject({ id: StoredId, from: StoredId, timestamp: UnixSeconds });

const Contact = z.looseObject({ wa_id: z.string(), profile: z.looseObject({ name: z.string() }) });

const Context = z.looseObject({
  id: z.string().optional(),
  referred_product: z.looseObject({ catalog_id: IdString, product_retailer_id: z.string() }).optional(),
});

const TextPayload = z.looseObject({ body: z.string() });
const ButtonReply = z.looseObject({ id: z.string(), title: z.string() });
const ListReply = z.looseObject({ id: z.string(), title: z.string(), description: z.string().optional() });
const NfmReply = z.looseObject({ name: z.string().optional(), response_json: z.string() });
const Interactive = z.looseObject({ type: z.string() });
const OrderPayload = z.looseObject({
  catalog_id: IdString,
  text: z.string().optional(),
  product_items: z.array(
    z.looseObject({
      product_retailer_id: z.string().min(1),
      quantity: Numeric,
      item_price: Numeric.optional(),
      currency: z.string().optional(),
    }),
  ),
});
const LocationPayload = z.looseObject({
  latitude: Numeric,
  longitude: Numeric,
  name: z.string().optional(),
  address: z.string().optional(),
});
const TemplateButton = z.looseObject({ text: z.string(), payload: z.string() });
const MediaPayload = z.looseObject({ caption: z.string().optional() });

const MEDIA_TYPES = new Set(['image', 'audio', 'video', 'document', 'sticker']);

const StatusPayload = z.looseObject({
  id: StoredId,
  // sent, delivered, read, failed, deleted, warning… (`message.status` is varchar(255)).
  status: z.string().min(1).max(40),
  timestamp: UnixSeconds,
  recipient_id: z.string().optional(),
  from: z.string().optional(),
  // Echoed on sent/delivered/read for a message sent with it (Meta's messages reference; protocols.md §1.5).
  biz_opaque_callback_data: z.string().optional(),
  errors: z
    .array(
      z.looseObject({
        code: Numeric,
        title: z.string().optional(),
        message: z.string().optional(),
        error_data: z.looseObject({ details: z.string().optional() }).optional(),
      }),
    )
    .optional(),
});

function formatIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}${acc ? '.' : ''}${String(key)}`),
        prefix,
      );
      return `${path || '(root)'}: ${issue.message}`;
    })
    .join('; ');
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function parseFlowResponse(json: string): Record<string, unknown> {
  try {
    const parsed: unknown = parseUntrustedJson(json);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function interactiveContent(raw: unknown): InboundContent {
  const interactive = Interactive.safeParse(raw);
  if (!interactive.success) return { kind: 'unsupported', type: 'interactive' };
  const subtype = interactive.data.type;
  const payload = interactive.data[subtype];
  switch (subtype) {
    case 'button_reply': {
      const reply = ButtonReply.safeParse(payload);
      if (reply.success) return { kind: 'button', id: reply.data.id, title: reply.data.title };
      break;
    }
    case 'list_reply': {
      const reply = ListReply.safeParse(payload);
      if (reply.success) {
        const { id, title, description } = reply.data;
        return description === undefined ? { kind: 'list', id, title } : { kind: 'list', id, title, description };
      }
      break;
    }
    case 'nfm_reply': {
      const reply = NfmReply.safeParse(payload);
      if (reply.success) return { kind: 'flow', name: reply.data.name ?? 'flow', response: parseFlowResponse(reply.data.response_json) };
      break;
    }
  }
  return { kind: 'unsupported', type: `interactive.${subtype}` };
}

function messageContent(type: string, raw: Record<string, unknown>): InboundContent {
  const payload = raw[type];
  switch (type) {
    case 'text': {
      const text = TextPayload.safeParse(payload);
      if (text.success) return { kind: 'text', text: text.data.body };
      break;
    }
    case 'interactive':
      return interactiveContent(payload);
    case 'order': {
      const order = OrderPayload.safeParse(payload);
      if (order.success) {
        const items = order.data.product_items.map((item) => ({
          retailerId: item.product_retailer_id,
          quantity: item.quantity,
          ...(item.item_price !== undefined && { itemPrice: item.item_price }),
          ...(item.currency !== undefined && { currency: item.currency }),
        }));
        const note = order.data.text?.trim();
        return { kind: 'order', catalogId: order.data.catalog_id, ...(note && { note }), items };
      }
      break;
    }
    case 'location': {
      const location = LocationPayload.safeParse(payload);
      if (location.success) {
        const { latitude, longitude, name, address } = location.data;
        return { kind: 'location', latitude, longitude, ...(name !== undefined && { name }), ...(address !== undefined && { address }) };
      }
      break;
    }
    case 'button': {
      const button = TemplateButton.safeParse(payload);
      if (button.success) return { kind: 'template_button', payload: button.data.payload, text: button.data.text };
      break;
    }
    default:
      if (MEDIA_TYPES.has(type)) {
        const media = MediaPayload.safeParse(payload ?? {});
        const caption = media.success ? media.data.caption : undefined;
        return { kind: 'media', mediaType: type, ...(caption !== undefined && { caption }) };
      }
  }
  return { kind: 'unsupported', type };
}

function contactNames(contacts: unknown[] | undefined): Map<string, string> {
  const names = new Map<string, string>();
  for (const raw of contacts ?? []) {
    const contact = Contact.safeParse(raw);
    // `customer.name` is varchar(255); WhatsApp profile names are far shorter.
    if (contact.success) names.set(contact.data.wa_id, contact.data.profile.name.slice(0, 255));
  }
  return names;
}

function inboundMessage(raw: unknown, phoneNumberId: string, names: Map<string, string>, where: string): InboundMessage | null {
  const base = MessageBase.safeParse(raw);
  if (!base.success) {
    logger.warn({ where, problem: formatIssues(base.error, where) }, 'whatsapp webhook: dropped a message without id/from/timestamp');
    return null;
  }
  const record = asRecord(raw);
  const type = typeof record.type === 'string' ? record.type : 'unknown';
  const context = Context.safeParse(record.context);
  // Meta warns that contacts[].wa_id and from may differ; a lone contact still belongs to this message.
  const contactName = names.get(base.data.from) ?? (names.size === 1 ? [...names.values()][0] : undefined);
  const referred = context.success ? context.data?.referred_product : undefined;
  const referredProduct: ReferredProduct | undefined = referred && { catalogId: referred.catalog_id, retailerId: referred.product_retailer_id };
  const contextId = context.success ? context.data?.id : undefined;
  return {
    id: base.data.id,
    phoneNumberId,
    from: base.data.from,
    ...(contactName !== undefined && { contactName }),
    timestamp: base.data.timestamp,
    ...(contextId !== undefined && { contextId }),
    ...(referredProduct !== undefined && { referredProduct }),
    content: messageContent(type, record),
  };
}

function statusEvent(raw: unknown, phoneNumberId: string, where: string): ParsedStatus | null {
  const parsed = StatusPayload.safeParse(raw);
  if (!parsed.success) {
    logger.warn({ where, problem: formatIssues(parsed.error, where) }, 'whatsapp webhook: dropped a malformed status');
    return null;
  }
  const s = parsed.data;
  const errors = s.errors?.map((e) => {
    const message = e.error_data?.details ?? e.message;
    return { code: e.code, title: e.title ?? e.message ?? '', ...(message !== undefined && { message }) };
  });
  return {
    messageId: s.id,
    phoneNumberId,
    recipientId: s.recipient_id ?? s.from ?? '',
    status: s.status,
    timestamp: s.timestamp,
    ...(errors !== undefined && errors.length > 0 && { errors }),
    ...(s.biz_opaque_callback_data !== undefined && { callbackData: s.biz_opaque_callback_data }),
  };
}

function decode(body: unknown): unknown {
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return body;
  try {
    return parseUntrustedJson(body);
  } catch (err) {
    throw new InvalidWebhookError(`WhatsApp webhook body is not JSON: ${(err as Error).message}`);
  }
}

/** Accepts the parsed JSON body (or the raw bytes/string, already signature-checked). */
export function parseWebhook(body: unknown): ParsedWebhook {
  const envelope = Envelope.safeParse(decode(body));
  if (!envelope.success) throw new InvalidWebhookError(`Invalid WhatsApp webhook envelope: ${formatIssues(envelope.error, '')}`);
  const result: ParsedWebhook = { messages: [], statuses: [] };
  if (envelope.data.object !== WHATSAPP_OBJECT) {
    logger.warn({ object: envelope.data.object }, 'whatsapp webhook: ignored a delivery for another object');
    return result;
  }

  envelope.data.entry.forEach((entry, e) => {
    entry.changes.forEach((change, c) => {
      if (change.field !== 'messages') return;
      const where = `entry[${e}].changes[${c}].value`;
      const value = MessagesValue.safeParse(change.value);
      if (!value.success) throw new InvalidWebhookError(`Invalid WhatsApp webhook: ${formatIssues(value.error, where)}`);
      const phoneNumberId = value.data.metadata.phone_number_id;
      if (value.data.errors?.length) logger.warn({ phoneNumberId, errors: value.data.errors }, 'whatsapp webhook: error notification');

      const names = contactNames(value.data.contacts);
      value.data.messages?.forEach((raw, m) => {
        const message = inboundMessage(raw, phoneNumberId, names, `${where}.messages[${m}]`);
        if (message) result.messages.push(message);
      });
      value.data.statuses?.forEach((raw, s) => {
        const status = statusEvent(raw, phoneNumberId, `${where}.statuses[${s}]`);
        if (status) result.statuses.push(status);
      });
    });
  });
  return result;
}

export type ChallengeResult = { ok: true; challenge: string } | { ok: false };

function sameSecret(a: string, b: string): boolean {
  // Hashing first gives equal-length inputs, so neither the comparison nor its early exit leaks the token's length.
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** The GET handshake Meta performs when the callback URL is saved: echo `hub.challenge` when the token matches. */
export function verifyChallenge(query: Record<string, unknown>, verifyToken: string): ChallengeResult {
  const mode = query['hub.mode'];
  const token = query['hub.verify_token'];
  const challenge = query['hub.challenge'];
  if (!verifyToken || mode !== 'subscribe' || typeof token !== 'string' || typeof challenge !== 'string') return { ok: false };
  return sameSecret(token, verifyToken) ? { ok: true, challenge } : { ok: false };
}
