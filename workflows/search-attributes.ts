import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** CONTRACT.md's search attributes: operator search only, never the source of lists (those read PostgreSQL). */
export const SA = {
  shopId: defineSearchAttributeKey('ShopId', SearchAttributeType.KEYWORD),
  orderNumber: defineSearchAttributeKey('OrderNumber', SearchAttributeType.KEYWORD),
  orderStatus: defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD),
  paymentStatus: defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD),
  paymentProvider: defineSearchAttributeKey('PaymentProvider', SearchAttributeType.KEYWORD),
  customerRef: defineSearchAttributeKey('CustomerRef', SearchAttributeType.KEYWORD),
  attention: defineSearchAttributeKey('Attention', SearchAttributeType.KEYWORD),
  orderTotal: defineSearchAttributeKey('OrderTotal', SearchAttributeType.DOUBLE),
  lastCustomerMessageAt: defineSearchAttributeKey('LastCustomerMessageAt', SearchAttributeType.DATETIME),
};
