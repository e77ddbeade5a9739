import type { ActivityDeps } from './deps.ts';
import { Product } from '../db/entities.ts';
import { publishedFlow } from '../db/whatsapp-flows.ts';
import { checkFlowToken, mintFlowToken } from '../providers/whatsapp/flows.ts';
import { PAYMENT_FORM_SCREEN, customiseFlowMessage, paymentFormMessage, type FlowReplyCheck } from '../domain/flows.ts';
import type { Language } from '../domain/i18n.ts';
import type { OutboundMessage } from '../domain/outbound.ts';

/** WhatsApp Flows for the conversation: the message that opens a shop's published Flow, and checking a Flow's answer. */
export function createFlowActivities({ orm, config }: ActivityDeps) {
  const secrets = config.customerRefSecrets.length > 0 ? config.customerRefSecrets : [config.customerRefSecret];
  return {
    /**
     * The customisation Flow for this product with a token minted for this customer and product, when the shop has
     * the Flow published; null otherwise (the conversation asks in chat steps).
     */
    async customiseFlow(input: { shopId: string; customerRef: string; productId: string; language: Language }): Promise<OutboundMessage | null> {
      const flow = await publishedFlow(orm, input.shopId, 'customise');
      if (!flow) return null;
      const product = await orm.em.fork().findOne(Product, { id: input.productId, shop: input.shopId }, { fields: ['name'] });
      if (!product) return null;
      const flowToken = mintFlowToken({ kind: 'product', shopId: input.shopId, subject: input.productId, customerRef: input.customerRef }, config.customerRefSecret);
      return customiseFlowMessage(input.language, { flowId: flow.flowId, flowToken, productName: product.name });
    },

    /**
     * The payment form (seed 000) for this order with a token minted for this customer and order, when the shop has
     * the form published; null otherwise. Amount and method names come from the conversation, in the customer's language.
     */
    async paymentForm(input: { shopId: string; customerRef: string; orderNumber: string; amount: string; methods: { id: string; title: string }[]; language: Language }): Promise<OutboundMessage | null> {
      const flow = await publishedFlow(orm, input.shopId, 'payment');
      if (!flow || input.methods.length === 0) return null;
      const flowToken = mintFlowToken({ kind: 'payment', shopId: input.shopId, subject: input.orderNumber, customerRef: input.customerRef }, config.customerRefSecret);
      return paymentFormMessage(input.language, { flowId: flow.flowId, flowToken, orderNumber: input.orderNumber, amount: input.amount, methods: input.methods, screen: PAYMENT_FORM_SCREEN });
    },

    /** Whether a completed Flow's `flow_token` is ours, unexpired, and this customer's in this shop. */
    async checkFlowReply(input: { shopId: string; customerRef: string; flowToken: unknown }): Promise<FlowReplyCheck> {
      const checked = checkFlowToken(typeof input.flowToken === 'string' ? input.flowToken : '', secrets);
      if (!checked.ok) return checked;
      const { claims } = checked;
      if (claims.shopId !== input.shopId || claims.customerRef !== input.customerRef) return { ok: false, reason: 'not_yours' };
      return { ok: true, kind: claims.kind, subject: claims.subject };
    },
  };
}
