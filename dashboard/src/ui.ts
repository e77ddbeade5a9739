import { h } from '../../sandbox/web/src/dom.ts';
import { CURRENCIES, formatMoney, isCurrencyCode, parseDecimal } from '../../domain/money.ts';
import { PAYMENT_METHODS, type PaymentMethod } from '../../domain/payment-methods.ts';

export { clear, h } from '../../sandbox/web/src/dom.ts';

type Child = Node | string | number | null | undefined | false;

/** Every payment method a shop can offer, from the domain's one table (domain/payment-methods.ts), never a copy. */
export const METHODS = Object.keys(PAYMENT_METHODS) as PaymentMethod[];

/** Rows a list page asks for (the API's largest page): the newest; a list with more says so under it. */
export const LIST_LIMIT = 200;
export const moreThanShown = (nextCursor: string | null, what: string) => (nextCursor ? h('p', { class: 'muted', 'data-more': what }, `The newest ${LIST_LIMIT} ${what} are shown.`) : null);

/** Minor units → "KES 1,500" / "USD 12.50", by the currency's own exponent. */
export function money(minor: number, currency: string): string {
  if (isCurrencyCode(currency)) return formatMoney({ amount: minor, currency });
  try {
    const format = new Intl.NumberFormat('en', { style: 'currency', currency, currencyDisplay: 'code' });
    return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2)).replace(/\u00a0/g, ' ');
  } catch {
    return `${currency} ${minor}`;
  }
}

const exponentOf = (currency: string) => (isCurrencyCode(currency) ? CURRENCIES[currency].exponent : 2);

/** What an operator types ("12.50") → minor units; null when it is not a clean amount in that currency. */
export function toMinor(text: string, currency: string): number | null {
  if (isCurrencyCode(currency)) return parseDecimal(text, currency);
  const n = Number(text.trim());
  return Number.isFinite(n) && n >= 0 ? Math.round(n * 10 ** exponentOf(currency)) : null;
}

/** Minor units → the decimal an input shows ("12.50"). */
export function toMajor(minor: number, currency: string): string {
  const e = exponentOf(currency);
  return (minor / 10 ** e).toFixed(e);
}

/** Reads a money input: minor units, or throws a message naming the field. */
export function amountOf(input: HTMLInputElement, currency: string, label: string): number {
  const minor = toMinor(input.value, currency);
  if (minor === null) throw new Error(`${label}: "${input.value}" is not an amount in ${currency}`);
  return minor;
}

export const chip = (text: string, tone = text) => h('span', { class: `chip s-${tone.toLowerCase()}` }, text.replace(/_/g, ' '));
export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

/** A labelled control. */
export const field = (label: string, control: HTMLElement, hint?: string) =>
  h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', { class: 'muted' }, hint) : null);

export const input = (name: string, value: string | number | null | undefined = '', attrs: Record<string, string | number | boolean> = {}) =>
  h('input', { name, value: value === null || value === undefined ? '' : String(value), ...attrs });

export const checkbox = (name: string, checked: boolean) => h('input', { type: 'checkbox', name, checked });

export function select(name: string, options: (string | [value: string, label: string])[], selected: string, attrs: Record<string, string> = {}) {
  return h('select', { name, ...attrs }, ...options.map((o) => {
    const [value, label] = typeof o === 'string' ? [o, o] : o;
    return h('option', { value, selected: value === selected }, label);
  }));
}

/**
 * A table that becomes a stack of cards on a phone: each cell carries its column's name (`data-label`, shown by the CSS
 * under 640px).
 */
export function table(cls: string, headers: string[], rows: { attrs?: Record<string, string>; cells: (Child | Child[])[] }[], empty = 'Nothing yet.') {
  if (!rows.length) return h('p', { class: 'muted empty' }, empty);
  return h(
    'table',
    { class: `list ${cls}` },
    h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows.map((r) => h('tr', r.attrs ?? {}, ...r.cells.map((c, i) => h('td', { 'data-label': headers[i] ?? '' }, ...(Array.isArray(c) ? c : [c])))))),
  );
}

/** A status line for a form: what is happening, what was done, or why it was refused. */
export function outcome() {
  const el = h('p', { class: 'result', role: 'status' });
  return {
    el,
    working: () => ((el.className = 'result'), (el.textContent = 'Working…')),
    done: (text: string) => ((el.className = 'result ok'), (el.textContent = text)),
    refused: (err: unknown) => ((el.className = 'result error'), (el.textContent = `Refused: ${err instanceof Error ? err.message : String(err)}`)),
  };
}

/** Runs `work` when the form is submitted, showing progress and any refusal in `out`. */
export function onSubmit(form: HTMLFormElement, out: ReturnType<typeof outcome>, work: () => Promise<void>): void {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    out.working();
    work().catch((err: unknown) => out.refused(err));
  });
}

/** What each `Attention` value means for the operator (README § Operating orders). */
export const ATTENTION: Record<string, { title: string; happened: string; did: string; todo: string }> = {
  DOUBLE_PAYMENT: {
    title: 'Paid twice',
    happened: 'A second payment succeeded on an order already paid.',
    did: 'Refunded it where the provider can (Razorpay) and told the customer.',
    todo: 'Where it could not (M-Pesa, Paynow, O\'mari): give the money back, then "Mark refunded".',
  },
  REFUND_OWED: {
    title: 'Refund owed',
    happened: 'A paid order was cancelled and its provider cannot refund, or money arrived after the order closed.',
    did: 'Told the customer the shop will contact them.',
    todo: 'Refund by hand, then "Mark refunded", or reopen it with the customer.',
  },
  AMOUNT_MISMATCH: {
    title: 'Amount mismatch',
    happened: 'The provider confirmed a different amount or currency.',
    did: 'Did not mark it paid.',
    todo: 'Check with the customer and the provider.',
  },
  PROVIDER_ERROR: {
    title: 'Provider error',
    happened: 'The payment provider refused for good (credentials, a broken request).',
    did: 'Ended that attempt and told the customer no money was taken.',
    todo: "Fix the shop's payment settings (Shops), then retry the payment.",
  },
};

export const attentionBadge = (reason: string) => h('span', { class: 'badge attention', 'data-attention': reason, title: ATTENTION[reason]?.todo ?? reason }, `⚠ ${ATTENTION[reason]?.title ?? reason}`);
