import type { CustomerSummary } from '../../api/read-model.ts';
import { call, query } from './api.ts';
import { h, money, table, when } from './ui.ts';
import type { Page } from './types.ts';

/** Customers with their orders and spend; phone numbers only when the token may see them (ADMIN_TOKEN). */
export const customersPage: Page = async (ctx) => {
  const { customers } = await call<{ customers: CustomerSummary[] }>(`/customers${query({ shop: ctx.shop?.id, limit: 200 })}`);
  const withPhone = customers.some((c) => c.phone);
  return {
    live: true,
    node: h(
      'div',
      {},
      h('h1', {}, 'Customers'),
      table(
        'customers',
        ['Customer', ...(withPhone ? ['Phone'] : []), 'Shop', 'Orders', 'Spent', 'Last order', 'Last message'],
        customers.map((c) => ({
          attrs: { 'data-customer': c.customerRef },
          cells: [
            [c.name ?? 'Unnamed', h('div', { class: 'muted mono' }, c.customerRef.slice(0, 12))],
            ...(withPhone ? [c.phone ?? ''] : []),
            c.shopId,
            c.orders,
            c.spent.length ? c.spent.map((s) => money(s.amount, s.currency)).join(' · ') : '—',
            c.lastOrder ? [h('a', { href: `#/orders/${encodeURIComponent(c.lastOrder.orderNumber)}` }, c.lastOrder.orderNumber), ` ${money(c.lastOrder.total, c.lastOrder.currency)}`] : '—',
            when(c.lastMessageAt),
          ],
        })),
        'No customers yet.',
      ),
    ),
  };
};
