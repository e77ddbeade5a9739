/** The one list of order statuses (CONTRACT.md): database, search attributes and admin API all use it. */
export const ORDER_STATUSES = [
  'CART',
  'CHECKOUT',
  'AWAITING_PAYMENT',
  'PAID',
  'CONFIRMED',
  'PREPARING',
  'OUT_FOR_DELIVERY',
  'READY_FOR_PICKUP',
  'COMPLETED',
  'CANCELLED',
  'EXPIRED',
  'REFUNDED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const PAYMENT_STATUSES = ['NONE', 'PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED', 'REFUNDED', 'FLAGGED'] as const;
export type PaymentStatusValue = (typeof PAYMENT_STATUSES)[number];

/** Why an operator must act on an order (search attribute `Attention`, CONTRACT.md); null when nothing is owed. */
export const ATTENTION_REASONS = ['DOUBLE_PAYMENT', 'AMOUNT_MISMATCH', 'REFUND_OWED', 'PROVIDER_ERROR'] as const;
export type Attention = (typeof ATTENTION_REASONS)[number];

export const FINAL_STATUSES: readonly OrderStatus[] = ['COMPLETED', 'CANCELLED', 'EXPIRED', 'REFUNDED'];

export function isOrderStatus(value: string): value is OrderStatus {
  return (ORDER_STATUSES as readonly string[]).includes(value);
}
