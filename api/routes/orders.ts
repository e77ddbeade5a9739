import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../../lib/config.ts';
import { customerRefFor } from '../../lib/customer-ref.ts';
import { MAX_QUANTITY } from '../../domain/catalog.ts';
import type { FulfilmentChoice, OrderView } from '../../workflows/definitions.ts';
import { HttpError, parseInput, sendError } from '../errors.ts';
import { requestId, requestLog } from '../context.ts';
import { scopeShop } from '../auth.ts';
import type { ShopDirectory } from '../shops.ts';
import { temporalUrl } from '../read-model.ts';
import { failureMessage, isUpdateFailed } from '../temporal.ts';
import { describeRoute } from '../openapi.ts';

/** One line as a shop system names it: by duka product id or by its catalogue retailer id. */
export interface CreateOrderItemInput {
  productId?: string;
  retailerId?: string;
  quantity: number;
  presentationId?: string;
  optionIds: string[];
}

/** What `POST /api/orders` hands to the workflow side (`AppDeps.createOrder`), after validation and the customer upsert. */
export interface CreateOrderInput {
  shopId: string;
  customer: {
    /** Customer row id. */
    id: string;
    /** Digits, country code first: whom to message and charge. */
    waId: string;
    customerRef: string;
    name?: string;
  };
  items: CreateOrderItemInput[];
  fulfilment?: FulfilmentChoice;
  note?: string;
  /** The caller's `Idempotency-Key`: the same key must not create a second order. */
  idempotencyKey?: string;
  /** For logs and traces. */
  requestId: string;
}

export type CreateOrder = (input: CreateOrderInput) => Promise<OrderView>;

/**
 * A business refusal from `createOrder` (unknown product, out of stock, method not offered): answered 422 with its
 * message. Anything else that is thrown is a server problem.
 */
export class CreateOrderRefusedError extends Error {
  override name = 'CreateOrderRefusedError';
  readonly code: string;
  constructor(message: string, code = 'order_refused') {
    super(message);
    this.code = code;
  }
}

const Id = z.string().trim().min(1).max(100);
const Address = z.strictObject({
  text: z.string().trim().min(1).max(500).optional(),
  latitude: z.number().min(-90).max(90).optional(),
  longitude: z.number().min(-180).max(180).optional(),
  name: z.string().trim().min(1).max(200).optional(),
});
const Item = z
  .strictObject({
    productId: Id.optional(),
    retailerId: Id.optional(),
    quantity: z.number().int().min(1).max(MAX_QUANTITY),
    presentationId: Id.optional(),
    optionIds: z.array(Id).max(20).optional(),
  })
  .refine((i) => (i.productId === undefined) !== (i.retailerId === undefined), 'give exactly one of productId or retailerId');
const Body = z.strictObject({
  shopId: Id,
  customer: z.strictObject({ phone: z.string().trim().min(3).max(32), name: z.string().trim().min(1).max(200).optional() }),
  items: z.array(Item).min(1).max(50),
  fulfilment: z
    .strictObject({ type: z.enum(['delivery', 'pickup']), address: Address.optional() })
    .refine(
      (f) => f.type === 'pickup' || f.address?.text !== undefined || (f.address?.latitude !== undefined && f.address.longitude !== undefined),
      'a delivery needs address.text or address.latitude and address.longitude',
    )
    .optional(),
  note: z.string().trim().max(1000).optional(),
});

export interface OrdersRouteDeps {
  config: Config;
  orm: MikroORM;
  shops: ShopDirectory;
  createOrder?: CreateOrder | undefined;
}

/** The customer's WhatsApp id for a number typed by a shop system, read in the shop's country; null when invalid. */
export function waIdFor(phone: string, country: string): string | null {
  const parsed = parsePhoneNumberFromString(phone, country.toUpperCase() as CountryCode);
  if (!parsed || !parsed.isValid()) return null;
  return parsed.number.replace(/^\+/, '');
}

/** `POST /api/orders`: a shop system creates an order for a customer; duka sends them payment options. */
export function ordersRouter(deps: OrdersRouteDeps): Router {
  const { config, orm, shops, createOrder } = deps;
  const router = Router();

  describeRoute({ method: 'post', path: '/api/orders', summary: 'Create an order for a customer and send them payment options (Idempotency-Key: one order per key)', body: Body, responses: { 201: 'the order', 403: 'a shop token creating an order for another shop', 404: 'no such shop', 422: 'refused, nothing to pay and no message sent: `out_of_stock` (a product sold out, or fewer left than asked once other orders\' holds are counted; the message names it and what is left: two orders racing for the last unit get one 201 and one 422), unknown product, method not offered', 503: 'Temporal is not reachable' } });
  router.post('/', async (req, res) => {
    const body = parseInput(Body, req.body, 'body');
    scopeShop(res, body.shopId);
    const shop = await shops.get(body.shopId);
    if (!shop) throw new HttpError(404, 'unknown_shop', `no shop ${body.shopId}`);
    const waId = waIdFor(body.customer.phone, shop.country);
    if (!waId) {
      throw new HttpError(400, 'invalid_phone', `customer.phone is not a valid phone number for ${shop.country} (use the local form or +<country code>)`);
    }
    if (!createOrder) {
      sendError(res, 503, 'unavailable', 'order creation is not available in this process');
      return;
    }
    const idempotencyKey = req.get('idempotency-key');
    if (idempotencyKey !== undefined && !/^[A-Za-z0-9._:-]{1,128}$/.test(idempotencyKey)) {
      throw new HttpError(400, 'invalid_request', 'Idempotency-Key: 1–128 letters, digits or ._:-');
    }

    const rows = await orm.em.getConnection().execute<{ id: string; ref: string; name: string | null }[]>(
      'insert into customer (id, shop_id, wa_id, ref, name, created_at) values (?, ?, ?, ?, ?, now()) ' +
        'on conflict (shop_id, wa_id) do update set name = coalesce(excluded.name, customer.name) returning id, ref, name',
      [randomUUID(), shop.id, waId, customerRefFor(waId, config.customerRefSecret), body.customer.name ?? null],
    );
    const customer = rows[0];
    if (!customer) throw new Error('customer upsert returned no row');

    const input: CreateOrderInput = {
      shopId: shop.id,
      customer: { id: customer.id, waId, customerRef: customer.ref, ...(customer.name && { name: customer.name }) },
      items: body.items.map((i) => ({
        ...(i.productId !== undefined && { productId: i.productId }),
        ...(i.retailerId !== undefined && { retailerId: i.retailerId }),
        quantity: i.quantity,
        ...(i.presentationId !== undefined && { presentationId: i.presentationId }),
        optionIds: i.optionIds ?? [],
      })),
      ...(body.fulfilment && { fulfilment: { fulfilment: body.fulfilment.type, ...(body.fulfilment.address && { address: body.fulfilment.address }) } }),
      ...(body.note && { note: body.note }),
      ...(idempotencyKey !== undefined && { idempotencyKey }),
      requestId: requestId(res),
    };

    let order: OrderView;
    try {
      order = await createOrder(input);
    } catch (err) {
      if (err instanceof CreateOrderRefusedError) throw new HttpError(422, err.code, err.message);
      if (isUpdateFailed(err)) throw new HttpError(422, 'order_refused', failureMessage(err));
      if (err instanceof Error && (err.name === 'ServiceError' || err.name === 'WorkflowUpdateRPCTimeoutOrCancelledError')) {
        requestLog(res).warn({ err }, 'createOrder: Temporal unavailable');
        throw new HttpError(503, 'unavailable', 'Temporal is not reachable; try again');
      }
      throw err;
    }
    requestLog(res).info({ orderNumber: order.orderNumber, shopId: shop.id }, 'order created over the API');
    res
      .status(201)
      .location(`/api/admin/orders/${encodeURIComponent(order.orderNumber)}`)
      .json({ ...order, temporalUrl: temporalUrl(config, order.workflowId) });
  });

  return router;
}
