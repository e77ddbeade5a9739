import { call, query } from './api.ts';
import { LIST_LIMIT, amountOf, chip, field, h, input, money, moreThanShown, onSubmit, outcome, table, toMajor, when } from './ui.ts';
import { noShop, shopFor } from './catalog.ts';
import type { Page } from './types.ts';

interface Booking { reference: string; customerName: string | null; description: string; total: number; paid: number; balance: number; paymentStatus: string; currency: string; createdAt: string; updatedAt: string }

const TONE: Record<string, string> = { paid: 'paid', partly_paid: 'pending', unpaid: 'cancelled' };

/** Bookings with total, paid, balance and payment status (each customer payment adds to paid); enter or correct one. */
export const bookingsPage: Page = async (ctx) => {
  const shop = shopFor(ctx);
  if (!shop) return noShop;
  const path = `/shops/${encodeURIComponent(shop.id)}/bookings`;
  const { bookings, nextCursor } = await call<{ bookings: Booking[]; nextCursor: string | null }>(`${path}${query({ limit: LIST_LIMIT })}`);
  const cur = shop.currency;
  const out = outcome();
  const f = {
    reference: input('reference', '', { required: true, maxlength: 64, placeholder: 'e.g. WED-0612' }),
    customerName: input('customerName', '', { maxlength: 200 }),
    description: input('description', '', { maxlength: 200 }),
    total: input('total', '', { required: true, inputmode: 'decimal' }),
    paid: input('paid', '', { inputmode: 'decimal', placeholder: '0' }),
  };
  let editing: Booking | null = null;
  const title = h('h2', {}, 'New booking');
  const submit = h('button', { type: 'submit' }, 'Add booking');
  const edit = (b: Booking) => {
    editing = b;
    title.textContent = `Correct ${b.reference}`;
    submit.textContent = 'Save booking';
    f.reference.value = b.reference;
    f.reference.disabled = true;
    f.customerName.value = b.customerName ?? '';
    f.description.value = b.description;
    f.total.value = toMajor(b.total, cur);
    f.paid.value = toMajor(b.paid, cur);
    form.scrollIntoView({ behavior: 'smooth' });
  };
  const form = h(
    'form',
    { class: 'card form', id: 'booking-form' },
    title,
    h('div', { class: 'grid' }, field('Reference', f.reference, 'what the customer types to pay it'), field('Customer name', f.customerName), field('Description', f.description), field(`Total (${cur})`, f.total), field(`Paid (${cur})`, f.paid, 'a change here is a correction')),
    h('div', { class: 'buttons' }, submit),
    out.el,
  );
  onSubmit(form, out, async () => {
    const common = {
      ...(f.customerName.value.trim() ? { customerName: f.customerName.value.trim() } : editing ? { customerName: null } : {}),
      ...(f.description.value.trim() && { description: f.description.value.trim() }),
      total: amountOf(f.total, cur, 'Total'),
      ...(f.paid.value.trim() && { paid: amountOf(f.paid, cur, 'Paid') }),
    };
    if (editing) await call(`${path}/${encodeURIComponent(editing.reference)}`, { method: 'PATCH', body: common });
    else await call(path, { method: 'POST', body: { reference: f.reference.value.trim(), ...common } });
    ctx.refresh();
  });
  return {
    live: true,
    node: h(
      'div',
      {},
      h('h1', {}, `Bookings · ${shop.name}`),
      table(
        'bookings',
        ['Reference', 'Customer', 'Description', 'Total', 'Paid', 'Balance', 'Payment', 'Updated', ''],
        bookings.map((b) => ({
          attrs: { 'data-booking': b.reference },
          cells: [b.reference, b.customerName ?? '', b.description, money(b.total, b.currency), money(b.paid, b.currency), money(b.balance, b.currency), chip(b.paymentStatus.toUpperCase(), TONE[b.paymentStatus]), when(b.updatedAt), h('button', { type: 'button', class: 'small', onclick: () => edit(b) }, 'Edit')],
        })),
        'No bookings yet.',
      ),
      moreThanShown(nextCursor, 'bookings'),
      form,
    ),
  };
};
