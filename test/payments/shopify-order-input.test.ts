import { describe, expect, it } from '@jest/globals';
import { shopifyOrderInput, type OrderForShopify } from '../../providers/shopify/order-input.ts';

/** What a shop's Shopify receives for a duka order (protocols.md §13.2): the parts the Pune e2e test does not reach. */
describe('the order as Shopify receives it', () => {
  const base: OrderForShopify = {
    orderNumber: 'NBO-1042',
    currency: 'KES',
    country: 'KE',
    taxRateBasisPoints: 1600,
    taxInclusive: true,
    fulfilment: 'delivery',
    address: { text: 'Kenyatta Avenue 12, Nairobi CBD' },
    items: [
      { retailerId: 'NBO-PIZZA-L', name: 'Margherita Pizza (Large)', quantity: 1, unitPrice: 170000, options: [{ group: 'Extras', option: 'Extra cheese' }, { group: 'Extras', option: 'Olives' }] },
      { retailerId: 'NBO-COFFEE-500', name: 'Premium Coffee', quantity: 2, unitPrice: 150000, options: [] },
    ],
    discount: 30000,
    discounts: [{ title: 'Coffee week', amount: 30000 }],
    tax: 60000,
    deliveryFee: 20000,
    paymentMethod: 'mpesa',
    payments: [{ method: 'mpesa', amount: 460000, transactionReference: 'QK12AB34CD', at: new Date('2026-12-03T10:00:00Z') }],
    customer: { waId: '254712345678', name: 'Wanjiru' },
  };

  it('a delivery: options in the line title, delivery as a shipping line, tax included, the promotion as one discount code, M-Pesa as the gateway, the address', () => {
    const { order } = shopifyOrderInput(base);
    expect(order).toMatchObject({
      currency: 'KES',
      financialStatus: 'PAID',
      taxesIncluded: true,
      lineItems: [
        { title: 'Margherita Pizza (Large) + Extra cheese, Olives', sku: 'NBO-PIZZA-L', quantity: 1, priceSet: { shopMoney: { amount: '1700.00', currencyCode: 'KES' } }, requiresShipping: true },
        { title: 'Premium Coffee', quantity: 2, priceSet: { shopMoney: { amount: '1500.00', currencyCode: 'KES' } } },
      ],
      taxLines: [{ title: 'Tax', rate: 0.16, priceSet: { shopMoney: { amount: '600.00' } } }],
      shippingLines: [{ title: 'Delivery', priceSet: { shopMoney: { amount: '200.00', currencyCode: 'KES' } } }],
      discountCode: { itemFixedDiscountCode: { code: 'Coffee week', amountSet: { shopMoney: { amount: '300.00', currencyCode: 'KES' } } } },
      transactions: [{ kind: 'SALE', status: 'SUCCESS', gateway: 'M-Pesa', authorizationCode: 'QK12AB34CD', processedAt: '2026-12-03T10:00:00.000Z', amountSet: { shopMoney: { amount: '4600.00' } } }],
      shippingAddress: { address1: 'Kenyatta Avenue 12, Nairobi CBD', countryCode: 'KE', firstName: 'Wanjiru', phone: '+254712345678' },
      customer: { toUpsert: { phone: '+254712345678', firstName: 'Wanjiru' } },
      tags: ['duka', 'duka:NBO-1042'],
      note: 'WhatsApp order NBO-1042',
    });
    expect(order.customAttributes).toEqual([
      { key: 'duka_order', value: 'NBO-1042' },
      { key: 'fulfilment', value: 'delivery' },
      { key: 'payment_method', value: 'mpesa' },
      { key: 'mpesa_ref', value: 'QK12AB34CD' },
    ]);
  });

  it('a shared location stands as the address; no customer name, no discount, no fee: none of those fields', () => {
    const { order } = shopifyOrderInput({ ...base, address: { latitude: -1.2864, longitude: 36.8172 }, customer: { waId: '254712345678', name: null }, discount: 0, discounts: [], deliveryFee: 0, tax: 0 });
    expect(order.shippingAddress).toEqual({ address1: 'Location -1.2864, 36.8172', countryCode: 'KE', phone: '+254712345678' });
    expect(order.customer).toEqual({ toUpsert: { phone: '+254712345678' } });
    for (const key of ['discountCode', 'shippingLines', 'taxLines']) expect(order).not.toHaveProperty(key);
  });
});
