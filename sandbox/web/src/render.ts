import { append, clock, formatted, h, money } from './dom.ts';
import type { ChatEntry, Json, Outgoing, ShopInfo } from './types.ts';

/**
 * One chat entry → a WhatsApp-like bubble. Business messages are Graph API request bodies (what duka sent); customer
 * messages are the raw Meta inbound objects the sandbox posted. Taps call back into the page through `Actions`.
 */
export interface Actions {
  send(message: Outgoing): void;
  openList(entry: ChatEntry, action: Json): void;
  openCatalog(filter?: string[]): void;
  openUrl(url: string): void;
  /** Renders the Flow of a flow message (sandbox/web/src/flow.ts). */
  openFlow(entry: ChatEntry, parameters: Json): void;
}

const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const TICKS: Record<string, string> = { pending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function meta(entry: ChatEntry): HTMLElement {
  return h(
    'span',
    { class: 'meta' },
    clock(entry.at),
    h('span', { class: `tick ${entry.status}`, title: entry.error ?? entry.status, 'data-status': entry.status }, TICKS[entry.status] ?? ''),
  );
}

/** A short text for a quoted message (the one a reply refers to). */
export function snippet(entry: ChatEntry | undefined): string {
  if (!entry) return '';
  const m = entry.message;
  if (entry.direction === 'in') {
    const type = str(m.type);
    const inner = obj(m[type]);
    if (type === 'text') return str(inner.body);
    if (type === 'interactive') return str(obj(inner.button_reply).title) || str(obj(inner.list_reply).title);
    return type;
  }
  const type = str(m.type);
  if (type === 'text') return str(obj(m.text).body);
  if (type === 'interactive') return str(obj(obj(m.interactive).body).text);
  if (type === 'image') return `📷 ${str(obj(m.image).caption)}`;
  return type;
}

function header(interactive: Json): HTMLElement | null {
  const hd = obj(interactive.header);
  if (hd.type === 'image') return h('img', { class: 'media', src: str(obj(hd.image).link), alt: '' });
  if (hd.type === 'text') return h('div', { class: 'header' }, str(hd.text));
  return null;
}

function footer(interactive: Json): HTMLElement | null {
  const text = str(obj(interactive.footer).text);
  return text ? h('div', { class: 'footer' }, text) : null;
}

function productCard(shop: ShopInfo, retailerId: string): HTMLElement {
  const p = shop.products.find((x) => x.retailerId === retailerId);
  if (!p) return h('div', { class: 'product' }, `Product ${retailerId}`);
  return h(
    'div',
    { class: 'product' },
    p.imageUrl ? h('img', { class: 'media', src: p.imageUrl, alt: '' }) : null,
    h('div', { class: 'product-name' }, p.name),
    h('div', { class: 'product-price' }, money(p.price, shop.currency)),
  );
}

/** duka's message: the Graph API body. Returns the bubble and the buttons shown under it. */
function business(entry: ChatEntry, shop: ShopInfo, actions: Actions): { bubble: HTMLElement; below: HTMLElement | null } {
  const m = entry.message;
  const type = str(m.type);
  const bubble = h('div', { class: 'bubble' });
  let below: HTMLElement | null = null;
  const buttons = (...children: HTMLElement[]) => (below = h('div', { class: 'wa-buttons' }, ...children));

  if (type === 'text') {
    bubble.append(formatted(str(obj(m.text).body)));
  } else if (type === 'image') {
    const image = obj(m.image);
    bubble.append(h('img', { class: 'media', src: str(image.link), alt: '' }));
    if (image.caption) bubble.append(formatted(str(image.caption)));
  } else if (type === 'template') {
    const t = obj(m.template);
    const params = arr(obj(arr(t.components).find((c) => obj(c).type === 'body')).parameters).map((p) => str(obj(p).text));
    bubble.append(h('div', { class: 'header' }, `Template “${str(t.name)}”`), formatted(params.join(' · ')));
  } else if (type === 'interactive') {
    const i = obj(m.interactive);
    const action = obj(i.action);
    const itype = str(i.type);
    const hd = header(i);
    if (hd) bubble.append(hd);
    if (itype === 'product') bubble.append(productCard(shop, str(action.product_retailer_id)));
    if (itype === 'catalog_message') {
      const thumb = str(obj(action.parameters).thumbnail_product_retailer_id);
      const first = shop.products.find((p) => p.retailerId === thumb) ?? shop.products[0];
      if (first?.imageUrl) bubble.append(h('img', { class: 'media', src: first.imageUrl, alt: '' }));
      bubble.append(h('div', { class: 'header' }, `${shop.name} catalog`));
    }
    const body = str(obj(i.body).text);
    if (body) bubble.append(formatted(body));
    const ft = footer(i);
    if (ft) bubble.append(ft);

    if (itype === 'button') {
      buttons(
        ...arr(action.buttons).map((b) => {
          const reply = obj(obj(b).reply);
          const id = str(reply.id);
          const title = str(reply.title);
          return h('button', { type: 'button', class: 'wa-btn', 'data-reply-id': id, onclick: () => actions.send({ type: 'button_reply', id, title, contextId: entry.id }) }, '↩︎ ', title);
        }),
      );
    } else if (itype === 'list') {
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-list': entry.id, onclick: () => actions.openList(entry, action) }, '☰ ', str(action.button)));
    } else if (itype === 'cta_url') {
      const p = obj(action.parameters);
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-url': str(p.url), onclick: () => actions.openUrl(str(p.url)) }, '↗ ', str(p.display_text)));
    } else if (itype === 'catalog_message') {
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-catalog': '1', onclick: () => actions.openCatalog() }, 'View catalog'));
    } else if (itype === 'product') {
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-catalog': '1', onclick: () => actions.openCatalog([str(action.product_retailer_id)]) }, 'View'));
    } else if (itype === 'product_list') {
      const ids = arr(action.sections).flatMap((s) => arr(obj(s).product_items).map((p) => str(obj(p).product_retailer_id)));
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-catalog': '1', onclick: () => actions.openCatalog(ids) }, `View items (${ids.length})`));
    } else if (itype === 'flow') {
      const p = obj(action.parameters);
      buttons(h('button', { type: 'button', class: 'wa-btn', 'data-flow-id': str(p.flow_id), onclick: () => actions.openFlow(entry, p) }, str(p.flow_cta) || 'Open'));
    }
  } else {
    bubble.append(h('i', {}, `(${type} message)`));
  }
  bubble.append(meta(entry));
  return { bubble, below };
}

/** The customer's message: the raw Meta inbound object. */
function customer(entry: ChatEntry, shop: ShopInfo, quoted: ChatEntry | undefined): HTMLElement {
  const m = entry.message;
  const type = str(m.type);
  const bubble = h('div', { class: 'bubble' });
  if (quoted) bubble.append(h('div', { class: 'quote' }, h('b', {}, shop.name), h('div', {}, snippet(quoted).replace(/[*_~]/g, '').slice(0, 120))));
  if (type === 'text') bubble.append(formatted(str(obj(m.text).body)));
  else if (type === 'interactive') {
    const i = obj(m.interactive);
    const reply = obj(i.button_reply ?? i.list_reply);
    bubble.append(h('span', { class: 'text' }, str(reply.title)));
    if (reply.description) bubble.append(h('div', { class: 'footer' }, str(reply.description)));
  } else if (type === 'location') {
    const l = obj(m.location);
    bubble.append(
      h('div', { class: 'map' }, h('span', { class: 'pin' }, '📍')),
      h('div', { class: 'header' }, str(l.name) || 'Location'),
      h('div', { class: 'footer' }, [str(l.address), `${Number(l.latitude).toFixed(5)}, ${Number(l.longitude).toFixed(5)}`].filter(Boolean).join(' · ')),
    );
  } else if (type === 'order') {
    const o = obj(m.order);
    const items = arr(o.product_items).map(obj);
    const total = items.reduce((sum, it) => sum + Number(it.item_price ?? 0) * Number(it.quantity ?? 0), 0);
    append(
      bubble,
      h('div', { class: 'header' }, `🛒 ${items.reduce((n, it) => n + Number(it.quantity ?? 0), 0)} items`),
      h('div', { class: 'footer' }, items.map((it) => `${String(it.quantity)} × ${shop.products.find((p) => p.retailerId === it.product_retailer_id)?.name ?? str(it.product_retailer_id)}`).join('\n')),
      total ? h('div', { class: 'product-price' }, `≈ ${money(Math.round(total * 100), shop.currency)}`) : null,
    );
  } else bubble.append(h('i', {}, `(${type})`));
  bubble.append(meta(entry));
  return bubble;
}

export function renderEntry(entry: ChatEntry, shop: ShopInfo, actions: Actions, byId: (id: string) => ChatEntry | undefined): HTMLElement {
  const mine = entry.direction === 'in';
  const row = h('div', { class: `row ${mine ? 'me' : 'them'}`, 'data-id': entry.id, 'data-kind': mine ? 'customer' : 'business' });
  if (mine) {
    const context = obj(entry.message.context);
    row.append(customer(entry, shop, context.id ? byId(str(context.id)) : undefined));
  } else {
    const { bubble, below } = business(entry, shop, actions);
    row.append(bubble);
    if (below) row.append(below);
  }
  if (entry.status === 'failed' && entry.error) row.append(h('div', { class: 'failure' }, entry.error));
  return row;
}
