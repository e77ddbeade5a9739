import type { Config } from './config.ts';
import type { OrderTiming } from '../workflows/definitions.ts';

export function orderTiming(config: Config): OrderTiming {
  return {
    cartReminderAfter: config.timing.cartReminderAfter,
    cartExpiresAfter: config.timing.cartExpiresAfter,
    paymentTimeout: config.timing.paymentTimeout,
    paymentLinkTimeout: config.timing.paymentLinkTimeout,
    pollInterval: config.timing.pollInterval,
    refundWindow: config.timing.refundWindow,
    autoCloseAfter: config.timing.autoCloseAfter,
  };
}
