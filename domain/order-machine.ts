import type { OrderStatus, PaymentStatusValue } from './status.ts';

/**
 * Which status may follow which (after Vendure's order process): one table, read by the workflow, the admin API and
 * the operator updates alike. Guards add the facts a table cannot know.
 */
export const ORDER_TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  CART: ['CHECKOUT', 'CANCELLED', 'EXPIRED'],
  // PAID from CHECKOUT: a success that arrives after its attempt had failed or expired still pays the order.
  CHECKOUT: ['CART', 'AWAITING_PAYMENT', 'CONFIRMED', 'PAID', 'CANCELLED', 'EXPIRED'],
  AWAITING_PAYMENT: ['PAID', 'CHECKOUT', 'CONFIRMED', 'CANCELLED', 'EXPIRED'],
  PAID: ['PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED', 'CANCELLED', 'REFUNDED'],
  CONFIRMED: ['PAID', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED', 'CANCELLED'],
  PREPARING: ['OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED', 'CANCELLED'],
  OUT_FOR_DELIVERY: ['COMPLETED', 'CANCELLED'],
  READY_FOR_PICKUP: ['COMPLETED', 'CANCELLED'],
  COMPLETED: ['REFUNDED'],
  CANCELLED: ['REFUNDED'],
  EXPIRED: [],
  REFUNDED: [],
};

export interface TransitionFacts {
  itemCount: number;
  fulfilment: 'delivery' | 'pickup' | null;
  /** A confirmed payment was received (refunded since or not). */
  paid: boolean;
}

/** Why a transition is refused, or null when it may happen. */
export function transitionRefusal(from: OrderStatus, to: OrderStatus, facts: TransitionFacts): string | null {
  if (!ORDER_TRANSITIONS[from].includes(to)) return `an order cannot go from ${from} to ${to}`;
  if ((to === 'CHECKOUT' || to === 'AWAITING_PAYMENT' || to === 'CONFIRMED') && facts.itemCount === 0) return 'the cart is empty';
  if (to === 'OUT_FOR_DELIVERY' && facts.fulfilment !== 'delivery') return 'the order is not for delivery';
  if (to === 'READY_FOR_PICKUP' && facts.fulfilment !== 'pickup') return 'the order is not for pickup';
  if (to === 'PAID' && !facts.paid) return 'no payment covers the total';
  if (to === 'REFUNDED' && !facts.paid) return 'nothing was paid';
  return null;
}

/** Statuses in which the customer is still shopping and the cart timers run. */
export const SHOPPING_STATUSES: readonly OrderStatus[] = ['CART', 'CHECKOUT', 'AWAITING_PAYMENT'];

/** Statuses an operator moves an order through by hand. */
export const OPERATOR_STATUSES: readonly OrderStatus[] = ['PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP', 'COMPLETED'];

/** Statuses an order waits in after the sale until an operator completes it, or it closes itself (ORDER_AUTO_CLOSE). */
export const FULFILMENT_STATUSES: readonly OrderStatus[] = ['PAID', 'CONFIRMED', 'PREPARING', 'OUT_FOR_DELIVERY', 'READY_FOR_PICKUP'];

/**
 * The order's payment status: a new attempt may follow a failed one, a late success may follow a failure or expiry,
 * but nothing moves back from SUCCEEDED or REFUNDED (a second success on a paid order is a double payment, recorded
 * in the ledger, not a status change).
 */
export const PAYMENT_TRANSITIONS: Record<PaymentStatusValue, readonly PaymentStatusValue[]> = {
  NONE: ['PENDING'],
  PENDING: ['PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED', 'FLAGGED'],
  FAILED: ['PENDING', 'SUCCEEDED', 'FLAGGED'],
  CANCELLED: ['PENDING', 'SUCCEEDED', 'FLAGGED'],
  EXPIRED: ['PENDING', 'SUCCEEDED', 'FLAGGED'],
  FLAGGED: ['PENDING', 'SUCCEEDED', 'REFUNDED'],
  SUCCEEDED: ['REFUNDED'],
  REFUNDED: [],
};

export function paymentTransitionRefusal(from: PaymentStatusValue, to: PaymentStatusValue): string | null {
  return PAYMENT_TRANSITIONS[from].includes(to) ? null : `payment status cannot go from ${from} to ${to}`;
}

export interface LedgerEntry {
  status: 'pending' | 'succeeded' | 'failed' | 'cancelled' | 'expired' | 'refunded' | 'flagged';
  amount: number;
  refundedAmount?: number;
}

/** The order's money: received = confirmed successes; paid = received minus refunds (CONTRACT.md, "Money"). */
export function ledger(payments: readonly LedgerEntry[]): { received: number; refunded: number; paid: number; successes: number } {
  let received = 0;
  let refunded = 0;
  let successes = 0;
  for (const p of payments) {
    if (p.status !== 'succeeded' && p.status !== 'refunded') continue;
    successes += 1;
    received += p.amount;
    refunded += p.status === 'refunded' ? p.amount : Math.min(p.amount, p.refundedAmount ?? 0);
  }
  return { received, refunded, paid: received - refunded, successes };
}
