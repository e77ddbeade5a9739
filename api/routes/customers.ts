import { Router } from 'express';
import { z } from 'zod';
import { parseInput } from '../errors.ts';
import { requireCaller, scopeShop } from '../auth.ts';
import type { ReadModel } from '../read-model.ts';
import { PageQuery, cursorOf } from '../paging.ts';
import { ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';

const CustomersQuery = z.object({
  shop: ShopIdParam.optional(),
  ...PageQuery.shape,
});

/**
 * `GET /api/admin/customers?shop=`: each customer with their order count, spend per currency (confirmed payments minus
 * refunds) and last order. Phone numbers go only to `ADMIN_TOKEN`, the operator of every shop; a shop's token sees its
 * customers by name and customer ref, never their numbers (it may be a till or a dashboard on a shared phone).
 */
export function customersRouter(deps: { readModel: ReadModel }): Router {
  const router = Router();
  describeRoute({ method: 'get', path: '/api/admin/customers', summary: 'Customers with their order count, spend per currency and last order (phone numbers only for ADMIN_TOKEN)', query: CustomersQuery, responses: { 200: 'a page of customers and the next cursor', 403: 'a shop token asking for another shop' } });
  router.get('/customers', async (req, res) => {
    const query = parseInput(CustomersQuery, req.query, 'query');
    const cursor = cursorOf(query.cursor);
    const shopId = scopeShop(res, query.shop);
    res.json(
      await deps.readModel.listCustomers({
        limit: query.limit,
        withPhone: requireCaller(res).kind === 'admin',
        ...(shopId !== undefined && { shopId }),
        ...(cursor && { cursor }),
      }),
    );
  });
  return router;
}
