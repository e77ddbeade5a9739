import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HARARE } from '../helpers/duka.ts';
import { ADMIN_TOKEN, Customer, latestAttempt, orderOf, paymentRows, receiptsTo, startWorld, toPaymentChoice, waitForPaynow, eventually, type World } from './support.ts';

/**
 * ZimSwitch beside EcoCash and OneMoney (seed 003's channel buttons), for the Harare shop: a ZimSwitch bank card is paid
 * on Paynow's hosted page (Paynow's express checkout takes ZimSwitch only with a card token from an earlier payment),
 * through the existing Paynow provider and its simulator over HTTP.
 */
describe('ZimSwitch through Paynow, Harare', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_zimswitch');
    const patched = await fetch(`${w.duka.baseUrl}/api/admin/shops/harare`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ paymentMethods: ['ecocash', 'onemoney', 'zimswitch', 'omari', 'cash'] }),
    });
    expect(patched.status).toBe(200);
  });
  // Recording histories (DUKA_RECORD_HISTORIES=1) fetches every workflow of the run: more than a hook's default 5 s.
  afterAll(async () => {
    await w?.stop();
  }, 120_000);

  it('the Harare shop offers ZimSwitch; the customer pays on the Paynow page and gets the receipt', async () => {
    const c = new Customer(w.duka, HARARE, '263771500001');
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'harare', [{ retailerId: 'SKU-MAIZE-10KG', quantity: 1 }]);
    expect(methods.ids).toEqual(['pay:ecocash', 'pay:onemoney', 'pay:zimswitch', 'pay:omari', 'pay:cash']);
    expect(methods.raw.body).toMatchObject({ interactive: { action: { sections: [{ rows: expect.arrayContaining([expect.objectContaining({ id: 'pay:zimswitch', title: 'ZimSwitch (bank card)' })]) }] } } });
    const [button] = await c.pick('pay:zimswitch', 'ZimSwitch (bank card)', 2);
    const txn = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber, 1));
    expect(txn).toMatchObject({ method: 'web', amount: '7.99' });
    expect(button!.ids).toEqual([txn.browserUrl]);

    const paid = await fetch(txn.browserUrl!, { method: 'POST', body: new URLSearchParams({ action: 'pay' }), redirect: 'manual' });
    expect(paid.status).toBe(303);
    const [receipt] = await eventually(async () => receiptsTo(w.duka, c.waId), (r) => r.length === 1, 'the receipt');
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('Paid by ZimSwitch (bank card)');
    expect(await orderOf(w.duka, orderNumber)).toMatchObject({ status: 'PAID', paymentStatus: 'SUCCEEDED', paymentMethod: 'zimswitch' });
    const [payment] = await paymentRows(w.duka, orderNumber);
    expect(payment).toMatchObject({ provider: 'paynow', method: 'zimswitch', status: 'succeeded', amount: 799, currency: 'USD' });
  });
});
