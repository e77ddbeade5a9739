import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';
import { createHash } from 'node:crypto';
import { Customer, Order, OrderEvent, Product, Shop } from '../db/entities.ts';
import { createActivities } from '../activities/index.ts';
import type { ActivityDeps } from '../activities/deps.ts';
import { orderWorkflowId } from '../domain/ids.ts';
import { isLanguage } from '../domain/i18n.ts';
import { CreateOrderRefusedError, type CreateOrder } from '../api/routes/orders.ts';
import type { CartResult, OrderView } from '../workflows/definitions.ts';
import { orderTiming } from './timing.ts';

/**
 * `POST /api/orders`: the shop's system creates an order for a customer. The order workflow prices every line (never
 * the caller), takes the fulfilment, and sends the customer the summary and payment options on WhatsApp.
 */
export function createOrderFromApi(deps: { config: Config; orm: MikroORM; temporal: Client; activities: Pick<ActivityDeps, 'whatsapp' | 'payments'> }): CreateOrder {
  const acts = createActivities({ ...deps, ...deps.activities });
  return async (input) => {
    const em = deps.orm.em.fork();
    // The same Idempotency-Key from the same shop answers with the order it created the first time.
    const requestKey = input.idempotencyKey ? `api-request:${input.shopId}:${createHash('sha256').update(input.idempotencyKey).digest('hex')}` : null;
    if (requestKey) {
      const earlier = await em.findOne(OrderEvent, { key: requestKey }, { populate: ['order'] });
      if (earlier) {
        const live = await acts.queryOrder({ orderNumber: earlier.order.number });
        if (live) return live;
      }
    }
    const shopRow = await em.findOneOrFail(Shop, { id: input.shopId });
    const customer = await em.findOneOrFail(Customer, { id: input.customer.id });
    const shop = await acts.getShop(input.shopId);
    const orderNumber = await acts.allocateOrderNumber(input.shopId);
    const language = isLanguage(customer.language ?? undefined) ? (customer.language as 'en' | 'sw') : isLanguage(shopRow.defaultLanguage) ? shopRow.defaultLanguage : 'en';
    await acts.startOrderWorkflow({ orderNumber, shop, customerRef: input.customer.customerRef, language, source: 'api', timing: orderTiming(deps.config) });
    const handle = deps.temporal.workflow.getHandle(orderWorkflowId(orderNumber));
    const refuse = async (message: string, code?: string): Promise<never> => {
      await handle.executeUpdate('customerCancel', { args: [] as never }).catch(() => undefined);
      throw new CreateOrderRefusedError(message, code);
    };
    try {
      for (const item of input.items) {
        const productId = item.productId ?? (await em.findOne(Product, { shop: input.shopId, retailerId: item.retailerId ?? '' }))?.id;
        if (!productId) return await refuse(`unknown product ${item.retailerId ?? ''}`, 'unknown_product');
        const r = await handle.executeUpdate<CartResult, [unknown]>('addLine', { args: [{ productId, optionIds: item.optionIds ?? [], quantity: item.quantity, ...(item.presentationId ? { presentationId: item.presentationId } : {}) }] });
        if (!r.ok) return await refuse(`${productId}: ${r.refusal.reason.replace(/_/g, ' ')}`, r.refusal.reason);
      }
      const fulfilment = input.fulfilment ?? (shop.pickupAvailable ? { fulfilment: 'pickup' as const } : undefined);
      if (!fulfilment) return await refuse('this shop only delivers: give a fulfilment with an address', 'fulfilment_required');
      await handle.executeUpdate('setFulfilment', { args: [fulfilment] });
      const offered = await handle.executeUpdate<OrderView, []>('offerPayment');
      if (requestKey) {
        const order = await em.findOneOrFail(Order, { number: orderNumber });
        await em.upsert(OrderEvent, { order, key: requestKey, type: 'api_request', detail: { requestId: input.requestId } }, { onConflictFields: ['key'], onConflictAction: 'ignore' });
      }
      return offered;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) return refuse(err.cause?.message ?? err.message);
      throw err;
    }
  };
}
