import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.ts';
import { createHash } from 'node:crypto';
import { Customer, Product, Shop } from '../db/entities.ts';
import { createActivities } from '../activities/index.ts';
import type { ActivityDeps } from '../activities/deps.ts';
import { claimOrderNumber, orderStartOptions } from '../activities/orders.ts';
import { isLanguage } from '../domain/i18n.ts';
import { CreateOrderRefusedError, type CreateOrder } from '../api/routes/orders.ts';
import { createFromApiUpdate, orderQuery, type ApiOrderRequest } from '../workflows/definitions.ts';
import type { orderWorkflow } from '../workflows/order.ts';

/**
 * `POST /api/orders`: the shop's system creates an order for a customer. The order workflow prices every line (never
 * the caller), takes the fulfilment, and sends the customer the summary and payment options on WhatsApp.
 *
 * One durable step: the request's key (its `Idempotency-Key`, else its request id) claims the order number first,
 * then a single update-with-start carries the whole order under that key as its update id. A crash anywhere, or the
 * same request again, finds the same number and the same update: never a second order, never a half-made one.
 */
export function createOrderFromApi(deps: { config: Config; orm: MikroORM; temporal: Client; activities: Pick<ActivityDeps, 'whatsapp' | 'payments'> }): CreateOrder {
  const acts = createActivities({ ...deps, ...deps.activities });
  return async (input) => {
    const em = deps.orm.em.fork();
    const key = `api:${input.shopId}:${createHash('sha256').update(input.idempotencyKey ?? `request:${input.requestId}`).digest('hex')}`;
    const shopRow = await em.findOneOrFail(Shop, { id: input.shopId });
    const customer = await em.findOneOrFail(Customer, { id: input.customer.id });
    const shop = await acts.getShop(input.shopId);

    const lines: ApiOrderRequest['lines'] = [];
    for (const item of input.items) {
      const productId = item.productId ?? (await em.findOne(Product, { shop: input.shopId, retailerId: item.retailerId ?? '' }))?.id;
      if (!productId) throw new CreateOrderRefusedError(`unknown product ${item.retailerId ?? ''}`, 'unknown_product');
      lines.push({ productId, optionIds: item.optionIds ?? [], quantity: item.quantity, ...(item.presentationId ? { presentationId: item.presentationId } : {}) });
    }
    const fulfilment = input.fulfilment ?? (shop.pickupAvailable ? { fulfilment: 'pickup' as const } : undefined);
    if (!fulfilment) throw new CreateOrderRefusedError('this shop only delivers: give a fulfilment with an address', 'fulfilment_required');

    const orderNumber = await claimOrderNumber(deps.orm, input.shopId, key);
    const language = isLanguage(customer.language ?? undefined) ? (customer.language as 'en' | 'sw') : isLanguage(shopRow.defaultLanguage) ? shopRow.defaultLanguage : 'en';
    const start = orderStartOptions(deps.config, { orderNumber, shop, customerRef: input.customer.customerRef, language, source: 'api' });
    const startWorkflowOperation = new WithStartWorkflowOperation<typeof orderWorkflow>('orderWorkflow', {
      ...start,
      workflowIdConflictPolicy: 'USE_EXISTING',
      // An order that has closed is never started again under its number: the same request answers the closed order.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    try {
      const result = await deps.temporal.workflow.executeUpdateWithStart(createFromApiUpdate, { args: [{ lines, fulfilment }], updateId: key, startWorkflowOperation });
      if (!result.ok) throw new CreateOrderRefusedError(result.message, result.code);
      if (result.order.customerRef !== input.customer.customerRef) throw new CreateOrderRefusedError(`order number ${orderNumber} belongs to another order`, 'conflict');
      return result.order;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new CreateOrderRefusedError(err.cause?.message ?? err.message);
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        // The same request after its order closed: answer that order as it ended.
        const closed = await deps.temporal.workflow.getHandle(start.workflowId).query(orderQuery).catch(() => null);
        if (closed && closed.customerRef === input.customer.customerRef) return closed;
      }
      throw err;
    }
  };
}
