import type { Language } from './i18n.ts';
import type { OutboundMessage } from './outbound.ts';

/**
 * WhatsApp Flows as the conversation sees them: the messages that open the customisation Flow and the payment form,
 * and what a customer is told when a Flow's answer cannot be trusted. The Flow JSON itself is in flows/*.json.
 */
const TEXTS = {
  en: {
    customiseBody: (name: string) => `Choose the size and extras for ${name}; you see the price before it goes in your cart.`,
    customiseCta: 'Customize',
    paymentBody: (orderNumber: string) => `Order ${orderNumber}: choose how to pay and the number that pays.`,
    paymentCta: 'Pay now',
    refused: 'Sorry, that form is no longer valid, so nothing was changed. Tap "Add to cart" again for a fresh one.',
  },
  sw: {
    customiseBody: (name: string) => `Chagua ukubwa na nyongeza za ${name}; utaona bei kabla ya kuweka kikapuni.`,
    customiseCta: 'Chagua',
    paymentBody: (orderNumber: string) => `Oda ${orderNumber}: chagua njia ya kulipa na namba itakayolipa.`,
    paymentCta: 'Lipa sasa',
    refused: 'Samahani, fomu hiyo haitumiki tena, kwa hiyo hakuna kilichobadilishwa. Bonyeza "Weka kikapuni" tena upate mpya.',
  },
} satisfies Record<Language, unknown>;

export const flowTexts = (language: Language) => TEXTS[language];

/** The payment form's only screen (flows/payment-form.json). */
export const PAYMENT_FORM_SCREEN = 'PAYMENT';

/** Opens the customisation Flow with a data_exchange: its first screen comes from duka's endpoint (INIT). */
export function customiseFlowMessage(language: Language, flow: { flowId: string; flowToken: string; productName: string }): OutboundMessage {
  const t = TEXTS[language];
  return { kind: 'flow', body: t.customiseBody(flow.productName), flowId: flow.flowId, flowToken: flow.flowToken, cta: t.customiseCta };
}

/** Opens the payment form on its only screen with the order's data (a navigate Flow: no endpoint involved). */
export function paymentFormMessage(
  language: Language,
  form: { flowId: string; flowToken: string; orderNumber: string; amount: string; methods: { id: string; title: string }[]; screen: string },
): OutboundMessage {
  const t = TEXTS[language];
  return {
    kind: 'flow',
    body: t.paymentBody(form.orderNumber),
    flowId: form.flowId,
    flowToken: form.flowToken,
    cta: t.paymentCta,
    screen: form.screen,
    data: {
      order_number: form.orderNumber,
      heading: `${language === 'sw' ? 'Oda' : 'Order'} ${form.orderNumber}`,
      amount: form.amount,
      methods: form.methods,
      default_method: form.methods[0]?.id ?? '',
      phone_example: language === 'sw' ? 'Namba ya simu itakayolipa' : 'The number that pays',
    },
  };
}

/** What the conversation learns from a Flow's answer: whose and for what its token is, or why it is refused. */
export type FlowReplyCheck = { ok: true; kind: 'product' | 'payment'; subject: string } | { ok: false; reason: 'forged' | 'expired' | 'not_yours' };
