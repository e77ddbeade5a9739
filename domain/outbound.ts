/**
 * What a workflow asks WhatsApp to send, as plain data (it crosses the workflow → activity boundary), plus the pure
 * helpers that keep Meta's limits. The Graph API JSON is built by providers/whatsapp/messages.ts.
 */

/** Meta's limits in UTF-16 code units (what the Graph API counts). */
export const WHATSAPP_LIMITS = {
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listRows: 10,
  listSections: 10,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  sectionTitle: 24,
  listButton: 20,
  /** Meta's list page now says 4096 for lists; older pages and partners say 1024, which every interactive type accepts. */
  interactiveBody: 1024,
  textBody: 4096,
  header: 60,
  footer: 60,
  mediaCaption: 1024,
  productListItems: 30,
  productListSections: 10,
  ctaDisplayText: 20,
  flowCta: 20,
} as const;

export type InteractiveHeader = { text: string } | { imageUrl: string };

export interface ReplyButton {
  id: string;
  title: string;
}

export interface ListRow {
  id: string;
  title: string;
  description?: string;
}

export interface ListSection {
  /** Required by Meta once there is more than one section. */
  title?: string;
  rows: ListRow[];
}

export interface ProductSection {
  title: string;
  retailerIds: string[];
}

export interface TemplateButtonPayload {
  /** Zero-based position of the quick-reply button in the approved template. */
  index: number;
  payload: string;
}

export type OutboundMessage =
  | { kind: 'text'; body: string; previewUrl?: boolean }
  | { kind: 'buttons'; body: string; header?: InteractiveHeader; footer?: string; buttons: ReplyButton[] }
  | { kind: 'list'; body: string; header?: string; footer?: string; button: string; sections: ListSection[] }
  | { kind: 'image'; url: string; caption?: string }
  | { kind: 'product'; body?: string; footer?: string; catalogId: string; retailerId: string }
  | { kind: 'product_list'; header: string; body: string; footer?: string; catalogId: string; sections: ProductSection[] }
  | { kind: 'catalog'; body: string; footer?: string; thumbnailRetailerId?: string }
  | { kind: 'cta_url'; body: string; header?: InteractiveHeader; footer?: string; displayText: string; url: string }
  | {
      kind: 'flow';
      body: string;
      header?: string;
      footer?: string;
      flowId: string;
      /** Opaque and unguessable: it is the only thing tying the flow's reply back to the conversation. */
      flowToken: string;
      cta: string;
      /** First screen to navigate to; without it the flow starts with a data_exchange request to our endpoint. */
      screen?: string;
      data?: Record<string, unknown>;
    }
  | { kind: 'template'; name: string; languageCode: string; bodyParams?: string[]; buttons?: TemplateButtonPayload[] };

export type OutboundKind = OutboundMessage['kind'];

const ELLIPSIS = '…';
/** Trailing characters that look broken right before an ellipsis. */
const DANGLING_TAIL = /[\s,;:\-–—(\u200d]+$/u;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function lastWhitespaceIndex(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) if (/\s/u.test(text.charAt(i))) return i;
  return -1;
}

/**
 * Fits `text` into `max` UTF-16 code units, ending with '…' when it had to cut. Prefers the last word boundary in the
 * second half of the allowance; never leaves half of a surrogate pair behind.
 */
export function shorten(text: string, max: number): string {
  if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`max must be a non-negative integer, got ${max}`);
  if (text.length <= max) return text;
  if (max < ELLIPSIS.length) return '';
  const budget = max - ELLIPSIS.length;
  let hard = text.slice(0, budget);
  if (hard.length > 0 && isHighSurrogate(hard.charCodeAt(hard.length - 1))) hard = hard.slice(0, -1);

  let cut = hard;
  if (!/\s/u.test(text.charAt(budget))) {
    const lastSpace = lastWhitespaceIndex(hard);
    if (lastSpace >= Math.ceil(budget / 2)) cut = hard.slice(0, lastSpace);
  }
  cut = cut.replace(DANGLING_TAIL, '');
  if (cut === '') cut = hard.replace(DANGLING_TAIL, '');
  return cut + ELLIPSIS;
}

const MORE_ROW_PREFIX = 'more:';

/**
 * One page of a long list for a list message. Pages are zero-based. Every page but the last shows
 * `listRows - 1` rows plus a row `more:<nextPage>` titled `moreLabel`; the last page shows up to `listRows` rows.
 */
export function paginateRows(rows: readonly ListRow[], page: number, moreLabel: string): ListRow[] {
  if (!Number.isSafeInteger(page) || page < 0) throw new RangeError(`page must be a non-negative integer, got ${page}`);
  const perPage = WHATSAPP_LIMITS.listRows - 1;
  const rest = rows.slice(page * perPage);
  if (rest.length <= WHATSAPP_LIMITS.listRows) return rest;
  return [...rest.slice(0, perPage), { id: `${MORE_ROW_PREFIX}${page + 1}`, title: shorten(moreLabel, WHATSAPP_LIMITS.rowTitle) }];
}

/** The page a "more" row asks for, or null when the row id is not one. */
export function morePageOf(rowId: string): number | null {
  if (!rowId.startsWith(MORE_ROW_PREFIX)) return null;
  const digits = rowId.slice(MORE_ROW_PREFIX.length);
  if (!/^\d{1,6}$/.test(digits)) return null;
  return Number(digits);
}
