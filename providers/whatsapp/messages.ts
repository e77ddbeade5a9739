import type { InteractiveHeader, ListSection, OutboundMessage, ProductSection, ReplyButton } from '../../domain/outbound.ts';
import { WHATSAPP_LIMITS as LIMITS, shorten } from '../../domain/outbound.ts';
import { logger } from '../../lib/logger.ts';

/**
 * OutboundMessage → the exact Cloud API request body. Anything too long is shortened and anything too many is cut to
 * Meta's maximum, so a workflow never fails on cosmetics; what cannot be repaired without changing meaning (no
 * buttons, an id that would no longer route, a missing required text) throws UnsendableMessageError, which is not
 * worth retrying.
 */
export class UnsendableMessageError extends Error {
  override name = 'UnsendableMessageError';
}

export type GraphMessageBody = Record<string, unknown>;

type Json = Record<string, unknown>;

function compact(fields: Record<string, unknown>): Json {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

function requiredText(value: string | undefined, field: string, max: number): string {
  const text = value?.trim() ?? '';
  if (!text) throw new UnsendableMessageError(`${field} is empty`);
  return shorten(text, max);
}

function optionalText(value: string | undefined, max: number): string | undefined {
  const text = value?.trim();
  return text ? shorten(text, max) : undefined;
}

/** Ids come back in replies and route them: a shortened id would route nowhere, so it is refused instead. */
function identifier(value: string, field: string, max: number): string {
  if (!value) throw new UnsendableMessageError(`${field} is empty`);
  if (value.length > max) throw new UnsendableMessageError(`${field} "${value.slice(0, 40)}…" is longer than ${max} characters`);
  return value;
}

function assertUnique(values: string[], field: string): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) throw new UnsendableMessageError(`duplicate ${field} "${value}"`);
    seen.add(value);
  }
}

function httpUrl(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UnsendableMessageError(`${field} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UnsendableMessageError(`${field} must be an http(s) URL`);
  return value;
}

/** Meta rejects duplicate button titles; two long titles can become equal once shortened, so number the repeats. */
function distinctTitles(titles: string[], max: number): string[] {
  const seen = new Set<string>();
  return titles.map((title) => {
    let candidate = title;
    for (let n = 2; seen.has(candidate); n++) {
      const suffix = ` ${n}`;
      candidate = shorten(title, max - suffix.length) + suffix;
    }
    seen.add(candidate);
    return candidate;
  });
}

function textObject(text: string | undefined): Json | undefined {
  return text === undefined ? undefined : { text };
}

function textHeader(value: string | undefined): Json | undefined {
  const text = optionalText(value, LIMITS.header);
  return text === undefined ? undefined : { type: 'text', text };
}

function mediaHeader(header: InteractiveHeader | undefined): Json | undefined {
  if (header === undefined) return undefined;
  if ('text' in header) return textHeader(header.text);
  return { type: 'image', image: { link: httpUrl(header.imageUrl, 'header image URL') } };
}

function warnDropped(kind: string, what: string, dropped: number): void {
  if (dropped > 0) logger.warn({ kind, what, dropped }, 'whatsapp: dropped items over Meta limits');
}

function replyButtons(buttons: ReplyButton[]): Json {
  if (buttons.length === 0) throw new UnsendableMessageError('buttons message has no buttons');
  const kept = buttons.slice(0, LIMITS.buttons);
  warnDropped('buttons', 'buttons', buttons.length - kept.length);
  const ids = kept.map((b) => identifier(b.id, 'button id', LIMITS.buttonId));
  assertUnique(ids, 'button id');
  const titles = distinctTitles(
    kept.map((b) => requiredText(b.title, 'button title', LIMITS.buttonTitle)),
    LIMITS.buttonTitle,
  );
  return { buttons: kept.map((_, i) => ({ type: 'reply', reply: { id: ids[i], title: titles[i] } })) };
}

function listSections(sections: ListSection[]): Json[] {
  let rowsLeft: number = LIMITS.listRows;
  const out: Json[] = [];
  for (const section of sections.slice(0, LIMITS.listSections)) {
    const rows = section.rows.slice(0, rowsLeft);
    rowsLeft -= rows.length;
    if (rows.length === 0) continue;
    out.push(
      compact({
        title: optionalText(section.title, LIMITS.sectionTitle),
        rows: rows.map((row) =>
          compact({
            id: identifier(row.id, 'row id', LIMITS.rowId),
            title: requiredText(row.title, 'row title', LIMITS.rowTitle),
            description: optionalText(row.description, LIMITS.rowDescription),
          }),
        ),
      }),
    );
  }
  const total = sections.reduce((n, s) => n + s.rows.length, 0);
  const kept = out.reduce((n, s) => n + (s.rows as unknown[]).length, 0);
  warnDropped('list', 'rows', total - kept);
  if (out.length === 0) throw new UnsendableMessageError('list message has no rows');
  if (out.length > 1 && out.some((s) => s.title === undefined)) {
    throw new UnsendableMessageError('list sections need titles when there is more than one section');
  }
  assertUnique(
    out.flatMap((s) => (s.rows as Json[]).map((r) => r.id as string)),
    'row id',
  );
  return out;
}

function productSections(sections: ProductSection[]): Json[] {
  let itemsLeft: number = LIMITS.productListItems;
  const out: Json[] = [];
  for (const section of sections) {
    if (out.length === LIMITS.productListSections) break;
    const ids = section.retailerIds.filter((id) => id.trim() !== '').slice(0, itemsLeft);
    itemsLeft -= ids.length;
    if (ids.length === 0) continue;
    out.push({
      title: requiredText(section.title, 'product section title', LIMITS.sectionTitle),
      product_items: ids.map((id) => ({ product_retailer_id: id })),
    });
  }
  const total = sections.reduce((n, s) => n + s.retailerIds.length, 0);
  const kept = out.reduce((n, s) => n + (s.product_items as unknown[]).length, 0);
  warnDropped('product_list', 'products', total - kept);
  if (out.length === 0) throw new UnsendableMessageError('product_list message has no products');
  return out;
}

/** flow_cta allows no emoji (per partner docs and whatsapp-api-js); dropping them keeps the label readable. */
function flowCta(cta: string): string {
  const plain = cta.replace(/[\p{Extended_Pictographic}\u{FE0F}\u{200D}]/gu, '').replace(/\s+/g, ' ');
  return requiredText(plain, 'flow cta', LIMITS.flowCta);
}

/** Template parameters may not contain newlines, tabs or more than four consecutive spaces (Graph error 132018). */
function templateParam(value: string, field: string): string {
  const text = value.replace(/[\r\n\t]+/g, ' ').replace(/ {5,}/g, '    ').trim();
  if (!text) throw new UnsendableMessageError(`${field} is empty`);
  return text;
}

function interactive(msg: Exclude<OutboundMessage, { kind: 'text' | 'image' | 'template' }>): Json {
  switch (msg.kind) {
    case 'buttons':
      return compact({
        type: 'button',
        header: mediaHeader(msg.header),
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: replyButtons(msg.buttons),
      });
    case 'list':
      return compact({
        type: 'list',
        header: textHeader(msg.header),
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: { button: requiredText(msg.button, 'list button', LIMITS.listButton), sections: listSections(msg.sections) },
      });
    case 'product':
      return compact({
        type: 'product',
        body: textObject(optionalText(msg.body, LIMITS.interactiveBody)),
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: {
          catalog_id: identifier(msg.catalogId, 'catalog id', Infinity),
          product_retailer_id: identifier(msg.retailerId, 'product retailer id', Infinity),
        },
      });
    case 'product_list':
      return compact({
        type: 'product_list',
        header: { type: 'text', text: requiredText(msg.header, 'product_list header', LIMITS.header) },
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: { catalog_id: identifier(msg.catalogId, 'catalog id', Infinity), sections: productSections(msg.sections) },
      });
    case 'catalog': {
      const thumbnail = msg.thumbnailRetailerId?.trim();
      return compact({
        type: 'catalog_message',
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: compact({
          name: 'catalog_message',
          parameters: thumbnail ? { thumbnail_product_retailer_id: thumbnail } : undefined,
        }),
      });
    }
    case 'cta_url':
      return compact({
        type: 'cta_url',
        header: mediaHeader(msg.header),
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: {
          name: 'cta_url',
          parameters: {
            display_text: requiredText(msg.displayText, 'cta display text', LIMITS.ctaDisplayText),
            url: httpUrl(msg.url, 'cta url'),
          },
        },
      });
    case 'flow': {
      const screen = msg.screen?.trim();
      const data = msg.data && Object.keys(msg.data).length > 0 ? msg.data : undefined;
      if (!screen && data) throw new UnsendableMessageError('flow data needs a screen to navigate to');
      return compact({
        type: 'flow',
        header: textHeader(msg.header),
        body: { text: requiredText(msg.body, 'body', LIMITS.interactiveBody) },
        footer: textObject(optionalText(msg.footer, LIMITS.footer)),
        action: {
          name: 'flow',
          parameters: compact({
            flow_message_version: '3',
            flow_token: identifier(msg.flowToken, 'flow token', Infinity),
            flow_id: identifier(msg.flowId, 'flow id', Infinity),
            flow_cta: flowCta(msg.cta),
            flow_action: screen ? 'navigate' : 'data_exchange',
            flow_action_payload: screen ? compact({ screen, data }) : undefined,
          }),
        },
      });
    }
  }
}

function template(msg: Extract<OutboundMessage, { kind: 'template' }>): Json {
  const components: Json[] = [];
  if (msg.bodyParams?.length) {
    components.push({
      type: 'body',
      parameters: msg.bodyParams.map((p, i) => ({ type: 'text', text: templateParam(p, `template body parameter ${i + 1}`) })),
    });
  }
  for (const button of msg.buttons ?? []) {
    if (!Number.isSafeInteger(button.index) || button.index < 0) {
      throw new UnsendableMessageError(`template button index must be a non-negative integer, got ${button.index}`);
    }
    components.push({
      type: 'button',
      sub_type: 'quick_reply',
      index: String(button.index),
      parameters: [{ type: 'payload', payload: identifier(button.payload, 'template button payload', Infinity) }],
    });
  }
  return compact({
    name: identifier(msg.name.trim(), 'template name', Infinity),
    language: { code: identifier(msg.languageCode.trim(), 'template language code', Infinity) },
    components: components.length > 0 ? components : undefined,
  });
}

export function toGraphMessage(to: string, msg: OutboundMessage): GraphMessageBody {
  const recipient = to.trim();
  if (!recipient) throw new UnsendableMessageError('recipient is empty');
  const envelope = { messaging_product: 'whatsapp', recipient_type: 'individual', to: recipient };
  switch (msg.kind) {
    case 'text':
      return {
        ...envelope,
        type: 'text',
        text: { preview_url: msg.previewUrl ?? false, body: requiredText(msg.body, 'text body', LIMITS.textBody) },
      };
    case 'image':
      return {
        ...envelope,
        type: 'image',
        image: compact({ link: httpUrl(msg.url, 'image URL'), caption: optionalText(msg.caption, LIMITS.mediaCaption) }),
      };
    case 'template':
      return { ...envelope, type: 'template', template: template(msg) };
    default:
      return { ...envelope, type: 'interactive', interactive: interactive(msg) };
  }
}

/** Marks an inbound message (and every earlier one) as read; optionally shows "typing…" until the next reply. */
export function toGraphReadReceipt(messageId: string, showTyping = false): GraphMessageBody {
  return compact({
    messaging_product: 'whatsapp',
    status: 'read',
    message_id: identifier(messageId, 'message id', Infinity),
    typing_indicator: showTyping ? { type: 'text' } : undefined,
  });
}
