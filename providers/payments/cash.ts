import type { Money } from '../../domain/money.ts';
import { ProviderRejectedError, type InitiateInput, type InitiateResult, type LostInitiation, type NormalisedPaymentEvent, type PaymentProvider, type ProviderData } from './types.ts';

/**
 * Cash on delivery or at pickup. Nothing outside duka knows about the payment: it stays pending until staff record
 * that they collected the money, because collection is an operator action, not a provider event.
 */
export function createCashProvider(): PaymentProvider {
  async function initiate({ method, context }: InitiateInput): Promise<InitiateResult> {
    if (method !== 'cash') throw new ProviderRejectedError('cash', `payment method ${method} is not cash`);
    return { data: { collectOn: 'delivery', reference: context.reference }, customerAction: { type: 'none' } };
  }

  async function status(data: ProviderData, _amount: Money): Promise<NormalisedPaymentEvent> {
    const reference = typeof data.reference === 'string' ? data.reference : undefined;
    const event: NormalisedPaymentEvent = { status: 'pending', dedupKey: `cash:${reference ?? 'unknown'}:pending`, raw: data };
    if (reference) event.reference = reference;
    return event;
  }

  /** Nothing outside duka was asked: initiating again is safe. */
  async function recoverLost(): Promise<LostInitiation> {
    return { kind: 'absent' };
  }

  return { id: 'cash', initiate, recoverLost, status };
}
