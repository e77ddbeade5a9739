import { clear, h, money } from './dom.ts';

/**
 * The operator's dashboard: `/api/admin/stats`, the orders list (filters: status, shop) and an order's detail with the
 * operator actions, all with the bearer token typed here or passed once as `?token=` (then kept for this tab only).
 */
const STATUSES = ['CART', 'CHECKOUT', 'AWAITING_PAYMENT', 'PAID', 'CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED', 'CANCELLED', 'EXPIRED', 'REFUNDED'];
const METHODS = ['mpesa', 'ecocash', 'onemoney', 'innbucks', 'paynow_web', 'omari', 'razorpay_link', 'cash'];
const TOKEN_KEY = 'duka-admin-token';

interface Stats { orders: { total: number; completed: number; pending: number; byStatus: Record<string, number> }; revenue: { currency: string; amount: number }[]; customers: number }
interface Summary { orderNumber: string; shopId: string; status: string; paymentStatus: string; paymentMethod: string | null; fulfilment: string | null; total: number; currency: string; source: string; createdAt: string; updatedAt: string }
interface Detail extends Summary {
  customerName: string | null;
  address: { text?: string; latitude?: number; longitude?: number } | null;
  subtotal: number; tax: number; deliveryFee: number; workflowId: string; temporalUrl: string;
  items: { lineId: string; name: string; quantity: number; unitPrice: number; lineTotal: number; options: { group?: string; option?: string }[] }[];
  payments: { reference: string; attempt: number; provider: string; method: string; status: string; amount: number; currency: string; transactionReference: string | null; failureReason: string | null; createdAt: string }[];
  timeline: { at: string; type: string; detail: Record<string, unknown> }[];
  live: { status: string } | null;
}

const app = document.getElementById('app')!;
const logout = document.getElementById('logout') as HTMLButtonElement;
let token = '';
const filters = { status: '', shop: '' };
let listTimer: ReturnType<typeof setTimeout> | null = null;
const knownShops = new Set<string>();

class AuthError extends Error {}

async function call<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(`/api/admin${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  const body = text ? (JSON.parse(text) as unknown) : null;
  if (res.status === 401) throw new AuthError((body as { error?: { message?: string } } | null)?.error?.message ?? 'unauthorized');
  if (!res.ok) throw new Error((body as { error?: { message?: string } } | null)?.error?.message ?? `${res.status}`);
  return body as T;
}

const detailText = (d: Record<string, unknown> | null | undefined) =>
  !d || !Object.keys(d).length ? '' : Object.keys(d).length === 1 && typeof d.text === 'string' ? d.text : JSON.stringify(d);
const chip = (text: string, tone = text) => h('span', { class: `chip s-${tone.toLowerCase()}` }, text.replace(/_/g, ' '));
const when = (iso: string) => new Date(iso).toLocaleString();

function loginForm(message?: string): void {
  if (listTimer) clearTimeout(listTimer);
  logout.hidden = true;
  clear(app);
  const input = h('input', { type: 'password', name: 'token', 'aria-label': 'Admin token', placeholder: 'ADMIN_TOKEN', autocomplete: 'off', size: 40 });
  const form = h('form', { class: 'card login' }, h('h1', {}, 'Sign in'), h('p', { class: 'muted' }, '`npm start` prints the admin token (also in .data/admin-token). A shop token shows only that shop.'), message ? h('p', { class: 'error' }, message) : null, input, h('button', { type: 'submit' }, 'Open dashboard'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    token = input.value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    void route();
  });
  app.append(form);
  input.focus();
}

function fail(err: unknown): void {
  if (err instanceof AuthError) {
    sessionStorage.removeItem(TOKEN_KEY);
    loginForm(`The token was refused: ${err.message}`);
  } else {
    app.prepend(h('p', { class: 'error' }, (err as Error).message));
  }
}

async function dashboard(): Promise<void> {
  const [stats, list] = await Promise.all([
    call<Stats>(`/stats${filters.shop ? `?shop=${encodeURIComponent(filters.shop)}` : ''}`),
    call<{ orders: Summary[] }>(`/orders?limit=100${filters.status ? `&status=${filters.status}` : ''}${filters.shop ? `&shop=${encodeURIComponent(filters.shop)}` : ''}`),
  ]);
  logout.hidden = false;
  for (const o of list.orders) knownShops.add(o.shopId);
  clear(app);
  const statusSelect = h('select', { name: 'status', 'aria-label': 'Status filter' }, h('option', { value: '' }, 'All statuses'), ...STATUSES.map((s) => h('option', { value: s, selected: filters.status === s }, s)));
  const shopSelect = h('select', { name: 'shop', 'aria-label': 'Shop filter' }, h('option', { value: '' }, 'All shops'), ...[...knownShops].sort().map((s) => h('option', { value: s, selected: filters.shop === s }, s)));
  statusSelect.addEventListener('change', () => ((filters.status = statusSelect.value), void route()));
  shopSelect.addEventListener('change', () => ((filters.shop = shopSelect.value), void route()));
  app.append(
    h(
      'section',
      { class: 'stats' },
      h('div', { class: 'card stat' }, h('span', {}, 'Orders'), h('strong', { id: 'stat-total' }, stats.orders.total)),
      h('div', { class: 'card stat' }, h('span', {}, 'Completed'), h('strong', {}, stats.orders.completed)),
      h('div', { class: 'card stat' }, h('span', {}, 'Pending'), h('strong', {}, stats.orders.pending)),
      h('div', { class: 'card stat' }, h('span', {}, 'Customers'), h('strong', {}, stats.customers)),
      h('div', { class: 'card stat' }, h('span', {}, 'Revenue'), h('strong', {}, stats.revenue.length ? stats.revenue.map((r) => money(r.amount, r.currency)).join(' · ') : '—')),
    ),
    h('section', { class: 'filters' }, statusSelect, shopSelect, h('span', { class: 'muted' }, `${list.orders.length} orders, newest first`)),
    h(
      'table',
      { class: 'orders' },
      h('thead', {}, h('tr', {}, ...['Order', 'Shop', 'Status', 'Payment', 'Total', 'Created'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        ...list.orders.map((o) =>
          h(
            'tr',
            { 'data-order': o.orderNumber, onclick: () => (location.hash = `#/orders/${encodeURIComponent(o.orderNumber)}`) },
            h('td', {}, h('a', { href: `#/orders/${encodeURIComponent(o.orderNumber)}` }, o.orderNumber)),
            h('td', {}, o.shopId),
            h('td', {}, chip(o.status)),
            h('td', {}, `${o.paymentMethod ?? '—'} `, chip(o.paymentStatus)),
            h('td', { class: 'num' }, money(o.total, o.currency)),
            h('td', {}, when(o.createdAt)),
          ),
        ),
      ),
    ),
  );
  listTimer = setTimeout(() => void route(), 5000);
}

async function detail(orderNumber: string): Promise<void> {
  const o = await call<Detail>(`/orders/${encodeURIComponent(orderNumber)}`);
  logout.hidden = false;
  clear(app);
  const out = h('p', { class: 'result', role: 'status' });
  const act = async (path: string, body: unknown) => {
    out.textContent = 'Working…';
    try {
      const r = await call<Detail>(`/orders/${encodeURIComponent(o.orderNumber)}/${path}`, { method: 'POST', body });
      out.textContent = `Done: the order is now ${r.status}.`;
      setTimeout(() => void route(), 800);
    } catch (err) {
      if (err instanceof AuthError) return fail(err);
      out.textContent = `Refused: ${(err as Error).message}`;
    }
  };
  const statusSel = h('select', { name: 'next-status', 'aria-label': 'New status' }, ...STATUSES.map((s) => h('option', { value: s }, s)));
  const note = h('input', { name: 'note', placeholder: 'note (optional)', 'aria-label': 'Note' });
  const reason = h('input', { name: 'reason', placeholder: 'reason (optional)', 'aria-label': 'Reason' });
  const method = h('select', { name: 'method', 'aria-label': 'Payment method' }, h('option', { value: '' }, 'same method'), ...METHODS.map((m) => h('option', { value: m }, m)));
  const opt = (v: string, key: string) => (v.trim() ? { [key]: v.trim() } : {});
  app.append(
    h('p', {}, h('a', { href: '#/' }, '← All orders')),
    h(
      'section',
      { class: 'card' },
      h('h1', {}, `Order ${o.orderNumber} `, chip(o.status), ' ', chip(`payment ${o.paymentStatus}`, o.paymentStatus)),
      h('p', { class: 'muted' }, `${o.shopId} · ${o.source} · created ${when(o.createdAt)}${o.customerName ? ` · ${o.customerName}` : ''}`),
      h('p', {}, h('a', { href: o.temporalUrl, target: '_blank', rel: 'noopener', id: 'temporal' }, `Workflow ${o.workflowId} in Temporal UI ↗`), o.live ? h('span', { class: 'muted' }, ` · workflow says ${o.live.status}`) : h('span', { class: 'muted' }, ' · workflow did not answer')),
      h(
        'table',
        { class: 'items' },
        ...o.items.map((l) => h('tr', {}, h('td', {}, `${l.quantity} ×`), h('td', {}, l.name, l.options.length ? h('div', { class: 'muted' }, l.options.map((x) => x.option).join(', ')) : null), h('td', { class: 'num' }, money(l.lineTotal, o.currency)))),
        h('tr', {}, h('td', {}), h('td', {}, 'Subtotal'), h('td', { class: 'num' }, money(o.subtotal, o.currency))),
        o.tax ? h('tr', {}, h('td', {}), h('td', {}, 'Tax'), h('td', { class: 'num' }, money(o.tax, o.currency))) : null,
        o.deliveryFee ? h('tr', {}, h('td', {}), h('td', {}, 'Delivery'), h('td', { class: 'num' }, money(o.deliveryFee, o.currency))) : null,
        h('tr', { class: 'total' }, h('td', {}), h('td', {}, 'Total'), h('td', { class: 'num' }, money(o.total, o.currency))),
      ),
      o.fulfilment ? h('p', {}, o.fulfilment === 'delivery' ? `Delivery to ${o.address?.text ?? `${o.address?.latitude}, ${o.address?.longitude}`}` : 'Pickup') : null,
    ),
    h('section', { class: 'card' }, h('h2', {}, 'Payments'), o.payments.length ? h('table', { class: 'items' }, ...o.payments.map((p) => h('tr', {}, h('td', {}, `#${p.attempt}`), h('td', {}, p.method), h('td', {}, chip(p.status.toUpperCase())), h('td', { class: 'num' }, money(p.amount, p.currency)), h('td', {}, p.transactionReference ?? p.failureReason ?? '')))) : h('p', { class: 'muted' }, 'None yet.')),
    h('section', { class: 'card' }, h('h2', {}, 'Timeline'), h('ol', { class: 'timeline' }, ...o.timeline.map((t) => h('li', {}, h('span', { class: 'muted' }, when(t.at)), ` ${t.type}`, detailText(t.detail) ? h('span', { class: 'muted' }, ` — ${detailText(t.detail)}`) : null)))),
    h(
      'section',
      { class: 'card actions' },
      h('h2', {}, 'Operator actions'),
      h('div', {}, statusSel, note, h('button', { type: 'button', 'data-action': 'status', onclick: () => void act('status', { status: statusSel.value, ...opt(note.value, 'note') }) }, 'Advance status')),
      h('div', {}, reason, h('button', { type: 'button', 'data-action': 'cancel', onclick: () => confirm(`Cancel ${o.orderNumber}?`) && void act('cancel', opt(reason.value, 'reason')) }, 'Cancel order'), h('button', { type: 'button', 'data-action': 'refund', onclick: () => confirm(`Refund ${o.orderNumber}?`) && void act('refund', opt(reason.value, 'reason')) }, 'Refund')),
      h('div', {}, method, h('button', { type: 'button', 'data-action': 'retry', onclick: () => void act('retry-payment', method.value ? { method: method.value } : {}) }, 'Retry payment')),
      out,
    ),
  );
}

async function route(): Promise<void> {
  if (listTimer) clearTimeout(listTimer);
  if (!token) return loginForm();
  const match = /^#\/orders\/(.+)$/.exec(location.hash);
  try {
    if (match) await detail(decodeURIComponent(match[1]!));
    else await dashboard();
  } catch (err) {
    fail(err);
  }
}

const params = new URLSearchParams(location.search);
const fromUrl = params.get('token');
if (fromUrl) {
  sessionStorage.setItem(TOKEN_KEY, fromUrl);
  params.delete('token');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`);
}
token = sessionStorage.getItem(TOKEN_KEY) ?? '';
logout.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  token = '';
  loginForm();
});
window.addEventListener('hashchange', () => void route());
void route();
