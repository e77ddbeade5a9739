import { Router, type Response } from 'express';
import { z } from 'zod';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AuditEntry } from '../db/entities.ts';
import { actorOf, scopeShop } from './auth.ts';
import { requestId } from './context.ts';
import { parseInput } from './errors.ts';
import { describeRoute } from './openapi.ts';

export interface AuditInput {
  shopId: string | null;
  /** What was changed: `shop`, `shop_token`, `product`, … */
  entity: string;
  entityId: string | null;
  action: string;
  /** `{ field: { from, to } }` (see `changes`); never a secret: name what was set, not its value. */
  diff?: Record<string, unknown>;
}

/**
 * Records who changed what through the admin API. The entry joins `em`'s unit of work, so it is written by the same
 * flush as the change itself (or not at all).
 */
export function audit(res: Response, em: EntityManager, input: AuditInput): void {
  const req = res.req;
  const route = `${req.baseUrl}${typeof req.route?.path === 'string' ? req.route.path : req.path}`;
  em.create(AuditEntry, {
    actor: actorOf(res),
    shopId: input.shopId,
    method: req.method,
    route,
    entity: input.entity,
    entityId: input.entityId,
    action: input.action,
    diff: input.diff ?? {},
    requestId: requestId(res),
  });
}

/** The fields whose value differs between two plain views, as `{ field: { from, to } }`. */
export function changes(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const diff: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) diff[key] = { from: before[key] ?? null, to: after[key] ?? null };
  }
  return diff;
}

const AuditQuery = z.object({
  shop: z.string().min(1).max(64).optional(),
  entity: z.string().min(1).max(64).optional(),
  before: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** `GET /api/admin/audit?shop=&entity=&before=&limit=`: newest first; a shop token reads only its shop's entries. */
export function auditRouter({ orm }: { orm: MikroORM }): Router {
  const router = Router();
  describeRoute({ method: 'get', path: '/api/admin/audit', summary: 'Who changed what through the admin API, newest first', query: AuditQuery, responses: { 200: 'audit entries', 403: 'a shop token asking for another shop' } });
  router.get('/audit', async (req, res) => {
    const q = parseInput(AuditQuery, req.query, 'query');
    const shopId = scopeShop(res, q.shop);
    const em = orm.em.fork();
    const entries = await em.find(
      AuditEntry,
      {
        ...(shopId !== undefined ? { shopId } : {}),
        ...(q.entity ? { entity: q.entity } : {}),
        ...(q.before ? { at: { $lt: new Date(q.before) } } : {}),
      },
      { orderBy: { at: 'desc', id: 'desc' }, limit: q.limit },
    );
    res.json({
      entries: entries.map((e) => ({
        id: e.id,
        at: e.at.toISOString(),
        actor: e.actor,
        shopId: e.shopId,
        method: e.method,
        route: e.route,
        entity: e.entity,
        entityId: e.entityId,
        action: e.action,
        diff: e.diff,
        requestId: e.requestId,
      })),
    });
  });
  return router;
}
