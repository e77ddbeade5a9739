import { Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import { HttpError, parseInput } from '../errors.ts';
import { pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';
import { audit } from '../audit.ts';

const RequestsQuery = z.object({ open: z.enum(['true', 'false']).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) });
const RequestId = z.uuid();
const PatchRequest = z.strictObject({ handled: z.boolean() });

interface RequestRow {
  id: string;
  title: string;
  body: string;
  customer_ref: string;
  customer_name: string | null;
  created_at: Date;
  handled_at: Date | null;
}

const requestJson = (r: RequestRow) => ({
  id: r.id,
  title: r.title,
  text: r.body,
  customerRef: r.customer_ref,
  customerName: r.customer_name,
  createdAt: new Date(r.created_at).toISOString(),
  handledAt: r.handled_at ? new Date(r.handled_at).toISOString() : null,
});

/**
 * What customers asked for through the shop's own request entries in the main menu (seed 000's "Request
 * installation"): the staff's to-do list, newest first, marked handled when someone has answered.
 */
export function requestsRouter(deps: { orm: MikroORM }): Router {
  const { orm } = deps;
  const router = Router();
  const SELECT =
    'select r.id, r.title, r.body, r.customer_ref, c.name as customer_name, r.created_at, r.handled_at from customer_request r ' +
    'left join customer c on c.shop_id = r.shop_id and c.ref = r.customer_ref where r.shop_id = ?';

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/requests', summary: "Customers' requests from the shop's own menu entries, newest first (open=true: not yet handled)", params: { shopId: ShopIdParam }, query: RequestsQuery, responses: { 200: 'the requests', 404: 'no such shop', 403: "another shop's token" } });
  router.get('/shops/:shopId/requests', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const query = parseInput(RequestsQuery, req.query, 'query');
    const open = query.open === undefined ? '' : query.open === 'true' ? ' and r.handled_at is null' : ' and r.handled_at is not null';
    const rows = await orm.em.fork().getConnection().execute<RequestRow[]>(`${SELECT}${open} order by r.created_at desc, r.id desc limit ?`, [shop.id, query.limit]);
    res.json({ requests: rows.map(requestJson) });
  });

  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId/requests/:requestId', summary: 'Mark a request handled (or open again)', params: { shopId: ShopIdParam, requestId: RequestId }, body: PatchRequest, responses: { 200: 'the request', 404: 'no such shop or request', 403: "another shop's token" } });
  router.patch('/shops/:shopId/requests/:requestId', async (req, res) => {
    const shop = await pathShop(res, orm, req.params.shopId);
    const id = parseInput(RequestId, req.params.requestId, 'request id');
    const body = parseInput(PatchRequest, req.body, 'body');
    const em = orm.em.fork();
    const updated = await em.getConnection().execute<{ id: string }[]>(
      `update customer_request set handled_at = ${body.handled ? 'coalesce(handled_at, now())' : 'null'} where id = ? and shop_id = ? returning id`,
      [id, shop.id],
    );
    if (updated.length === 0) throw new HttpError(404, 'not_found', `no request ${id} in shop ${shop.id}`);
    audit(res, em, { shopId: shop.id, entity: 'customer_request', entityId: id, action: 'update', diff: { handled: { to: body.handled } } });
    await em.flush();
    const [row] = await em.getConnection().execute<RequestRow[]>(`${SELECT} and r.id = ?`, [shop.id, id]);
    res.json(requestJson(row!));
  });
  return router;
}
