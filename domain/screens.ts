import { computeTotals, type CartLine, type CategoryView, type DiscountLine, type MenuExtraView, type ProductView, type PromotionView, type ShopView } from './catalog.ts';
import { price, type Texts } from './i18n.ts';
import { paginateRows, type ListRow, type OutboundMessage } from './outbound.ts';

/** The messages a customer sees at each step, built from data alone (no I/O), so workflows and tests share them. */

export function mainMenu(t: Texts, shop: ShopView, name?: string): OutboundMessage {
  // Reply buttons hold three: with promotions running or the shop's own entries the menu is a list, so bookings and
  // help keep their places.
  const extras = shop.menuExtras ?? [];
  if (shop.hasPromotions || extras.length > 0) {
    const rows: ListRow[] = [
      { id: 'menu:shop', title: t.menuShop },
      { id: 'menu:cart', title: t.menuCart },
      ...(shop.hasPromotions ? [{ id: 'menu:promos', title: t.menuPromotions }] : []),
      ...(shop.hasBookings ? [{ id: 'menu:booking', title: t.menuBooking }] : []),
      // A list holds ten rows; the index is the id, so an entry renamed in the back office still answers.
      ...extras.slice(0, 5).map((e, i) => ({ id: `extra:${i}`, title: e.title.slice(0, 24) })),
      { id: 'menu:help', title: t.menuHelp },
    ];
    return { kind: 'list', body: t.greeting(shop.name, name), button: t.menuButton, sections: [{ title: shop.name, rows }] };
  }
  return {
    kind: 'buttons',
    body: t.greeting(shop.name, name),
    buttons: [
      { id: 'menu:shop', title: t.menuShop },
      { id: 'menu:cart', title: t.menuCart },
      shop.hasBookings ? { id: 'menu:booking', title: t.menuBooking } : { id: 'menu:help', title: t.menuHelp },
    ],
  };
}

export function categoryList(t: Texts, shop: ShopView, categories: CategoryView[], page: number): OutboundMessage {
  const rows: ListRow[] = categories.map((c) => ({ id: `cat:${c.id}`, title: c.name, ...(c.description ? { description: c.description } : {}) }));
  if (shop.catalogId) rows.push({ id: 'catalog:open', title: t.catalogRow });
  return { kind: 'list', body: t.categoriesBody, button: t.categoriesButton, sections: [{ title: shop.name, rows: paginateRows(rows, page, t.more) }] };
}

export function productList(t: Texts, category: CategoryView, products: ProductView[], page: number): OutboundMessage {
  const rows: ListRow[] = products.map((p) => ({
    id: `prod:${p.id}`,
    title: p.name,
    description: `${price(p.presentations[0]?.price ?? p.price, p.currency)}${p.presentations.length ? '+' : ''}${p.description ? ` · ${p.description}` : ''}`,
  }));
  return { kind: 'list', body: t.productsBody(category.name), button: t.productsButton, sections: [{ title: category.name, rows: paginateRows(rows, page, t.more) }] };
}

export function productCard(t: Texts, p: ProductView): OutboundMessage {
  const from = p.presentations.length ? `${price(Math.min(...p.presentations.map((x) => x.price)), p.currency)}+` : price(p.price, p.currency);
  return {
    kind: 'buttons',
    ...(p.imageUrl ? { header: { imageUrl: p.imageUrl } } : {}),
    body: t.productCaption(p.name, from, p.description),
    buttons: [
      { id: `add:${p.id}`, title: t.addToCart },
      { id: 'menu:shop', title: t.back },
    ],
  };
}

export function sizeList(t: Texts, p: ProductView): OutboundMessage {
  return {
    kind: 'list',
    body: t.chooseSize(p.name),
    button: t.sizesButton,
    sections: [{ title: p.name, rows: p.presentations.slice(0, 10).map((s) => ({ id: `size:${s.id}`, title: s.name, description: price(s.price, p.currency) })) }],
  };
}

export function optionPicker(t: Texts, p: ProductView, groupIndex: number, chosen: string[]): OutboundMessage {
  const g = p.groups[groupIndex]!;
  const optionRows = g.options.filter((o) => !chosen.includes(o.id)).map((o) => ({ id: `opt:${o.id}`, title: o.name, description: o.priceDelta ? `+${price(o.priceDelta, p.currency)}` : '' }));
  const names = g.options.filter((o) => chosen.includes(o.id)).map((o) => o.name);
  if (g.max === 1) {
    const rows = [...optionRows, ...(g.min === 0 ? [{ id: 'opt:none', title: t.none }] : [])];
    if (rows.length <= 3) return { kind: 'buttons', body: t.chooseOne(g.name), buttons: rows.map((r) => ({ id: r.id, title: r.title })) };
    return { kind: 'list', body: t.chooseOne(g.name), button: t.optionsButton, sections: [{ title: g.name, rows: rows.slice(0, 10) }] };
  }
  const rows = [...optionRows.slice(0, 9), { id: 'opt:done', title: chosen.length ? t.done : t.none }];
  return { kind: 'list', body: t.chooseMany(g.name, g.max, names), button: t.optionsButton, sections: [{ title: g.name, rows }] };
}

export function breakdown(t: Texts, p: ProductView, presentationId: string | undefined, optionIds: string[]): string {
  const size = p.presentations.find((s) => s.id === presentationId);
  const lines = [`${p.name}${size ? ` (${size.name})` : ''}: ${price(size?.price ?? p.price, p.currency)}`];
  let unit = size?.price ?? p.price;
  for (const g of p.groups) for (const o of g.options.filter((x) => optionIds.includes(x.id))) {
    lines.push(`+ ${o.name}: ${price(o.priceDelta, p.currency)}`);
    unit += o.priceDelta;
  }
  return t.breakdown(lines, price(unit, p.currency));
}

/** A shop's own menu entry, answered: its reply, with its link as a button when it has one. */
export function menuExtraAnswer(t: Texts, extra: MenuExtraView & { kind: 'faq' }): OutboundMessage {
  const body = extra.reply ?? extra.title;
  if (extra.url) return { kind: 'cta_url', body, displayText: t.openLink, url: extra.url };
  return { kind: 'buttons', body, buttons: [{ id: 'menu:shop', title: t.menuShop }, { id: 'menu:cart', title: t.menuCart }] };
}

/** What each running promotion takes off, for a customer (the list behind "View promotions"). */
export function promotionsView(t: Texts, shop: ShopView, promotions: readonly PromotionView[]): OutboundMessage {
  const buttons = [
    { id: 'menu:shop', title: t.menuShop },
    { id: 'menu:cart', title: t.menuCart },
  ];
  if (!promotions.length) return { kind: 'buttons', body: t.noPromotions, buttons };
  const entries = promotions.slice(0, 10).map((p) => {
    const off = t.promotionOff(p.percentOff !== undefined ? { percent: p.percentOff } : { amount: price(p.amountOff ?? 0, shop.currency) });
    const until = p.endsAt ? ` (${t.promotionUntil(p.endsAt.slice(0, 10))})` : '';
    return `• *${p.title}*: ${off}${until}${p.description ? `\n  ${p.description}` : ''}`;
  });
  return { kind: 'buttons', body: [t.promotionsTitle(shop.name), ...entries].join('\n'), buttons };
}

export const discountTexts = (t: Texts, discounts: readonly DiscountLine[] | undefined, currency: ProductView['currency']): string[] =>
  (discounts ?? []).map((d) => t.discountLine(d.title, price(d.amount, currency)));

export const lineText = (l: CartLine, currency: ProductView['currency']) =>
  `${l.quantity} × ${l.name}${l.options.length ? ` [${l.options.map((o) => o.option).join(', ')}]` : ''} — ${price(l.lineTotal, currency)}`;

/** `subtotal` is before discounts; each promotion's discount is its own line and the subtotal shown is after them. */
export function cartView(t: Texts, items: CartLine[], subtotal: number, currency: ProductView['currency'], discounts: readonly DiscountLine[] = []): OutboundMessage {
  if (!items.length) return { kind: 'buttons', body: t.cartEmpty, buttons: [{ id: 'menu:shop', title: t.menuShop }] };
  const off = discounts.reduce((sum, d) => sum + d.amount, 0);
  return {
    kind: 'buttons',
    body: t.cartView(items.map((l) => lineText(l, currency)), price(Math.max(0, subtotal - off), currency), discountTexts(t, discounts, currency)),
    buttons: [
      { id: 'cart:checkout', title: t.checkout },
      { id: 'cart:more', title: t.addMore },
      { id: 'cart:clear', title: t.clear },
    ],
  };
}

export function fulfilmentChoice(t: Texts, shop: ShopView): OutboundMessage {
  return {
    kind: 'buttons',
    body: t.howToReceive,
    buttons: [
      ...(shop.deliveryAvailable ? [{ id: 'ful:delivery', title: t.delivery }] : []),
      ...(shop.pickupAvailable ? [{ id: 'ful:pickup', title: t.pickup }] : []),
      { id: 'order:cancel', title: t.cancel },
    ],
  };
}

export function orderSummary(
  t: Texts,
  shop: ShopView,
  order: { orderNumber: string; items: CartLine[]; fulfilment: 'delivery' | 'pickup' | null; address: { text?: string; latitude?: number; longitude?: number; byPhone?: boolean } | null; discounts?: DiscountLine[] },
): OutboundMessage {
  const totals = computeTotals(order.items, shop, order.fulfilment, order.discounts ?? []);
  const where =
    order.fulfilment === 'delivery'
      ? t.deliverTo(order.address?.byPhone ? t.chat.addressByPhone : order.address?.text ?? `📍 ${order.address?.latitude?.toFixed(5)}, ${order.address?.longitude?.toFixed(5)}`)
      : t.pickupAt(shop.name);
  return {
    kind: 'buttons',
    body: t.summary(
      order.orderNumber,
      order.items.map((l) => lineText(l, shop.currency)),
      {
        subtotal: price(totals.subtotal, shop.currency),
        ...(totals.discounts.length ? { discounts: discountTexts(t, totals.discounts, shop.currency) } : {}),
        ...(totals.tax ? { tax: price(totals.tax, shop.currency) } : {}),
        taxIncluded: shop.taxInclusive,
        ...(totals.deliveryFee ? { delivery: price(totals.deliveryFee, shop.currency) } : {}),
        total: price(totals.total, shop.currency),
      },
      where,
    ),
    buttons: [
      { id: 'order:confirm', title: t.confirm },
      { id: 'order:edit', title: t.editCart },
      { id: 'order:cancel', title: t.cancel },
    ],
  };
}

export function paymentMethods(t: Texts, shop: ShopView, fulfilment: 'delivery' | 'pickup' | null): OutboundMessage {
  const label = (m: string) => (m === 'cash' ? t.cashLabel(fulfilment) : (t.methodName[m] ?? m));
  const rows = shop.paymentMethods.map((m) => ({ id: `pay:${m}`, title: label(m) }));
  if (rows.length <= 3) return { kind: 'buttons', body: t.choosePayment, buttons: rows };
  return { kind: 'list', body: t.choosePayment, button: t.paymentButton, sections: [{ title: t.paymentButton, rows }] };
}
