import { api, append, clear, h, money } from './dom.ts';
import type { OrderView, Prompt, ProviderName, Toggles } from './types.ts';

/** Beside the chat: the order as duka's workflow answers the `order` query, and the payment simulators' controls. */
export interface PanelData {
  orderNumber: string | null;
  order: OrderView | null;
  orderError: string | null;
  temporalUrl: string | null;
  conversation: { workflowId: string; step: string; language: string; activeOrder: string | null; temporalUrl: string } | null;
}

const STATUS_TONE: Record<string, string> = {
  CART: 'grey', CHECKOUT: 'blue', AWAITING_PAYMENT: 'amber', PAID: 'green', CONFIRMED: 'green', PREPARING: 'blue',
  OUT_FOR_DELIVERY: 'blue', READY_FOR_PICKUP: 'blue', COMPLETED: 'green', CANCELLED: 'red', EXPIRED: 'red', REFUNDED: 'grey',
};

const chip = (text: string, tone = 'grey') => h('span', { class: `chip ${tone}` }, text.replace(/_/g, ' '));

export function renderOrderPanel(el: HTMLElement, data: PanelData | null): void {
  clear(el);
  el.append(h('h2', {}, 'Order (as duka sees it)'));
  if (!data) {
    el.append(h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const links = h('p', { class: 'links' });
  if (data.temporalUrl) links.append(h('a', { href: data.temporalUrl, target: '_blank', rel: 'noopener', id: 'order-temporal-link' }, 'Order workflow in Temporal UI ↗'));
  if (data.conversation) links.append(h('a', { href: data.conversation.temporalUrl, target: '_blank', rel: 'noopener' }, 'Conversation workflow ↗'));
  const o = data.order;
  if (!data.orderNumber) {
    el.append(h('p', { class: 'muted' }, data.conversation ? `No order yet (conversation step: ${data.conversation.step}).` : 'No conversation yet: say hi 👋'), links);
    return;
  }
  if (!o) {
    el.append(h('p', {}, `Order ${data.orderNumber}`), h('p', { class: 'muted' }, `The workflow did not answer: ${data.orderError ?? 'unknown'}`), links);
    return;
  }
  append(
    el,
    h('div', { class: 'order-head' }, h('strong', { id: 'order-number' }, o.orderNumber), h('span', { id: 'order-status', 'data-status': o.status }, chip(o.status, STATUS_TONE[o.status])), chip(`payment ${o.paymentStatus}`, o.paymentStatus === 'SUCCEEDED' ? 'green' : o.paymentStatus === 'FAILED' ? 'red' : 'grey')),
    h(
      'table',
      { class: 'items' },
      ...o.items.map((l) =>
        h('tr', {}, h('td', {}, `${l.quantity} ×`), h('td', {}, l.name, l.options.length ? h('div', { class: 'muted small' }, l.options.map((x) => x.option).join(', ')) : null), h('td', { class: 'num' }, money(l.lineTotal, o.currency))),
      ),
      h('tr', { class: 'sum' }, h('td', {}), h('td', {}, 'Subtotal'), h('td', { class: 'num' }, money(o.subtotal, o.currency))),
      o.tax ? h('tr', { class: 'sum' }, h('td', {}), h('td', {}, 'Tax'), h('td', { class: 'num' }, money(o.tax, o.currency))) : null,
      o.deliveryFee ? h('tr', { class: 'sum' }, h('td', {}), h('td', {}, 'Delivery'), h('td', { class: 'num' }, money(o.deliveryFee, o.currency))) : null,
      h('tr', { class: 'total' }, h('td', {}), h('td', {}, 'Total'), h('td', { class: 'num', id: 'order-total' }, money(o.total, o.currency))),
    ),
    o.fulfilment ? h('p', { class: 'small' }, o.fulfilment === 'delivery' ? `🚚 Delivery${o.address?.text ? ` to ${o.address.text}` : o.address?.latitude !== undefined ? ` to 📍 ${o.address.latitude.toFixed(4)}, ${o.address.longitude?.toFixed(4)}` : ''}` : '🏪 Pickup') : null,
    o.payments.length
      ? h('div', {}, h('h3', {}, 'Payments'), h('ul', { class: 'payments' }, ...o.payments.map((p) => h('li', {}, chip(p.status, p.status === 'succeeded' ? 'green' : p.status === 'pending' ? 'amber' : 'red'), ` #${p.attempt} ${p.method} ${money(p.amount, p.currency)}`, p.transactionReference ? ` · ${p.transactionReference}` : '', p.failureReason ? h('span', { class: 'muted' }, ` · ${p.failureReason}`) : null))))
      : null,
    h('h3', {}, 'Timeline'),
    h('ol', { class: 'timeline' }, ...[...o.timeline].reverse().slice(0, 12).map((t) => h('li', {}, h('span', { class: 'muted small' }, new Date(t.at).toLocaleTimeString()), ` ${t.type}`, t.detail ? h('span', { class: 'muted' }, ` — ${t.detail}`) : null))),
    links,
  );
}

export interface SimState {
  toggles: Record<ProviderName, Toggles>;
  supported: Record<ProviderName, (keyof Toggles)[]>;
  wrongPin: string;
  delayMs: number;
  prompts: Prompt[];
}

const NAMES: Record<ProviderName, string> = { mpesa: 'M-Pesa (Daraja)', paynow: 'Paynow (EcoCash, OneMoney, InnBucks)', omari: "O'mari", razorpay: 'Razorpay payment links' };
const TOGGLE_HELP: Record<keyof Toggles, string> = {
  fail: 'every payment fails by itself (insufficient funds)',
  delay: 'callbacks arrive late',
  duplicate: 'every callback is sent twice',
  drop: 'no callback: duka must poll',
  down: 'the provider answers 503',
};

export function renderSimPanel(el: HTMLElement, state: SimState | null, act: (path: string, body?: unknown) => void, openUrl: (url: string) => void): void {
  clear(el);
  el.append(h('h2', {}, 'Payment simulators'));
  if (!state) return;
  el.append(h('p', { class: 'muted small' }, `Tick a box to make a provider misbehave (delay = ${state.delayMs / 1000} s) and watch duka recover.`));
  for (const provider of Object.keys(NAMES) as ProviderName[]) {
    const toggles = state.toggles[provider];
    const box = h('fieldset', { class: 'sim', 'data-provider': provider }, h('legend', {}, NAMES[provider]));
    const row = h('div', { class: 'toggles' });
    for (const name of state.supported[provider]) {
      row.append(
        h('label', { title: TOGGLE_HELP[name] }, h('input', { type: 'checkbox', name: `${provider}-${name}`, checked: toggles[name], onchange: (e: Event) => act(`${provider}/behaviour`, { [name]: (e.target as HTMLInputElement).checked }) }), ` ${name}`),
      );
    }
    box.append(row);
    for (const p of state.prompts.filter((x) => x.provider === provider)) box.append(promptRow(p, state.wrongPin, act, openUrl));
    el.append(box);
  }
}

function promptRow(p: Prompt, wrongPin: string, act: (path: string, body?: unknown) => void, openUrl: (url: string) => void): HTMLElement {
  const li = h('div', { class: 'pending', 'data-prompt': p.id });
  const btn = (label: string, fn: () => void) => h('button', { type: 'button', class: 'small', onclick: fn }, label);
  if (p.provider === 'mpesa') {
    li.append(`STK to ${p.phone}: KES ${p.amount} `, btn('PIN ok', () => act(`mpesa/${p.id}/pin`, { pin: '1234' })), btn('wrong PIN', () => act(`mpesa/${p.id}/pin`, { pin: wrongPin })), btn('cancel', () => act(`mpesa/${p.id}/cancel`)), btn('time out', () => act(`mpesa/${p.id}/timeout`)));
  } else if (p.provider === 'paynow') {
    li.append(`${p.method} ${p.phone ?? ''}: ${p.currency} ${p.amount} `, btn('pay', () => act(`paynow/${p.id}/pay`)), btn('cancel', () => act(`paynow/${p.id}/cancel`)), btn('fail', () => act(`paynow/${p.id}/fail`)));
    if (p.url) li.append(btn('open page', () => openUrl(p.url!)));
  } else if (p.provider === 'razorpay') {
    li.append(`link ${p.id}: ${money(p.amount, p.currency)} `, btn('open page', () => openUrl(p.url)), btn('pay', () => act(`razorpay/${p.id}/pay`)), btn('fail', () => act(`razorpay/${p.id}/fail`)));
  } else {
    li.append(`SMS to ${p.phone}: OTP `, h('code', {}, p.otp), ` (ref ${p.otpReference}) `, btn('dismiss', () => act(`omari/${p.id}/dismiss`)));
  }
  return li;
}

export async function loadSimState(): Promise<SimState> {
  return api<SimState>('api/simulators');
}
