import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { HARARE, NAIROBI, PUNE } from '../helpers/duka.ts';
import { Customer, eventually, latestAttempt, orderOf, paymentRows, startWorld, toPaymentChoice, waitForLink, waitForPaynow, waitForPush, type World } from '../payments-e2e/support.ts';

/**
 * Issue 11: paying from another number (a spouse's wallet, a second SIM) with every mobile-money method, checked for
 * the method's country and network, and an optional e-mail for the receipt; end to end through signed webhooks, the
 * order workflow and the providers' simulators over HTTP.
 */
describe('paying from another number', () => {
  let w: World;

  /** What of `values` a workflow's history shows to a client without the payload codec. */
  async function inClear(workflowId: string, values: string[]): Promise<string[]> {
    const plain = new Client({ connection: w.duka.client.connection, namespace: w.duka.config.temporal.namespace });
    const history = await plain.workflow.getHandle(workflowId).fetchHistory();
    const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
    return values.filter((v) => raw.includes(v));
  }

  beforeAll(async () => {
    w = await startWorld('paying-number');
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('pays a Nairobi order from another Safaricom number: Airtel and a short number re-prompted, the STK push goes to the other number', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711220001');
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'nairobi', [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }]);
    expect(methods.ids).toEqual(['pay:mpesa', 'pay:cash']);
    expect(methods.text).toContain('M-Pesa charges this WhatsApp number. Paying from another number? Type *another number*.');

    const [ask] = await c.say('another number');
    expect(ask!.text).toBe('Which M-Pesa number should pay? Type it like 0712 345 678, or tap *This number*.');
    expect(ask!.ids).toEqual(['payer:self', 'pay:other']);
    const [airtel] = await c.say('0733 123 456');
    expect(airtel!.text).toBe('M-Pesa needs a number on Safaricom. Please type one like 0712 345 678.');
    const [short] = await c.say('07221');
    expect(short!.text).toBe("That doesn't look like a number M-Pesa can charge. Please type it like 0712 345 678.");
    const [paying, prompt] = await c.say('0722 000 111', 2);
    expect(paying!.text).toBe('Paying with M-Pesa from the number ending …111: the prompt goes to that phone.');
    expect(prompt!.text).toMatch(/approve the M-Pesa payment of KES 1,500/);

    const push = await waitForPush(w.providers, '254722000111');
    expect(w.providers.mpesa.pending().filter((p) => p.phoneNumber === c.waId)).toEqual([]);
    await w.providers.mpesa.complete(push.checkoutRequestId, { resultCode: 0, receipt: 'TKOTHERNUM1' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('TKOTHERNUM1');
    const order = await orderOf(w.duka, orderNumber);
    expect(order.status).toBe('PAID');
    // The number is in no timeline entry; the payment row holds no phone.
    expect(JSON.stringify(order.timeline)).not.toContain('722000111');
    expect(await paymentRows(w.duka, orderNumber)).toEqual([expect.objectContaining({ status: 'succeeded', provider: 'mpesa' })]);
    // In Temporal the other number travels only in encrypted payloads (lib/data-converter.ts).
    expect(await inClear(`order:${orderNumber}`, [orderNumber])).toEqual([orderNumber]); // the raw read sees what is in clear
    for (const id of [`order:${orderNumber}`, w.duka.conversationId('nairobi', c.waId)]) expect({ id, clear: await inClear(id, ['722000111', '0722 000 111', '0733 123 456']) }).toEqual({ id, clear: [] });
  });

  it('takes "this number" after all, and a number typed straight at the payment choice', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711220002');
    await toPaymentChoice(w.duka, c, 'nairobi', [{ retailerId: 'NBO-HONEY-500', quantity: 1 }]);
    await c.say('another number');
    const [prompt] = await c.tap('payer:self', 'This number');
    expect(prompt!.text).toMatch(/approve the M-Pesa payment/);
    await waitForPush(w.providers, c.waId);

    const d = new Customer(w.duka, NAIROBI, '254711220003');
    await toPaymentChoice(w.duka, d, 'nairobi', [{ retailerId: 'NBO-HONEY-500', quantity: 1 }]);
    const [paying] = await d.say('+254 799 000 222', 2);
    expect(paying!.text).toContain('…222');
    await waitForPush(w.providers, '254799000222');
  });

  it('pays EcoCash in Harare from another Econet number, refusing a NetOne one, with an e-mail for the receipt', async () => {
    const c = new Customer(w.duka, HARARE, '263772220004');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'harare', [{ retailerId: 'SKU-OIL-2L', quantity: 1 }]);
    const [which] = await c.say('namba nyingine');
    expect(which!.text).toBe('Which wallet will you pay from?');
    expect(which!.ids).toEqual(['payer:ecocash', 'payer:onemoney', 'payer:innbucks', 'payer:omari']);
    // The wallet typed as its button reads.
    const [ask] = await c.say('Ecocash');
    expect(ask!.text).toMatch(/Which EcoCash number should pay\?/);
    const [netone] = await c.say('0712 345 678');
    expect(netone!.text).toBe('EcoCash needs a number on Econet. Please type one like 0772 123 456.');
    const [email] = await c.say('0782 123 456');
    expect(email!.text).toMatch(/receipt by e-mail/);
    expect(email!.ids).toEqual(['payer:skip-email']);
    const [bad] = await c.say('amina at example');
    expect(bad!.text).toMatch(/doesn't look right/);
    const [paying, prompt] = await c.say('Amina@Example.com', 2);
    expect(paying!.text).toContain('…456');
    expect(prompt!.text).toMatch(/EcoCash/);
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const txn = await waitForPaynow(w.providers, reference);
    expect(txn.phone).toBe('0782123456');
    for (const id of [`order:${orderNumber}`, w.duka.conversationId('harare', c.waId)]) expect({ id, clear: await inClear(id, ['782123456', 'amina@example.com']) }).toEqual({ id, clear: [] });
  });

  it('sends a Razorpay link with the e-mail typed at the payment choice', async () => {
    const c = new Customer(w.duka, PUNE, '919812220005');
    const { orderNumber, methods } = await toPaymentChoice(w.duka, c, 'pune', [{ retailerId: 'PNQ-CHAI', quantity: 1 }]);
    expect(methods.text).not.toMatch(/another number/);
    expect(methods.text).toMatch(/Receipt by e-mail\? Type your e-mail address/);
    const [noted, again] = await c.say('priya@example.in', 2);
    expect(noted!.text).toBe('📧 Noted: the receipt goes to priya@example.in too.');
    expect(again!.ids).toEqual(methods.ids);
    await c.tap('pay:razorpay_link');
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const link = await waitForLink(w.providers, reference);
    expect(link.customer).toMatchObject({ email: 'priya@example.in' });
  });

  it('sends the customer back to the payment choice after three numbers that cannot pay', async () => {
    const c = new Customer(w.duka, NAIROBI, '254711220006');
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', [{ retailerId: 'NBO-SOAP-1', quantity: 1 }]);
    await c.say('another number');
    await c.say('12');
    await c.say('0733 000 000');
    const [gaveUp, methods] = await c.say('+263 772 123 456', 2);
    expect(gaveUp!.text).toMatch(/Let's start again/);
    expect(methods!.ids).toEqual(['pay:mpesa', 'pay:cash']);
    expect((await eventually(() => orderOf(w.duka, orderNumber), Boolean, 'order')).status).toBe('CHECKOUT');
  });
});
