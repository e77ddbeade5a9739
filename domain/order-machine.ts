import type { OrderStatus } from './status.ts';

/**
 * Which status may follow which (after Vendure's order process): one table, read by the workflow, the admin API and
 * the operator updates alike. Guards add the facts a table cannot know.
 */
export const ORDER_TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  CART: ['CHECKOUT', 'CANCELLED', 'EXPIRED'],
  CHECKOUT: ['CART', 'AWAITING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'EXPIRED'],
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
