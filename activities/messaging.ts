import { ApplicationFailure, Context } from '@temporalio/activity';
import { Customer, Message, Shop } from '../db/entities.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { TEMPLATES, type Language, type TemplateKey } from '../domain/i18n.ts';
import { WhatsAppApiError } from '../providers/whatsapp/client.ts';
import { UnsendableMessageError } from '../providers/whatsapp/messages.ts';
import type { ActivityDeps } from './deps.ts';

const WINDOW_MS = 24 * 60 * 60 * 1000;

export interface SendInput {
  shopId: string;
  customerRef: string;
  message: OutboundMessage;
  /** What to send instead when the 24-hour customer-service window has closed. */
  template?: { key: TemplateKey; language: Language; params: string[] };
}

export interface SendResult {
  messageId: string;
  via: 'message' | 'template';
}

export function createMessagingActivities({ orm, whatsapp }: ActivityDeps) {
  async function deliver(shopId: string, phoneNumberId: string, waId: string, customerRef: string, message: OutboundMessage): Promise<string> {
    try {
      const { messageId } = await whatsapp.send(phoneNumberId, waId, message);
      const em = orm.em.fork();
      await em.upsert(Message, { waMessageId: messageId, direction: 'out', shop: em.getReference(Shop, shopId), customerRef, type: message.kind, status: 'accepted' }, { onConflictAction: 'ignore' });
      return messageId;
    } catch (err) {
      // A message that cannot be built (no buttons, a non-http link) fails the same way every time: never retried.
      if (err instanceof UnsendableMessageError) throw ApplicationFailure.create({ message: err.message, type: 'UnsendableMessage', nonRetryable: true });
      if (err instanceof WhatsAppApiError && !err.retryable) {
        throw ApplicationFailure.create({
          message: `WhatsApp refused the message: ${err.message}`,
          type: err.outsideWindow ? 'OutsideCustomerServiceWindow' : 'WhatsAppRejected',
          nonRetryable: true,
          details: [{ code: err.code, httpStatus: err.httpStatus }],
        });
      }
      throw err;
    }
  }

  function templateMessage(t: NonNullable<SendInput['template']>): OutboundMessage {
    const spec = TEMPLATES[t.key];
    return { kind: 'template', name: spec.name, languageCode: spec.languages[t.language], bodyParams: t.params };
  }

  return {
    /**
     * Free-form while the customer wrote in the last 24 hours, the approved template otherwise (or when Meta says
     * 131047); a message with no template and a closed window is refused for the workflow to decide.
     */
    async sendMessage(input: SendInput): Promise<SendResult> {
      const em = orm.em.fork();
      const customer = await em.findOne(Customer, { shop: input.shopId, ref: input.customerRef }, { populate: ['shop'] });
      if (!customer) throw ApplicationFailure.nonRetryable(`no customer ${input.customerRef} in shop ${input.shopId}`, 'UnknownCustomer');
      const phoneNumberId = customer.shop.phoneNumberId;
      // The window opens with the customer's last message: the webhook's inbound row, or the last one registered.
      const lastInbound = await em.findOne(Message, { shop: input.shopId, customerRef: input.customerRef, direction: 'in' }, { orderBy: { createdAt: 'desc' }, fields: ['createdAt'] });
      const lastAt = Math.max(lastInbound?.createdAt.getTime() ?? 0, customer.lastMessageAt?.getTime() ?? 0);
      const windowOpen = Date.now() - lastAt < WINDOW_MS;
      if (!windowOpen && input.template) {
        return { messageId: await deliver(input.shopId, phoneNumberId, customer.waId, input.customerRef, templateMessage(input.template)), via: 'template' };
      }
      try {
        return { messageId: await deliver(input.shopId, phoneNumberId, customer.waId, input.customerRef, input.message), via: 'message' };
      } catch (err) {
        if (input.template && err instanceof ApplicationFailure && err.type === 'OutsideCustomerServiceWindow') {
          Context.current().log.info('customer-service window closed: sending the template', { customerRef: input.customerRef });
          return { messageId: await deliver(input.shopId, phoneNumberId, customer.waId, input.customerRef, templateMessage(input.template)), via: 'template' };
        }
        throw err;
      }
    },

    async markRead(input: { phoneNumberId: string; messageId: string }): Promise<void> {
      try {
        await whatsapp.markAsRead(input.phoneNumberId, input.messageId);
      } catch (err) {
        // A read receipt is a courtesy: a refused one must not hold the conversation up.
        if (err instanceof WhatsAppApiError && !err.retryable) return;
        throw err;
      }
    },
  };
}
