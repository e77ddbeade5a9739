import type { OrderDetail, OrderSummary, Stats } from '../../api/read-model.ts';
import { call, query } from './api.ts';
import { ATTENTION, METHODS, amountOf, attentionBadge, chip, h, input, money, outcome, select, table, when } from './ui.ts';
import type { Page } from './types.ts';

const STATUSES = ['CART', 'CHECKOUT', 'AWAITING_PAYMENT', 'PAID', 'CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED', 'CANCELLED', 'EXPIRED', 'REFUNDED'];
const NEXT_STATUSES = ['CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED'];
const filters = { status: '', attention: false };

const orderLink = (n: string) => `#/orders/${encodeURIComponent(n)}`;

/** Stats, the orders needing a person first, then every order (filters: status, needs attention; shop in the top bar). */
export const ordersPage: Page = async (ctx) => {
  const shop = ctx.shop?.id;
  const [stats, list, attention] = await Promise.all([
    call<Stats>(`/stats${query({ shop })}`),
    call<{ orders: OrderSummary[] }>(`/orders${query({ shop, limit: 100, status: filters.status, attention: filters.attention })}`),
    call<{ orders: OrderSummary[] }>(`/orders${query({ shop, limit: 50, attention: true })}`),
  ]);
  const statusSelect = select('status', [['', 'All statuses'], ...STATUSES.map((s): [string, string] => [s, s.replace(/_/g, ' ')])], filters.status, { 'aria-label': 'Status filter' });
  const attentionBox = h('input', { type: 'checkbox', name: 'attention', checked: filters.attention });
  statusSelect.addEventListener('change', () => ((filters.status = statusSelect.value), ctx.refresh()));
  attentionBox.addEventListener('change', () => ((filters.attention = attentionBox.checked), ctx.refresh()));
  const stat = (label: string, value: string | number, id?: string) => h('div', { class: 'card stat' }, h('span', {}, label), h('strong', id ? { id } : {}, value));
  return {
    live: true,
    node: h(
      'div',
      {},
      h(
        'section',
        { class: 'stats' },
        stat('Orders', stats.orders.total, 'stat-total'),
        stat('Pending', stats.orders.pending),
        stat('Completed', stats.orders.completed),
        stat('Customers', stats.customers),
        stat('Revenue', stats.revenue.length ? stats.revenue.map((r) => money(r.amount, r.currency)).join(' · ') : '—'),
      ),
      attention.orders.length
        ? h(
            'section',
            { class: 'card needs', id: 'attention' },
            h('h2', {}, `Needs you (${attention.orders.length})`),
            h('ul', { class: 'plain' }, ...attention.orders.map((o) => h('li', { 'data-order': o.orderNumber }, h('a', { href: orderLink(o.orderNumber) }, o.orderNumber), ' ', attentionBadge(o.attention ?? ''), h('span', { class: 'muted' }, ` ${ATTENTION[o.attention ?? '']?.todo ?? ''}`)))),
          )
        : null,
      h('section', { class: 'filters' }, statusSelect, h('label', { class: 'inline' }, attentionBox, ' Needs attention only'), h('span', { class: 'muted' }, `${list.orders.length} orders, newest first`)),
      table(
        'orders',
        ['Order', 'Shop', 'Status', 'Payment', 'Total', 'Created'],
        list.orders.map((o) => ({
          attrs: { 'data-order': o.orderNumber },
          cells: [
            [h('a', { href: orderLink(o.orderNumber) }, o.orderNumber), o.attention ? attentionBadge(o.attention) : null],
            o.shopId,
            chip(o.status),
            [`${o.paymentMethod ?? '—'} `, chip(o.paymentStatus)],
            [money(o.total, o.currency), o.refunded ? h('div', { class: 'muted' }, `refunded ${money(o.refunded, o.currency)}`) : null],
            when(o.createdAt),
          ],
        })),
        'No orders match.',
      ),
    ),
  };
};

const detailText = (d: Record<string, unknown> | null | undefined) =>
  !d || !Object.keys(d).length ? '' : Object.keys(d).length === 1 && typeof d.text === 'string' ? d.text : JSON.stringify(d);

/** One order: what it holds, its payments and timeline, what needs doing, and the operator's actions. */
export const orderPage: Page = async (ctx, [orderNumber = '']) => {
  const o = await call<OrderDetail>(`/orders/${encodeURIComponent(orderNumber)}`);
  const out = outcome();
  const cur = o.currency;
  const act = async (path: string, body: unknown, question: string) => {
    if (!confirm(question)) return;
    out.working();
    try {
      const r = await call<OrderDetail>(`/orders/${encodeURIComponent(o.orderNumber)}/${path}`, { method: 'POST', body });
      out.done(`Done: the order is now ${r.status}, paid ${money(r.paid, cur)}.`);
      setTimeout(() => ctx.refresh(), 1200);
    } catch (err) {
      out.refused(err);
    }
  };
  const text = (name: string, placeholder: string) => input(name, '', { placeholder, 'aria-label': placeholder });
  const opt = (el: HTMLInputElement, key: string) => (el.value.trim() ? { [key]: el.value.trim() } : {});
  const nextStatus = select('next-status', NEXT_STATUSES, NEXT_STATUSES[0]!, { 'aria-label': 'New status' });
  const note = text('note', 'note (optional)');
  const reason = text('reason', 'reason (optional)');
  const refundAmount = input('refund-amount', '', { inputmode: 'decimal', placeholder: `all of ${money(o.paid, cur)}`, 'aria-label': `Refund amount (${cur})` });
  const refundNote = text('refund-note', 'how it was given back (e.g. M-Pesa reversal code)');
  const refundedAmount = input('refunded-amount', '', { inputmode: 'decimal', placeholder: 'amount (optional)', 'aria-label': `Amount given back (${cur})` });
  const method = select('method', [['', 'same method'], ...METHODS.map((m): [string, string] => [m, m])], '', { 'aria-label': 'Payment method' });
  const refund = () => {
    try {
      const amount = refundAmount.value.trim() ? amountOf(refundAmount, cur, 'Refund amount') : undefined;
      void act('refund', { ...opt(reason, 'reason'), ...(amount !== undefined && { amount }) }, `Refund ${amount !== undefined ? money(amount, cur) : `all ${money(o.paid, cur)}`} of ${o.orderNumber} to the customer?`);
    } catch (err) {
      out.refused(err);
    }
  };
  const markRefunded = () => {
    try {
      const amount = refundedAmount.value.trim() ? amountOf(refundedAmount, cur, 'Amount') : undefined;
      void act('mark-refunded', { note: refundNote.value.trim(), ...(amount !== undefined && { amount }) }, `Record that ${o.orderNumber} was refunded by hand?`);
    } catch (err) {
      out.refused(err);
    }
  };
  const help = o.attention ? ATTENTION[o.attention] : undefined;
  const row = (label: string, amount: number, cls = '') => h('tr', { class: cls }, h('td', {}), h('td', {}, label), h('td', { class: 'num' }, money(amount, cur)));
  return {
    live: true,
    node: h(
      'div',
      {},
      h('p', {}, h('a', { href: '#/orders' }, '← All orders')),
      o.attention
        ? h(
            'section',
            { class: 'card attention-box', 'data-attention': o.attention },
            h('h2', {}, attentionBadge(o.attention)),
            help ? h('dl', {}, h('dt', {}, 'What happened'), h('dd', {}, help.happened), h('dt', {}, 'What duka did'), h('dd', {}, help.did), h('dt', {}, 'What you do'), h('dd', { class: 'todo' }, help.todo)) : null,
          )
        : null,
      h(
        'section',
        { class: 'card' },
        h('h1', {}, `Order ${o.orderNumber} `, chip(o.status), ' ', chip(`payment ${o.paymentStatus}`, o.paymentStatus)),
        h('p', { class: 'muted' }, `${o.shopId} · ${o.source} · created ${when(o.createdAt)}${o.customerName ? ` · ${o.customerName}` : ''}`),
        h('p', {}, h('a', { href: o.temporalUrl, target: '_blank', rel: 'noopener', id: 'temporal' }, `Workflow ${o.workflowId} in Temporal UI ↗`), h('span', { class: 'muted' }, o.live ? ` · workflow says ${o.live.status}` : ' · workflow did not answer')),
        h(
          'table',
          { class: 'items' },
          ...o.items.map((l) => h('tr', {}, h('td', {}, `${l.quantity} ×`), h('td', {}, l.name, l.options.length ? h('div', { class: 'muted' }, l.options.map((x) => x.option).join(', ')) : null), h('td', { class: 'num' }, money(l.lineTotal, cur)))),
          row('Subtotal', o.subtotal),
          ...o.discounts.map((d) => row(`Discount: ${d.title}`, -d.amount)),
          o.tax ? row('Tax', o.tax) : null,
          o.deliveryFee ? row('Delivery', o.deliveryFee) : null,
          row('Total', o.total, 'total'),
          h('tr', {}, h('td', {}), h('td', {}, 'Paid (after refunds)'), h('td', { class: 'num', id: 'paid' }, money(o.paid, cur))),
          o.refunded ? h('tr', {}, h('td', {}), h('td', {}, 'Refunded'), h('td', { class: 'num', id: 'refunded' }, money(o.refunded, cur))) : null,
        ),
        o.fulfilment ? h('p', {}, o.fulfilment === 'delivery' ? `Delivery to ${o.address?.text ?? `${o.address?.latitude}, ${o.address?.longitude}`}` : 'Pickup') : null,
        o.note ? h('p', {}, `Note: ${o.note}`) : null,
      ),
      h(
        'section',
        { class: 'card actions' },
        h('h2', {}, 'Operator actions'),
        h('div', {}, nextStatus, note, h('button', { type: 'button', 'data-action': 'status', onclick: () => void act('status', { status: nextStatus.value, ...opt(note, 'note') }, `Move ${o.orderNumber} to ${nextStatus.value.replace(/_/g, ' ')}?`) }, 'Advance status')),
        h('div', {}, reason, h('button', { type: 'button', class: 'danger', 'data-action': 'cancel', onclick: () => void act('cancel', opt(reason, 'reason'), `Cancel ${o.orderNumber}? A paid order is refunded first where the provider can.`) }, 'Cancel order')),
        h('div', {}, refundAmount, h('button', { type: 'button', class: 'danger', 'data-action': 'refund', onclick: refund }, 'Refund')),
        h('div', {}, refundNote, refundedAmount, h('button', { type: 'button', 'data-action': 'mark-refunded', onclick: markRefunded }, 'Mark refunded')),
        h('div', {}, method, h('button', { type: 'button', 'data-action': 'retry', onclick: () => void act('retry-payment', method.value ? { method: method.value } : {}, `Send ${o.orderNumber}'s customer a new payment prompt?`) }, 'Retry payment')),
        out.el,
      ),
      h('section', { class: 'card' }, h('h2', {}, 'Payments'), table('payments', ['#', 'Method', 'Status', 'Amount', 'Reference'], o.payments.map((p) => ({ cells: [`#${p.attempt}`, p.method, chip(p.status.toUpperCase()), money(p.amount, p.currency), p.transactionReference ?? p.failureReason ?? ''] })), 'None yet.')),
      h('section', { class: 'card' }, h('h2', {}, 'Timeline'), h('ol', { class: 'timeline' }, ...o.timeline.map((t) => h('li', {}, h('span', { class: 'muted' }, when(t.at)), ` ${t.type}`, detailText(t.detail) ? h('span', { class: 'muted' }, ` — ${detailText(t.detail)}`) : null)))),
    ),
  };
};
