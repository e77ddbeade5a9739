import { toDecimalString, type CurrencyCode } from '../../domain/money.ts';
import type { PaymentMethod } from '../../domain/payment-methods.ts';

/** A duka order as Shopify's `orderCreate` takes it (protocols.md §13.2): custom lines, totals, customer, transactions. */

export interface OrderForShopify {
  orderNumber: string;
  currency: CurrencyCode;
  /** The shop's ISO country, for the shipping address. */
  country: string;
  taxRateBasisPoints: number;
  taxInclusive: boolean;
  fulfilment: 'delivery' | 'pickup' | null;
  address: { text?: string; latitude?: number; longitude?: number; name?: string } | null;
  items: { retailerId: string; name: string; quantity: number; unitPrice: number; options: { group: string; option: string }[] }[];
  discount: number;
  discounts: { title: string; amount: number }[];
  tax: number;
  deliveryFee: number;
  paymentMethod: PaymentMethod | null;
  /** Confirmed successes only. */
  payments: { method: PaymentMethod; amount: number; transactionReference: string | null; at: Date }[];
  customer: { waId: string | null; name: string | null };
}

/** The order's mark in Shopify: searched before every create, so a retried push never creates it twice. */
export const dukaTag = (orderNumber: string) => `duka:${orderNumber}`;

/** How the payment shows as a gateway in Shopify's admin. */
const GATEWAY: Record<PaymentMethod, string> = {
  mpesa: 'M-Pesa',
  ecocash: 'EcoCash (Paynow)',
  onemoney: 'OneMoney (Paynow)',
  innbucks: 'InnBucks (Paynow)',
  paynow_web: 'Paynow',
  zimswitch: 'ZimSwitch (Paynow)',
  omari: "O'mari",
  razorpay_link: 'Razorpay',
  ghala_mpesa: 'M-Pesa (Ghala)',
  cash: 'Cash',
};

export function shopifyOrderInput(o: OrderForShopify): { order: Record<string, unknown>; options: Record<string, unknown> } {
  const money = (amount: number) => ({ shopMoney: { amount: toDecimalString({ amount, currency: o.currency }), currencyCode: o.currency } });
  const [firstName, ...rest] = (o.customer.name ?? '').trim().split(/\s+/).filter(Boolean);
  const names = { ...(firstName ? { firstName } : {}), ...(rest.length ? { lastName: rest.join(' ') } : {}) };
  const phone = o.customer.waId ? `+${o.customer.waId}` : undefined;
  const paid = o.payments.reduce((sum, p) => sum + p.amount, 0);
  const location = o.address && typeof o.address.latitude === 'number' ? `Location ${o.address.latitude}, ${o.address.longitude}` : undefined;
  const address1 = o.address?.text ?? location;
  const order: Record<string, unknown> = {
    currency: o.currency,
    financialStatus: paid > 0 ? 'PAID' : 'PENDING',
    lineItems: o.items.map((line) => ({
      title: line.options.length ? `${line.name} + ${line.options.map((x) => x.option).join(', ')}` : line.name,
      sku: line.retailerId,
      quantity: line.quantity,
      priceSet: money(line.unitPrice),
      requiresShipping: o.fulfilment === 'delivery',
    })),
    taxesIncluded: o.taxInclusive,
    ...(o.tax > 0 ? { taxLines: [{ title: 'Tax', rate: o.taxRateBasisPoints / 10_000, priceSet: money(o.tax) }] } : {}),
    ...(o.deliveryFee > 0 ? { shippingLines: [{ title: 'Delivery', priceSet: money(o.deliveryFee) }] } : {}),
    // orderCreate takes one discount code: the promotions together, as a fixed amount off the lines.
    ...(o.discount > 0 ? { discountCode: { itemFixedDiscountCode: { code: o.discounts.map((d) => d.title).join(' + ').slice(0, 255) || 'duka promotion', amountSet: money(o.discount) } } } : {}),
    ...(o.payments.length
      ? {
          transactions: o.payments.map((p) => ({
            kind: 'SALE',
            status: 'SUCCESS',
            gateway: GATEWAY[p.method],
            amountSet: money(p.amount),
            processedAt: p.at.toISOString(),
            ...(p.transactionReference ? { authorizationCode: p.transactionReference } : {}),
          })),
        }
      : {}),
    ...(phone ? { phone, customer: { toUpsert: { phone, ...names } } } : {}),
    ...(o.fulfilment === 'delivery' && address1 ? { shippingAddress: { address1, countryCode: o.country, ...names, ...(phone ? { phone } : {}) } } : {}),
    tags: ['duka', dukaTag(o.orderNumber)],
    sourceName: 'duka',
    sourceIdentifier: o.orderNumber,
    customAttributes: [
      { key: 'duka_order', value: o.orderNumber },
      { key: 'fulfilment', value: o.fulfilment ?? 'none' },
      ...(o.paymentMethod ? [{ key: 'payment_method', value: o.paymentMethod }] : []),
      ...o.payments.flatMap((p) => (p.transactionReference ? [{ key: `${p.method}_ref`, value: p.transactionReference }] : [])),
    ],
    note: `WhatsApp order ${o.orderNumber}${o.fulfilment === 'pickup' ? ' (pickup)' : ''}`,
  };
  // duka holds its own stock (reserved at checkout): Shopify's is not decremented a second time.
  return { order, options: { sendReceipt: false, sendFulfillmentReceipt: false, inventoryBehaviour: 'BYPASS' } };
}
