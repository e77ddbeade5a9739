import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HARARE } from '../helpers/duka.ts';
import { Booking } from '../../db/entities.ts';
import { Customer, eventually, latestAttempt, orderOf, orderRow, paymentRows, startWorld, waitForPaynow, type World } from './support.ts';

/**
 * Seed 003: paying against a booking over WhatsApp in Harare — "pay", the booking reference in any case, the booking's
 * total, paid and balance, an amount up to the balance, a method, the number to charge, then the payment (OTP for
 * O'mari, a phone prompt for EcoCash), the booking credited and a receipt with the new balance.
 */
describe('paying a booking (seed 003), Harare', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('pay_booking');
  });
  afterAll(async () => {
    await w?.stop();
  });

  const usd = (cents: number) => `USD ${(cents / 100).toFixed(2)}`;
  const booking = async () => w.duka.orm.em.fork().findOneOrFail(Booking, { shop: 'harare', reference: 'BK-DEMO-0001' });

  it("pays part of BK-DEMO-0001 with O'mari: reference in lower case, amount validated against the balance, number validated, OTP, receipt with the new balance", async () => {
    const c = new Customer(w.duka, HARARE, '263771300001');
    const [askRef] = await c.say('pay');
    expect(askRef!.text).toMatch(/booking reference/);

    const [notFound] = await c.say('BK-NOPE-9');
    expect(notFound!.text).toMatch(/could not find a booking "BK-NOPE-9"/);
    const [details] = await c.say('bk-demo-0001');
    expect(details!.text).toContain('Booking BK-DEMO-0001');
    expect(details!.text).toContain('Victoria Falls day trip');
    expect(details!.text).toContain('Total: USD 150.00');
    expect(details!.text).toContain('Paid: USD 0.00');
    expect(details!.text).toContain('Balance due: USD 150.00');

    const [tooMuch] = await c.say('200');
    expect(tooMuch!.text).toMatch(/at most USD 150.00/);
    const [notAmount] = await c.say('fifty');
    expect(notAmount!.text).toMatch(/at most USD 150.00/);
    const [methods] = await c.say('50.00');
    expect(methods!.text).toContain('Paying USD 50.00 towards booking BK-DEMO-0001');
    expect(methods!.ids).toEqual(['pay:ecocash', 'pay:onemoney', 'pay:innbucks', 'pay:omari']);

    const [askPhone] = await c.pick('pay:omari');
    expect(askPhone!.text).toMatch(/Which O'mari number should we charge\? Send it like 2637XXXXXXXX/);
    const [badPhone] = await c.say('12345');
    expect(badPhone!.text).toMatch(/not a valid O'mari number/);
    const [otpPrompt] = await c.say('0772 123 456');
    expect(otpPrompt!.text).toMatch(/OTP/);

    const orderNumber = await eventually(async () => {
      const rows = await w.duka.orm.em.fork().getConnection().execute<{ number: string }[]>("select number from orders where source = 'booking' order by created_at desc limit 1");
      return rows[0]?.number;
    }, Boolean, 'the booking order');
    const reference = await latestAttempt(w.duka, orderNumber!, 1);
    const txn = w.providers.omari.get(reference)!;
    expect(txn).toMatchObject({ msisdn: '263772123456', amount: 50, currency: 'USD' });

    const [receipt] = await c.say(w.providers.omari.lastOtp(reference)!);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect(receipt!.text).toContain('1 × Booking BK-DEMO-0001 · Victoria Falls day trip — USD 50.00');
    expect(receipt!.text).toContain('Booking BK-DEMO-0001: total USD 150.00, paid USD 50.00, balance USD 100.00.');

    expect((await booking()).paid).toBe(5000);
    const order = await orderOf(w.duka, orderNumber!);
    expect(order).toMatchObject({ source: 'booking', status: 'COMPLETED', paymentStatus: 'SUCCEEDED', total: 5000 });
    const [payment] = await paymentRows(w.duka, orderNumber!);
    expect(payment).toMatchObject({ provider: 'omari', status: 'succeeded', amount: 5000, booking_id: (await booking()).id });
    expect((await eventually(() => orderRow(w.duka, orderNumber!), (r) => r.status === 'COMPLETED', 'row COMPLETED')).source).toBe('booking');
  });

  it('pays a second part with EcoCash after a cancelled prompt: [Try again] charges the same number in a new attempt; the balance adds up', async () => {
    const c = new Customer(w.duka, HARARE, '263771300002');
    const before = (await booking()).paid;
    await c.say('pay booking');
    const [details] = await c.say('Bk-Demo-0001');
    expect(details!.text).toContain(`Paid: ${usd(before)}`);
    expect(details!.text).toContain(`Balance due: ${usd(15000 - before)}`);
    await c.say('25.5');
    await c.pick('pay:ecocash');
    const [prompt] = await c.say('+263 77 300 0002');
    expect(prompt!.text).toMatch(/approve the EcoCash payment of USD 25.50/);

    const orderNumber = await eventually(async () => {
      const rows = await w.duka.orm.em.fork().getConnection().execute<{ number: string }[]>("select number from orders where source = 'booking' order by created_at desc limit 1");
      return rows[0]?.number;
    }, (n) => n !== undefined, 'the booking order');
    const first = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber!, 1));
    expect(first).toMatchObject({ phone: '0773000002', amount: '25.50', method: 'ecocash' });
    await w.providers.paynow.complete(first.pollId, { status: 'Cancelled' });
    const [cancelled] = await c.next();
    expect(cancelled!.ids).toEqual(['pay:retry', 'pay:other', 'order:cancel']);
    expect((await booking()).paid).toBe(before);

    await c.tap('pay:retry');
    const second = await waitForPaynow(w.providers, await latestAttempt(w.duka, orderNumber!, 2));
    expect(second.phone).toBe('0773000002');
    await w.providers.paynow.complete(second.pollId, { status: 'Paid' });
    const [receipt] = await c.next();
    expect(receipt!.text).toContain(`Booking BK-DEMO-0001: total USD 150.00, paid ${usd(before + 2550)}, balance ${usd(15000 - before - 2550)}.`);
    expect((await booking()).paid).toBe(before + 2550);
    const rows = await paymentRows(w.duka, orderNumber!);
    expect(rows.map((r) => r.status)).toEqual(['cancelled', 'succeeded']);
    expect(rows.every((r) => r.booking_id === rows[0]!.booking_id && r.booking_id !== null)).toBe(true);
  });

  it('offers no cash for a booking, and gives up after three unknown references', async () => {
    const c = new Customer(w.duka, HARARE, '263771300003');
    const before = (await booking()).paid;
    const [menu] = await c.say('hi');
    expect(menu!.ids).toContain('menu:booking');
    await c.tap('menu:booking');
    await c.say('nope-1');
    await c.say('nope-2');
    const [gaveUp, back] = await c.say('nope-3', 2);
    expect(gaveUp!.text).toMatch(/could not find a booking "nope-3". Let's start again./);
    expect(back!.ids).toContain('menu:booking');
    expect((await booking()).paid).toBe(before);
  });
});
