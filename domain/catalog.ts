import type { CurrencyCode } from './money.ts';

export interface CategoryView {
  id: string;
  name: string;
  description?: string;
}

export interface ModifierGroupView {
  id: string;
  name: string;
  min: number;
  max: number;
  options: { id: string; name: string; priceDelta: number }[];
}

export interface ProductView {
  id: string;
  retailerId: string;
  name: string;
  description?: string;
  price: number;
  currency: CurrencyCode;
  imageUrl?: string;
  available: boolean;
  stock: number | null;
  presentations: { id: string; name: string; price: number }[];
  groups: ModifierGroupView[];
}

/** A main-menu entry a shop adds (seed 003's FAQs, seed 000's "Request installation"). */
export type MenuExtraView = { kind: 'faq'; title: string; reply?: string; url?: string } | { kind: 'request'; title: string; prompt: string };

export interface ShopView {
  id: string;
  name: string;
  currency: CurrencyCode;
  country: string;
  defaultLanguage: string;
  paymentMethods: string[];
  deliveryAvailable: boolean;
  pickupAvailable: boolean;
  deliveryFee: number;
  taxRateBasisPoints: number;
  taxInclusive: boolean;
  catalogId?: string;
  hasBookings: boolean;
  /** Some promotion is running now ("View promotions" in the main menu); absent in older runs' copies. */
  hasPromotions?: boolean;
  preparationMinutes: number;
  /** Absent when the shop has none (and in older runs' copies). */
  menuExtras?: MenuExtraView[];
}

export interface ChosenOption {
  group: string;
  option: string;
  priceDelta: number;
}

export interface CartLine {
  lineId: string;
  productId: string;
  retailerId: string;
  name: string;
  quantity: number;
  unitPrice: number;
  options: ChosenOption[];
  lineTotal: number;
}

/** What a customer picked for one product, before it is priced against the database. */
export interface LineChoice {
  productId: string;
  presentationId?: string;
  optionIds: string[];
  quantity: number;
}

export type LineRefusal =
  | { reason: 'unknown_product' }
  | { reason: 'unavailable'; name: string }
  | { reason: 'out_of_stock'; name: string; stock: number }
  | { reason: 'bad_quantity'; max: number }
  | { reason: 'bad_options'; detail: string };

export const MAX_QUANTITY = 99;

/** Price one line from the catalogue as it is now; never from what a client sent. */
export function priceLine(product: ProductView | undefined, choice: LineChoice, lineId: string): CartLine | LineRefusal {
  if (!product) return { reason: 'unknown_product' };
  if (!product.available) return { reason: 'unavailable', name: product.name };
  const max = Math.min(MAX_QUANTITY, product.stock ?? MAX_QUANTITY);
  if (product.stock !== null && product.stock <= 0) return { reason: 'out_of_stock', name: product.name, stock: 0 };
  if (!Number.isInteger(choice.quantity) || choice.quantity < 1) return { reason: 'bad_quantity', max };
  if (choice.quantity > max) {
    return product.stock !== null && choice.quantity > product.stock
      ? { reason: 'out_of_stock', name: product.name, stock: product.stock }
      : { reason: 'bad_quantity', max };
  }
  let unitPrice = product.price;
  const options: ChosenOption[] = [];
  let name = product.name;
  if (product.presentations.length > 0) {
    const presentation = product.presentations.find((p) => p.id === choice.presentationId);
    if (!presentation) return { reason: 'bad_options', detail: 'choose a size' };
    unitPrice = presentation.price;
    name = `${product.name} (${presentation.name})`;
  }
  for (const group of product.groups) {
    const picked = group.options.filter((o) => choice.optionIds.includes(o.id));
    if (picked.length < group.min || picked.length > group.max) {
      return { reason: 'bad_options', detail: `${group.name}: choose ${group.min === group.max ? group.min : `${group.min}–${group.max}`}` };
    }
    for (const o of picked) {
      unitPrice += o.priceDelta;
      options.push({ group: group.name, option: o.name, priceDelta: o.priceDelta });
    }
  }
  const known = new Set(product.groups.flatMap((g) => g.options.map((o) => o.id)));
  if (choice.optionIds.some((id) => !known.has(id))) return { reason: 'bad_options', detail: 'unknown option' };
  return { lineId, productId: product.id, retailerId: product.retailerId, name, quantity: choice.quantity, unitPrice, options, lineTotal: unitPrice * choice.quantity };
}

export function isRefusal(x: CartLine | LineRefusal): x is LineRefusal {
  return 'reason' in x;
}

/**
 * A running promotion as an order applies it (seed 001): `percentOff` (1–100) off each matching line, or `amountOff`
 * (minor units) off each matching unit, never below zero. `productIds` are the products it covers (its categories
 * already resolved to their products by the activity); null covers every product.
 */
export interface PromotionView {
  id: string;
  title: string;
  description?: string;
  percentOff?: number;
  amountOff?: number;
  productIds: string[] | null;
  endsAt?: string;
}

/** One line of the cart, summary and receipt: what a promotion took off. */
export interface DiscountLine {
  promotionId: string;
  title: string;
  amount: number;
}

function lineDiscount(line: CartLine, promotion: PromotionView): number {
  if (line.productId.startsWith('booking:')) return 0;
  if (promotion.productIds !== null && !promotion.productIds.includes(line.productId)) return 0;
  if (promotion.percentOff !== undefined) return Math.min(line.lineTotal, Math.round((line.lineTotal * promotion.percentOff) / 100));
  if (promotion.amountOff !== undefined) return Math.min(line.lineTotal, Math.max(0, Math.min(promotion.amountOff, line.unitPrice)) * line.quantity);
  return 0;
}

/** Promotions never stack: each line gets the one that takes off most (the first listed on a tie); one line per promotion. */
export function discountLines(lines: CartLine[], promotions: readonly PromotionView[]): DiscountLine[] {
  const byPromotion = new Map<string, DiscountLine>();
  for (const line of lines) {
    let best: { promotion: PromotionView; amount: number } | null = null;
    for (const promotion of promotions) {
      const amount = lineDiscount(line, promotion);
      if (amount > 0 && (!best || amount > best.amount)) best = { promotion, amount };
    }
    if (!best) continue;
    const entry = byPromotion.get(best.promotion.id) ?? { promotionId: best.promotion.id, title: best.promotion.title, amount: 0 };
    entry.amount += best.amount;
    byPromotion.set(best.promotion.id, entry);
  }
  return [...byPromotion.values()];
}

export interface Totals {
  subtotal: number;
  /** What promotions took off the subtotal (the sum of `discounts`). */
  discount: number;
  discounts: DiscountLine[];
  tax: number;
  deliveryFee: number;
  total: number;
}

/** Tax is on the subtotal after discounts; delivery is never discounted. */
export function computeTotals(
  lines: CartLine[],
  shop: Pick<ShopView, 'taxRateBasisPoints' | 'taxInclusive' | 'deliveryFee'>,
  fulfilment: 'delivery' | 'pickup' | null,
  discounts: readonly DiscountLine[] = [],
): Totals {
  const subtotal = lines.reduce((sum, l) => sum + l.lineTotal, 0);
  const discount = Math.min(subtotal, discounts.reduce((sum, d) => sum + d.amount, 0));
  const taxable = subtotal - discount;
  const rate = shop.taxRateBasisPoints;
  const tax = shop.taxInclusive ? Math.round((taxable * rate) / (10_000 + rate)) : Math.round((taxable * rate) / 10_000);
  const deliveryFee = fulfilment === 'delivery' ? shop.deliveryFee : 0;
  return { subtotal, discount, discounts: [...discounts], tax, deliveryFee, total: taxable + (shop.taxInclusive ? 0 : tax) + deliveryFee };
}
