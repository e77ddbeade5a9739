import { Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Payment } from '../../db/entities.ts';
import { formatMoney, isCurrencyCode } from '../../domain/money.ts';

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Where a hosted payment page (Razorpay, Paynow web) sends the customer's browser afterwards. It only says where the
 * payment stands: the order itself is told by the provider's signed callback, never by this redirect.
 */
export function paidRouter({ orm }: { orm: MikroORM }): Router {
  const router = Router();
  router.get('/paid/:reference', async (req, res) => {
    const reference = String(req.params.reference).slice(0, 100);
    const payment = await orm.em.fork().findOne(Payment, { reference }, { populate: ['order', 'shop'] });
    const amount = payment && isCurrencyCode(payment.currency) ? formatMoney({ amount: payment.amount, currency: payment.currency }) : '';
    const line = !payment
      ? 'We could not find this payment.'
      : payment.status === 'succeeded'
        ? `Thank you: ${amount} received for order ${payment.order?.number ?? ''}.`
        : payment.status === 'pending'
          ? `We are confirming your payment of ${amount}. You will get a receipt on WhatsApp.`
          : `This payment did not go through (${payment.status}). You can try again from WhatsApp.`;
    res
      .status(payment ? 200 : 404)
      .type('html')
      .send(
        `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escape(payment?.shop.name ?? 'duka')}</title>` +
          `<body style="font-family:system-ui;margin:3rem auto;max-width:28rem;text-align:center"><h1>${escape(payment?.shop.name ?? 'duka')}</h1><p>${escape(line)}</p><p>You can close this page and go back to WhatsApp.</p></body>`,
      );
  });
  return router;
}
