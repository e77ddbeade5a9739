import { describe, expect, it } from '@jest/globals';
import { exampleNumber, maskedNumber, payerNumber, readEmail, readPayerReply } from '../../domain/phone.ts';

describe('the number a customer pays from', () => {
  it('takes a Safaricom number for M-Pesa as people type it, and names the network of any other Kenyan number', () => {
    for (const typed of ['0722 000 111', '+254 722 000 111', '254722000111', '0110 123 456', '0748-123-456', '0799123456'])
      expect([typed, payerNumber(typed, 'mpesa')]).toEqual([typed, { ok: true, phone: expect.stringMatching(/^254\d{9}$/) }]);
    expect(payerNumber('0722 000 111', 'mpesa')).toEqual({ ok: true, phone: '254722000111' });
    // Airtel (073x, 075x, 078x) and Telkom (077x) numbers are Kenyan mobiles with no M-Pesa wallet.
    for (const typed of ['0733 123 456', '0750 123 456', '0780 123 456', '0771 123 456']) expect(payerNumber(typed, 'mpesa')).toEqual({ ok: false, why: 'wrong_network' });
    for (const typed of ['12345', '0772 123 456 789', '+263 772 123 456', 'my wife']) expect(payerNumber(typed, 'mpesa')).toEqual({ ok: false, why: 'invalid' });
  });

  it('takes Econet for EcoCash, NetOne for OneMoney, and any Zimbabwean mobile for InnBucks and O\'mari', () => {
    expect(payerNumber('0772 123 456', 'ecocash')).toEqual({ ok: true, phone: '263772123456' });
    expect(payerNumber('0782 123 456', 'ecocash')).toEqual({ ok: true, phone: '263782123456' });
    expect(payerNumber('0712 123 456', 'ecocash')).toEqual({ ok: false, why: 'wrong_network' });
    expect(payerNumber('0712 123 456', 'onemoney')).toEqual({ ok: true, phone: '263712123456' });
    expect(payerNumber('0772 123 456', 'onemoney')).toEqual({ ok: false, why: 'wrong_network' });
    expect(payerNumber('0733 123 456', 'innbucks')).toEqual({ ok: true, phone: '263733123456' });
    expect(payerNumber('0712 123 456', 'omari')).toEqual({ ok: true, phone: '263712123456' });
    expect(payerNumber('+254 722 000 111', 'omari')).toEqual({ ok: false, why: 'invalid' });
  });

  it('has no number for link and cash methods', () => {
    expect(payerNumber('0722 000 111', 'razorpay_link')).toEqual({ ok: false, why: 'invalid' });
    expect(payerNumber('0722 000 111', 'cash')).toEqual({ ok: false, why: 'invalid' });
  });

  it('reads "this number" in English and Swahili before trying a number', () => {
    for (const own of ['this number', 'This Number', 'me', 'same', 'hii', 'namba yangu']) expect(readPayerReply(own, 'mpesa')).toEqual({ own: true });
    expect(readPayerReply('0722000111', 'mpesa')).toEqual({ ok: true, phone: '254722000111' });
  });

  it('reads an e-mail address, and shows a number only by its last digits', () => {
    expect(readEmail(' Amina@Example.co.ke ')).toBe('amina@example.co.ke');
    for (const bad of ['amina', 'amina@', 'amina@example', 'a b@example.com', '<x@y.com>']) expect(readEmail(bad)).toBeNull();
    expect(maskedNumber('254722000111')).toBe('…111');
    expect(exampleNumber('mpesa')).toBe('0712 345 678');
    expect(exampleNumber('ecocash')).toBe('0772 123 456');
  });
});
