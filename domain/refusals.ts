import type { PaymentMethod } from './payment-methods.ts';
import type { OrderStatus } from './status.ts';

/**
 * Why an order refused a customer's step, read from its update validators' messages (workflows/order.ts and
 * payment.ts), so the chat can say why in the customer's language instead of "Sorry, I didn't get that".
 */
export type Refusal =
  | { kind: 'placed'; status: OrderStatus }
  | { kind: 'cart_changed' }
  | { kind: 'paying' }
  | { kind: 'no_fulfilment' }
  | { kind: 'method_gone'; method: PaymentMethod }
  | { kind: 'bad_number'; method: PaymentMethod }
  | { kind: 'empty' }
  | { kind: 'no_order' }
  | { kind: 'no_delivery' }
  | { kind: 'no_pickup' }
  | { kind: 'no_address' }
  | { kind: 'other' };

const RULES: [RegExp, (m: RegExpExecArray) => Refusal][] = [
  [/^no order$| is closed$/, () => ({ kind: 'no_order' })],
  [/ is CART, not at checkout$/, () => ({ kind: 'cart_changed' })],
  [/ is ([A-Z_]+)(, not at checkout|: the cart can no longer change)$/, (m) => ({ kind: 'placed', status: m[1] as OrderStatus })],
  [/a payment attempt is still running/, () => ({ kind: 'paying' })],
  [/^choose delivery or pickup first$/, () => ({ kind: 'no_fulfilment' })],
  [/^(\S+) is not offered by this shop$/, (m) => ({ kind: 'method_gone', method: m[1] as PaymentMethod })],
  [/ is not a valid number for (\S+)$/, (m) => ({ kind: 'bad_number', method: m[1] as PaymentMethod })],
  [/^the cart is empty$/, () => ({ kind: 'empty' })],
  [/^this shop does not deliver$/, () => ({ kind: 'no_delivery' })],
  [/^this shop has no pickup$/, () => ({ kind: 'no_pickup' })],
  [/^a delivery needs an address/, () => ({ kind: 'no_address' })],
];

export function refusalOf(error: string): Refusal {
  for (const [pattern, read] of RULES) {
    const m = pattern.exec(error);
    if (m) return read(m);
  }
  return { kind: 'other' };
}
