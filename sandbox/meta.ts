import { randomUUID } from 'node:crypto';
import { signMetaPayload } from '../providers/whatsapp/signature.ts';

/**
 * Meta's wire shapes, shared by the sandbox (at run time) and the fake Graph API of the tests: the checks the Graph API
 * makes on a send, its error body, and webhook payloads exactly as Meta posts them, signed with the app secret.
 */

type Json = Record<string, unknown>;

const MESSAGE_TYPES = new Set([
  'text', 'interactive', 'template', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts', 'reaction',
]);
const INTERACTIVE_TYPES = new Set(['button', 'list', 'product', 'product_list', 'catalog_message', 'cta_url', 'flow', 'carousel']);

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textOf(value: unknown): string | undefined {
  return isObject(value) && typeof value.text === 'string' ? value.text : undefined;
}

function tooLong(value: string | undefined, max: number): boolean {
  return value !== undefined && value.length > max;
}

/** The subset of Meta's validation of interactive messages that catches real mistakes; returns the problem or null. */
export function interactiveProblem(interactive: Json): string | null {
  const type = interactive.type;
  if (typeof type !== 'string' || !INTERACTIVE_TYPES.has(type)) return `interactive.type ${String(type)} is not supported`;
  if (tooLong(textOf(interactive.body), 1024)) return 'body.text is longer than 1024';
  if (tooLong(textOf(interactive.footer), 60)) return 'footer.text is longer than 60';
  if (tooLong(textOf(interactive.header), 60)) return 'header.text is longer than 60';
  const action = interactive.action;
  if (!isObject(action)) return 'action is required';
  if (type === 'button') {
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length < 1 || buttons.length > 3) return 'action.buttons must have 1 to 3 items';
    const titles = buttons.map((b: unknown) => (isObject(b) && isObject(b.reply) ? b.reply.title : undefined));
    if (titles.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 20)) return 'button title must be 1 to 20 characters';
    if (new Set(titles).size !== titles.length) return 'button titles must be unique';
  }
  if (type === 'list') {
    if (typeof action.button !== 'string' || action.button.length > 20) return 'action.button must be at most 20 characters';
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) return 'action.sections must have 1 to 10 items';
    const rows = sections.flatMap((s: unknown) => (isObject(s) && Array.isArray(s.rows) ? (s.rows as unknown[]) : []));
    if (rows.length < 1 || rows.length > 10) return 'a list must have 1 to 10 rows in total';
    for (const row of rows) {
      if (!isObject(row) || typeof row.id !== 'string' || typeof row.title !== 'string') return 'rows need id and title';
      if (row.title.length > 24 || row.id.length > 200) return 'row title/id too long';
      if (typeof row.description === 'string' && row.description.length > 72) return 'row description longer than 72';
    }
  }
  if (type === 'product_list') {
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length < 1 || sections.length > 10) return 'action.sections must have 1 to 10 items';
    const items = sections.flatMap((s: unknown) => (isObject(s) && Array.isArray(s.product_items) ? (s.product_items as unknown[]) : []));
    if (items.length < 1 || items.length > 30) return 'a product list must have 1 to 30 products';
  }
  if (type === 'cta_url') {
    const parameters = action.parameters;
    if (action.name !== 'cta_url' || !isObject(parameters)) return 'action.name must be cta_url with parameters';
    if (typeof parameters.display_text !== 'string' || parameters.display_text.length < 1 || parameters.display_text.length > 20) return 'display_text must be 1 to 20 characters';
    if (typeof parameters.url !== 'string' || !/^https?:\/\//.test(parameters.url)) return 'url must be an http(s) URL';
  }
  return null;
}

/** What Meta would refuse in a `POST /{phone_number_id}/messages` body (other than a read receipt); null when fine. */
export function sendBodyProblem(body: unknown): string | null {
  if (!isObject(body)) return 'body must be a JSON object';
  if (body.messaging_product !== 'whatsapp') return 'messaging_product must be "whatsapp"';
  if (typeof body.to !== 'string' || !/^\+?\d{5,20}$/.test(body.to)) return 'to must be a phone number';
  if (body.biz_opaque_callback_data !== undefined && (typeof body.biz_opaque_callback_data !== 'string' || body.biz_opaque_callback_data.length > 512)) {
    return 'biz_opaque_callback_data must be a string of at most 512 characters';
  }
  const type = body.type ?? 'text';
  if (typeof type !== 'string' || !MESSAGE_TYPES.has(type)) return `type ${String(type)} is not supported`;
  const payload = body[type];
  if (!isObject(payload)) return `${type} object is required`;
  if (type === 'text' && (typeof payload.body !== 'string' || payload.body.length === 0 || payload.body.length > 4096)) {
    return 'text.body must be 1 to 4096 characters';
  }
  if (type === 'interactive') return interactiveProblem(payload);
  if (type === 'template' && (typeof payload.name !== 'string' || !isObject(payload.language))) return 'template needs name and language';
  return null;
}

export interface GraphFailure {
  status: number;
  code: number;
  message: string;
  subcode?: number;
  type?: string;
  details?: string;
}

/** The Graph API's error body. */
export function graphErrorBody(failure: GraphFailure): Json {
  return {
    error: {
      message: `(#${failure.code}) ${failure.message}`,
      type: failure.type ?? 'OAuthException',
      code: failure.code,
      ...(failure.details !== undefined && { error_data: { messaging_product: 'whatsapp', details: failure.details } }),
      ...(failure.subcode !== undefined && { error_subcode: failure.subcode }),
      fbtrace_id: `A${randomUUID().replace(/-/g, '').slice(0, 22)}`,
    },
  };
}

export function newWamid(): string {
  return `wamid.${Buffer.from(randomUUID()).toString('base64url')}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Webhook payloads as Meta posts them.

export type RawInboundMessage = Json & { from: string; id: string; timestamp: string; type: string };
export type RawStatus = Json & { id: string; status: string; timestamp: string; recipient_id: string };

export interface RawMessageOptions {
  id?: string;
  /** wamid of the business message being replied to. */
  contextId?: string;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
}

let inboundCounter = 0;

function rawMessage(from: string, type: string, payload: Json, idOrOptions?: string | RawMessageOptions): RawInboundMessage {
  const options: RawMessageOptions = typeof idOrOptions === 'string' ? { id: idOrOptions } : (idOrOptions ?? {});
  inboundCounter += 1;
  return {
    ...(options.contextId !== undefined && { context: { from: '15550000000', id: options.contextId } }),
    from,
    id: options.id ?? `wamid.IN${inboundCounter}.${randomUUID().replace(/-/g, '').slice(0, 12)}`,
    timestamp: String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    type,
    [type]: payload,
  };
}

export function textMessage(from: string, text: string, idOrOptions?: string | RawMessageOptions): RawInboundMessage {
  return rawMessage(from, 'text', { body: text }, idOrOptions);
}

export function buttonReply(from: string, id: string, title: string, idOrOptions?: string | RawMessageOptions): RawInboundMessage {
  return rawMessage(from, 'interactive', { type: 'button_reply', button_reply: { id, title } }, idOrOptions);
}

export function listReply(
  from: string,
  id: string,
  title: string,
  description?: string,
  idOrOptions?: string | RawMessageOptions,
): RawInboundMessage {
  const reply = { id, title, ...(description !== undefined && { description }) };
  return rawMessage(from, 'interactive', { type: 'list_reply', list_reply: reply }, idOrOptions);
}

export function flowReply(
  from: string,
  response: Record<string, unknown>,
  idOrOptions?: string | RawMessageOptions,
): RawInboundMessage {
  const nfm = { name: 'flow', body: 'Sent', response_json: JSON.stringify(response) };
  return rawMessage(from, 'interactive', { type: 'nfm_reply', nfm_reply: nfm }, idOrOptions);
}

export interface RawOrderItem {
  retailerId: string;
  quantity: number | string;
  itemPrice?: number | string;
  currency?: string;
}

export function orderMessage(
  from: string,
  catalogId: string,
  items: RawOrderItem[],
  note?: string,
  idOrOptions?: string | RawMessageOptions,
): RawInboundMessage {
  const order = {
    catalog_id: catalogId,
    ...(note !== undefined && { text: note }),
    product_items: items.map((item) => ({
      product_retailer_id: item.retailerId,
      quantity: item.quantity,
      ...(item.itemPrice !== undefined && { item_price: item.itemPrice }),
      ...(item.currency !== undefined && { currency: item.currency }),
    })),
  };
  return rawMessage(from, 'order', order, idOrOptions);
}

export function locationMessage(
  from: string,
  latitude: number,
  longitude: number,
  place: { name?: string; address?: string } = {},
  idOrOptions?: string | RawMessageOptions,
): RawInboundMessage {
  return rawMessage(from, 'location', { latitude, longitude, ...place }, idOrOptions);
}

export function templateButtonReply(from: string, payload: string, text: string, idOrOptions?: string | RawMessageOptions): RawInboundMessage {
  return rawMessage(from, 'button', { payload, text }, idOrOptions);
}

export function statusUpdate(
  messageId: string,
  status: string,
  recipientId: string,
  errors?: { code: number; title: string; message?: string; details?: string }[],
  timestamp: number = Math.floor(Date.now() / 1000),
): RawStatus {
  return {
    id: messageId,
    status,
    timestamp: String(timestamp),
    recipient_id: recipientId,
    ...(errors !== undefined && {
      errors: errors.map((e) => ({
        code: e.code,
        title: e.title,
        ...(e.message !== undefined && { message: e.message }),
        ...(e.details !== undefined && { error_data: { details: e.details } }),
      })),
    }),
  };
}

export interface InboundWebhookOptions {
  phoneNumberId: string;
  displayPhoneNumber?: string;
  wabaId?: string;
  /** The customer; becomes the `contacts` entry when messages are present. */
  from?: string;
  name?: string;
  messages?: RawInboundMessage[];
  statuses?: RawStatus[];
  /** Signs the raw body as Meta would (X-Hub-Signature-256). */
  appSecret?: string;
  /** Escape non-ASCII characters as \\uXXXX, as Meta does (the signature covers the escaped bytes). */
  escapeNonAscii?: boolean;
}

export interface BuiltWebhook {
  payload: Json;
  /** The exact bytes to POST: the signature covers these. */
  raw: string;
  headers: Record<string, string>;
}

/** Meta escapes every non-ASCII character in webhook bodies; signatures are over those exact bytes. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function buildInboundWebhook(options: InboundWebhookOptions): BuiltWebhook {
  const messages = options.messages ?? [];
  const contactWaId = options.from ?? messages[0]?.from;
  const value: Json = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: options.displayPhoneNumber ?? '15550000000', phone_number_id: options.phoneNumberId },
    ...(messages.length > 0 &&
      contactWaId !== undefined && { contacts: [{ profile: { name: options.name ?? 'Customer' }, wa_id: contactWaId }] }),
    ...(messages.length > 0 && { messages }),
    ...(options.statuses?.length && { statuses: options.statuses }),
  };
  const payload: Json = {
    object: 'whatsapp_business_account',
    entry: [{ id: options.wabaId ?? '100000000000001', changes: [{ value, field: 'messages' }] }],
  };
  const raw = options.escapeNonAscii ? asciiJson(payload) : JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.appSecret !== undefined) headers['x-hub-signature-256'] = signMetaPayload(raw, options.appSecret);
  return { payload, raw, headers };
}
