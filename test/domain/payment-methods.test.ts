import { describe, expect, it } from '@jest/globals';
import { nextPollWait, type PaymentMethod } from '../../domain/payment-methods.ts';

/** The look times of an attempt open for `windowMs`, from the first interval `firstMs` (PAYMENT_POLL_INTERVAL). */
function looks(method: PaymentMethod, firstMs: number, windowMs: number): number[] {
  const at: number[] = [];
  let wait: number | undefined;
  let now = 0;
  for (;;) {
    wait = nextPollWait(method, firstMs, wait, now);
    if (now + wait >= windowMs) return at;
    now += wait;
    at.push(now / 1000);
  }
}

describe('poll schedule per payment method', () => {
  it('M-Pesa: the interval ×1.5 until the look at 75 s, after Daraja has expired the prompt; then every five minutes', () => {
    expect(looks('mpesa', 10_000, 30 * 60_000)).toEqual([10, 25, 47.5, 75, 375, 675, 975, 1275, 1575]);
    // A short interval still ends on the look at 75 s.
    expect(looks('mpesa', 3_000, 80_000).slice(-3)).toEqual([39.5625, 62.34375, 75]);
    // Within the default PAYMENT_TIMEOUT (3 min) the look at 75 s is the last before the deadline's own.
    expect(looks('mpesa', 10_000, 180_000)).toEqual([10, 25, 47.5, 75]);
  });

  it('payment links: ×1.5 up to five minutes, 12 looks in PAYMENT_LINK_TIMEOUT (30 min) where a one-minute ceiling made 32', () => {
    const link = looks('razorpay_link', 10_000, 30 * 60_000);
    expect(link).toHaveLength(12);
    expect(link.slice(-3)).toEqual([1048.8671875, 1348.8671875, 1648.8671875]);
    expect(looks('paynow_web', 10_000, 30 * 60_000)).toEqual(link);
    expect(looks('zimswitch', 10_000, 30 * 60_000)).toEqual(link);
  });

  it('prompts with no known expiry keep the one-minute ceiling', () => {
    for (const method of ['ecocash', 'onemoney', 'innbucks', 'ghala_mpesa'] as const) {
      expect(looks(method, 10_000, 30 * 60_000)).toHaveLength(32);
      expect(nextPollWait(method, 10_000, 60_000, 600_000)).toBe(60_000);
    }
  });
});
