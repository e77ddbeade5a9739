import { randomUUID } from 'node:crypto';
import { Customer, Order, Shop } from '../db/entities.ts';
import { FINAL_STATUSES, type OrderStatus } from '../domain/status.ts';
import { isLanguage, type Language } from '../domain/i18n.ts';
import type { ActivityDeps } from './deps.ts';

export interface CustomerRegistration {
  customerId: string;
  language: Language | null;
  activeOrder: { orderNumber: string; status: OrderStatus } | null;
}

export function createCustomerActivities({ orm }: ActivityDeps) {
  return {
    /** Upsert on (shop, WhatsApp id); tells the conversation what it may have forgotten (language, an open order). */
    async registerCustomer(input: { shopId: string; waId: string; customerRef: string; name?: string; at: number }): Promise<CustomerRegistration> {
      const em = orm.em.fork();
      await em.upsert(
        Customer,
        { shop: em.getReference(Shop, input.shopId), waId: input.waId, ref: input.customerRef, ...(input.name ? { name: input.name } : {}), lastMessageAt: new Date(input.at) },
        { onConflictFields: ['shop', 'waId'], onConflictMergeFields: input.name ? ['name', 'lastMessageAt'] : ['lastMessageAt'] },
      );
      const customer = await em.findOneOrFail(Customer, { shop: input.shopId, ref: input.customerRef });
      const open = await em.findOne(
        Order,
        { customer: customer.id, status: { $nin: [...FINAL_STATUSES] } },
        { orderBy: { createdAt: 'desc' } },
      );
      return {
        customerId: customer.id,
        language: isLanguage(customer.language ?? undefined) ? (customer.language as Language) : null,
        activeOrder: open ? { orderNumber: open.number, status: open.status } : null,
      };
    },

    /** A customer's answer to a shop's request entry; once per WhatsApp message, however often it is retried. */
    async recordCustomerRequest(input: { shopId: string; customerRef: string; messageId: string; title: string; text: string }): Promise<void> {
      await orm.em
        .fork()
        .getConnection()
        .execute(
          'insert into customer_request (id, shop_id, customer_ref, wa_message_id, title, body, created_at) values (?, ?, ?, ?, ?, ?, now()) on conflict (wa_message_id) do nothing',
          [randomUUID(), input.shopId, input.customerRef, input.messageId, input.title.slice(0, 100), input.text.slice(0, 4000)],
        );
    },

    async setCustomerLanguage(input: { shopId: string; customerRef: string; language: Language }): Promise<void> {
      await orm.em.fork().nativeUpdate(Customer, { shop: input.shopId, ref: input.customerRef }, { language: input.language });
    },
  };
}
