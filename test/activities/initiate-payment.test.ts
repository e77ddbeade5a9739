import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createActivities } from '../../activities/index.ts';
import { loadConfig } from '../../lib/config.ts';
import type { PaymentProviders } from '../../providers/payments/registry.ts';
import type { InitiateInput, PaymentProvider } from '../../providers/payments/types.ts';
import { Payment } from '../../db/entities.ts';
import { createTestDatabase } from '../helpers/db.ts';

describe('initiatePayment retried after a lost answer', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('initiate');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('gives the provider the same callback URL again and records one payment', async () => {
    const seen: InitiateInput[] = [];
    let calls = 0;
    // The provider took the first request but its answer never arrived (a timeout): the activity is retried.
    const provider: PaymentProvider = {
      id: 'mpesa',
      async initiate(input) {
        seen.push(input);
        calls += 1;
        if (calls === 1) throw new Error('socket hang up');
        return { providerReference: 'ws_CO_1', data: { checkoutRequestId: 'ws_CO_1' }, customerAction: { type: 'approve_on_phone' } };
      },
      async status() {
        throw new Error('not used');
      },
    };
    const payments = { forShop: () => provider } as unknown as PaymentProviders;
    const config = loadConfig({ SANDBOX: 'on', CUSTOMER_REF_SECRET: 'secret-for-callback-tokens' });
    const acts = createActivities({ orm: db.orm, whatsapp: null as never, temporal: null as never, config, payments });
    await acts.registerCustomer({ shopId: 'nairobi', waId: '254712000777', customerRef: 'ref-777', at: Date.now() });
    const input = {
      reference: '0b8a3c1e-0000-4000-8000-000000000001',
      idempotencyKey: 'NBO-1:1',
      orderNumber: 'NBO-1',
      shopId: 'nairobi',
      customerRef: 'ref-777',
      method: 'mpesa' as const,
      amount: 150000,
      currency: 'KES' as const,
      attempt: 1,
      expiresInSeconds: 1800,
    };
    await expect(acts.initiatePayment(input)).rejects.toThrow('socket hang up');
    await expect(acts.initiatePayment(input)).resolves.toEqual({ type: 'approve_on_phone' });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.context.callbackUrl).toBe(seen[0]!.context.callbackUrl);
    expect(seen[0]!.context.callbackUrl).toMatch(/\/webhooks\/mpesa\/[\w-]{32}$/);
    expect(seen[0]!.context.customerPhone).toBe('254712000777');
    const rows = await db.orm.em.fork().find(Payment, { idempotencyKey: 'NBO-1:1' });
    expect(rows).toHaveLength(1);
    // A third call finds the answer and does not ask the provider again.
    await acts.initiatePayment(input);
    expect(seen).toHaveLength(2);
  });
});
