import { describe, expect, it } from '@jest/globals';
import { money } from '../../domain/money.ts';
import { createCashProvider } from '../../providers/payments/cash.ts';
import { ProviderRejectedError, type PaymentContext } from '../../providers/payments/types.ts';

const context: PaymentContext = {
  idempotencyKey: 'order-NBO-1001-payment-1',
  reference: 'NBO-1001-1',
  orderNumber: 'NBO-1001',
  description: 'Order NBO-1001',
  callbackUrl: 'https://duka.example/webhooks/cash',
  returnUrl: 'https://duka.example/return',
};

describe('cash on delivery', () => {
  it('asks nothing of the customer and stays pending until staff record the collection', async () => {
    const provider = createCashProvider();
    const amount = money(150000, 'KES');
    const result = await provider.initiate({ amount, method: 'cash', context });
    expect(result.customerAction).toEqual({ type: 'none' });
    expect(result.data.collectOn).toBe('delivery');
    expect(result.providerReference).toBeUndefined();

    const event = await provider.status(result.data, amount);
    expect(event).toMatchObject({ reference: 'NBO-1001-1', status: 'pending' });
    expect(event.amount).toBeUndefined();
    expect(provider.refund).toBeUndefined();
  });

  it('refuses a method that is not cash', async () => {
    await expect(createCashProvider().initiate({ amount: money(100, 'USD'), method: 'ecocash', context })).rejects.toBeInstanceOf(ProviderRejectedError);
  });
});
