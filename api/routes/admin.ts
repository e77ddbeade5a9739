import { Router, type Response } from 'express';
import { z } from 'zod';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../lib/config.ts';
import { conversationWorkflowId } from '../../domain/ids.ts';
import { ORDER_STATUSES, type OrderStatus } from '../../domain/status.ts';
import { PROVIDER_OF, type PaymentMethod } from '../../domain/payment-methods.ts';
import {
  advanceStatusUpdate,
  cancelOrderUpdate,
  handoverSignal,
  orderQuery,
  markRefundedUpdate,
  refundOrderUpdate,
  retryPaymentUpdate,
  type OrderView,
} from '../../workflows/definitions.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { describeRoute } from '../openapi.ts';
import { handoverMinutes } from './whatsapp.ts';
import { canSeeShop, scopeShop } from '../auth.ts';
import type { ReadModel, OrderDetail } from '../read-model.ts';
import { PageQuery, cursorOf } from '../paging.ts';
import { failureMessage, isUpdateFailed, isWorkflowNotFound, withinDeadline, withTimeout } from '../temporal.ts';

export interface AdminRouteDeps {
  config: Config;
  temporal: Client;
  readModel: ReadModel;
  /** How long `live` waits for the workflow's `order` query (default 2 s). */
  liveQueryTimeoutMs?: number;
  /** How long an operator action waits for its update to finish (default 30 s). */
  updateTimeoutMs?: number;
}

const PAYMENT_METHODS = Object.keys(PROVIDER_OF) as [PaymentMethod, ...PaymentMethod[]];
const Text = z.string().trim().min(1).max(500);
const ShopParam = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'not a shop id');
const OrderNumberParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not an order number');
const CustomerRefParam = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a customer ref');

const StatsQuery = z.object({ shop: ShopParam.optional() });
const OrdersQuery = z.object({
  shop: ShopParam.optional(),
  status: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean))
    .pipe(z.array(z.enum(ORDER_STATUSES)).min(1).max(ORDER_STATUSES.length))
    .optional(),
  /** Only orders an operator must act on (Attention set). */
  attention: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  ...PageQuery.shape,
});
const StatusBody = z.strictObject({ status: z.enum(ORDER_STATUSES), note: Text.optional() });
const ReasonBody = z.strictObject({ reason: Text.optional() });
/** Minor units; absent = everything still paid. */
const RefundBody = z.strictObject({ reason: Text.optional(), amount: z.number().int().min(1).max(1_000_000_000_000).optional() });
const MarkRefundedBody = z.strictObject({ note: Text.min(3), amount: z.number().int().min(1).max(1_000_000_000_000).optional() });
const RetryBody = z.strictObject({ method: z.enum(PAYMENT_METHODS).optional() });
const HandoverBody = z
  .strictObject({ minutes: z.number().int().min(1).max(7 * 24 * 60).optional(), resume: z.boolean().optional() })
  .refine((b) => !(b.minutes !== undefined && b.resume === true), 'give either minutes or resume, not both');

/** An empty or absent JSON body is `{}` for the actions whose fields are all optional. */
const bodyOf = (body: unknown): unknown => (body === undefined || body === null ? {} : body);

export function adminRouter(deps: AdminRouteDeps): Router {
  const { temporal, readModel, config } = deps;
  const liveTimeout = deps.liveQueryTimeoutMs ?? 2_000;
  const updateTimeout = deps.updateTimeoutMs ?? 30_000;
  const router = Router();

  /** The order if this caller may see it; another shop's order is as absent as a missing one. */
  async function visibleOrder(res: Response, orderNumber: string) {
    const number = parseInput(OrderNumberParam, orderNumber, 'order number');
    const detail = await readModel.orderDetail(number);
    if (!detail || !canSeeShop(res, detail.shopId)) throw new HttpError(404, 'not_found', `no order ${number}`);
    return detail;
  }

  async function liveView(res: Response, workflowId: string): Promise<OrderView | null> {
    try {
      return await withinDeadline(temporal, liveTimeout, 'order query', () => temporal.workflow.getHandle(workflowId).query(orderQuery));
    } catch (err) {
      requestLog(res).debug({ workflowId, err: err instanceof Error ? err.message : String(err) }, 'order query did not answer');
      return null;
    }
  }

  describeRoute({ method: 'get', path: '/api/admin/stats', summary: 'Orders, revenue per currency and customers', query: StatsQuery, responses: { 200: 'the totals', 403: 'a shop token asking for another shop' } });
  router.get('/stats', async (req, res) => {
    const query = parseInput(StatsQuery, req.query, 'query');
    res.json(await readModel.stats(scopeShop(res, query.shop)));
  });

  describeRoute({ method: 'get', path: '/api/admin/orders', summary: 'Orders, newest first, paged by cursor', query: OrdersQuery, responses: { 200: 'a page of orders and the next cursor', 403: 'a shop token asking for another shop' } });
  router.get('/orders', async (req, res) => {
    const query = parseInput(OrdersQuery, req.query, 'query');
    const cursor = cursorOf(query.cursor);
    const shopId = scopeShop(res, query.shop);
    res.json(
      await readModel.listOrders({
        limit: query.limit,
        ...(shopId !== undefined && { shopId }),
        ...(query.status && { statuses: query.status as OrderStatus[] }),
        ...(query.attention && { attention: true }),
        ...(cursor && { cursor }),
      }),
    );
  });

  describeRoute({ method: 'get', path: '/api/admin/orders/:orderNumber', summary: 'One order with items, payments, timeline and its workflow', params: { orderNumber: OrderNumberParam }, responses: { 200: 'the order; live is the workflow\'s own view or null', 404: 'no such order (or another shop\'s)' } });
  router.get('/orders/:orderNumber', async (req, res) => {
    const detail = await visibleOrder(res, req.params.orderNumber);
    const result: OrderDetail = { ...detail, live: await liveView(res, detail.workflowId) };
    res.json(result);
  });

  /**
   * Operator actions run the order workflow's updates: the workflow's validator decides (409 with its reason), the
   * update's result is the order as the workflow now sees it, and the row it persisted is read back.
   */
  async function runUpdate(res: Response, orderNumber: string, name: string, run: (handle: WorkflowHandle, updateId: string | undefined) => Promise<OrderView>, updateId: string | undefined) {
    const before = await visibleOrder(res, orderNumber);
    const handle = temporal.workflow.getHandle(before.workflowId);
    let live: OrderView;
    try {
      live = await withTimeout(run(handle, updateId), updateTimeout, `update ${name}`);
    } catch (err) {
      if (isUpdateFailed(err)) throw new HttpError(409, 'conflict', failureMessage(err));
      if (isWorkflowNotFound(err)) throw new HttpError(409, 'order_closed', `order ${before.orderNumber} is ${before.status} and its workflow has finished`);
      if (err instanceof Error && /did not answer within/.test(err.message)) {
        throw new HttpError(504, 'timeout', `the order workflow did not finish ${name} in time; it may still happen`);
      }
      requestLog(res).warn({ workflowId: before.workflowId, update: name, err }, 'operator update failed');
      throw new HttpError(503, 'unavailable', 'Temporal is not reachable; try again');
    }
    requestLog(res).info({ workflowId: before.workflowId, update: name, status: live.status }, 'operator action');
    const after = (await readModel.orderDetail(before.orderNumber)) ?? before;
    const result: OrderDetail = { ...after, live };
    res.json(result);
  }

  /** `Idempotency-Key` becomes the update id, so a retried request does not run the action twice. */
  const updateIdOf = (value: string | undefined) => (value && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined);

  describeRoute({ method: 'post', path: '/api/admin/orders/:orderNumber/status', summary: 'Advance the order status', params: { orderNumber: OrderNumberParam }, body: StatusBody, responses: { 200: 'the order after the action, with the workflow\'s live view', 404: 'no such order (or another shop\'s)', 409: 'refused by the order workflow, with its reason', 503: 'Temporal is not reachable', 504: 'the workflow did not finish in time; it may still happen' } });
  router.post('/orders/:orderNumber/status', async (req, res) => {
    const body = parseInput(StatusBody, bodyOf(req.body), 'body');
    const arg = { status: body.status, ...(body.note !== undefined && { note: body.note }) };
    await runUpdate(res, req.params.orderNumber, 'advanceStatus', (h, updateId) => h.executeUpdate(advanceStatusUpdate, { args: [arg], ...(updateId && { updateId }) }), updateIdOf(req.get('idempotency-key')));
  });

  describeRoute({ method: 'post', path: '/api/admin/orders/:orderNumber/cancel', summary: 'Cancel the order (refunded first when paid and the provider can)', params: { orderNumber: OrderNumberParam }, body: ReasonBody, bodyOptional: true, responses: { 200: 'the order after the action, with the workflow\'s live view', 404: 'no such order (or another shop\'s)', 409: 'refused by the order workflow, with its reason', 503: 'Temporal is not reachable', 504: 'the workflow did not finish in time; it may still happen' } });
  router.post('/orders/:orderNumber/cancel', async (req, res) => {
    const body = parseInput(ReasonBody, bodyOf(req.body), 'body');
    const arg = body.reason !== undefined ? { reason: body.reason } : {};
    await runUpdate(res, req.params.orderNumber, 'cancelOrder', (h, updateId) => h.executeUpdate(cancelOrderUpdate, { args: [arg], ...(updateId && { updateId }) }), updateIdOf(req.get('idempotency-key')));
  });

  describeRoute({ method: 'post', path: '/api/admin/orders/:orderNumber/refund', summary: 'Refund all of what is paid, or an amount in minor units', params: { orderNumber: OrderNumberParam }, body: RefundBody, bodyOptional: true, responses: { 200: 'the order after the action, with the workflow\'s live view', 404: 'no such order (or another shop\'s)', 409: 'refused by the order workflow, with its reason', 503: 'Temporal is not reachable', 504: 'the workflow did not finish in time; it may still happen' } });
  router.post('/orders/:orderNumber/refund', async (req, res) => {
    const body = parseInput(RefundBody, bodyOf(req.body), 'body');
    const arg = { ...(body.reason !== undefined && { reason: body.reason }), ...(body.amount !== undefined && { amount: body.amount }) };
    await runUpdate(res, req.params.orderNumber, 'refundOrder', (h, updateId) => h.executeUpdate(refundOrderUpdate, { args: [arg], ...(updateId && { updateId }) }), updateIdOf(req.get('idempotency-key')));
  });

  describeRoute({ method: 'post', path: '/api/admin/orders/:orderNumber/mark-refunded', summary: 'Record money given back by hand', params: { orderNumber: OrderNumberParam }, body: MarkRefundedBody, responses: { 200: 'the order after the action, with the workflow\'s live view', 404: 'no such order (or another shop\'s)', 409: 'refused by the order workflow, with its reason', 503: 'Temporal is not reachable', 504: 'the workflow did not finish in time; it may still happen' } });
  router.post('/orders/:orderNumber/mark-refunded', async (req, res) => {
    const body = parseInput(MarkRefundedBody, req.body, 'body');
    const arg = { note: body.note, ...(body.amount !== undefined && { amount: body.amount }) };
    await runUpdate(res, req.params.orderNumber, 'markRefunded', (h, updateId) => h.executeUpdate(markRefundedUpdate, { args: [arg], ...(updateId && { updateId }) }), updateIdOf(req.get('idempotency-key')));
  });

  describeRoute({ method: 'post', path: '/api/admin/orders/:orderNumber/retry-payment', summary: 'Send the customer a new payment prompt', params: { orderNumber: OrderNumberParam }, body: RetryBody, bodyOptional: true, responses: { 200: 'the order after the action, with the workflow\'s live view', 404: 'no such order (or another shop\'s)', 409: 'refused by the order workflow, with its reason', 503: 'Temporal is not reachable', 504: 'the workflow did not finish in time; it may still happen' } });
  router.post('/orders/:orderNumber/retry-payment', async (req, res) => {
    const body = parseInput(RetryBody, bodyOf(req.body), 'body');
    const arg = body.method !== undefined ? { method: body.method } : {};
    await runUpdate(res, req.params.orderNumber, 'retryPayment', (h, updateId) => h.executeUpdate(retryPaymentUpdate, { args: [arg], ...(updateId && { updateId }) }), updateIdOf(req.get('idempotency-key')));
  });

  describeRoute({ method: 'post', path: '/api/admin/conversations/:shopId/:customerRef/handover', summary: 'Hand a conversation to staff for some minutes, or give it back to the bot', params: { shopId: ShopParam, customerRef: CustomerRefParam }, body: HandoverBody, bodyOptional: true, responses: { 202: 'the handover started or ended', 403: 'another shop\'s conversation', 404: 'no open conversation for this customer', 503: 'Temporal is not reachable' } });
  router.post('/conversations/:shopId/:customerRef/handover', async (req, res) => {
    const shopId = parseInput(ShopParam, req.params.shopId, 'shop id');
    const customerRef = parseInput(CustomerRefParam, req.params.customerRef, 'customer ref');
    scopeShop(res, shopId);
    const body = parseInput(HandoverBody, bodyOf(req.body), 'body');
    const arg = body.resume ? { resume: true } : { minutes: body.minutes ?? handoverMinutes(config) };
    const workflowId = conversationWorkflowId(shopId, customerRef);
    try {
      await temporal.workflow.getHandle(workflowId).signal(handoverSignal, arg);
    } catch (err) {
      if (isWorkflowNotFound(err)) throw new HttpError(404, 'not_found', 'no open conversation for this customer');
      requestLog(res).warn({ workflowId, err }, 'handover signal failed');
      throw new HttpError(503, 'unavailable', 'Temporal is not reachable; try again');
    }
    res.status(202).json({ workflowId, handover: arg.resume ? 'resumed' : 'started', ...('minutes' in arg && { minutes: arg.minutes }) });
  });

  return router;
}
