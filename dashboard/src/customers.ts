import type { CustomerSummary } from '../../api/read-model.ts';
import { call, query } from './api.ts';
import { h, money, table, when } from './ui.ts';
import type { Page } from './types.ts';

/** GET /api/admin/shops/:shopId/requests (api/routes/requests.ts): answers to the shop's own request entries. */
interface CustomerRequest { id: string; title: string; text: string; customerRef: string; customerName: string | null; createdAt: string; handledAt: string | null }

/** Customers with their orders and spend; phone numbers only when the token may see them (ADMIN_TOKEN). */
export const customersPage: Page = async (ctx) => {
  const { customers } = await call<{ customers: CustomerSummary[] }>(`/customers${query({ shop: ctx.shop?.id, limit: 200 })}`);
  const withPhone = customers.some((c) => c.phone);
  const shopId = ctx.shop?.id;
  const requestsPath = shopId ? `/shops/${encodeURIComponent(shopId)}/requests` : null;
  const { requests } = requestsPath ? await call<{ requests: CustomerRequest[] }>(`${requestsPath}${query({ open: true })}`) : { requests: [] };
  const handled = (r: CustomerRequest) => void call(`${requestsPath!}/${r.id}`, { method: 'PATCH', body: { handled: true } }).then(() => ctx.refresh());
  return {
    live: true,
    node: h(
      'div',
      {},
      h('h1', {}, 'Customers'),
      ...(requestsPath
        ? [
            h('h2', {}, 'Open requests'),
            table(
              'requests',
              ['Asked', 'Customer', 'Entry', 'What they wrote', ''],
              requests.map((r) => ({
                attrs: { 'data-request': r.id },
                cells: [when(r.createdAt), r.customerName ?? r.customerRef.slice(0, 12), r.title, r.text, h('button', { type: 'button', class: 'small', onclick: () => handled(r) }, 'Mark handled')],
              })),
              'No open requests.',
            ),
            h('h2', {}, 'Customers'),
          ]
        : []),
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
