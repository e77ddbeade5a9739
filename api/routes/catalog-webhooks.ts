import express, { Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../../lib/config.ts';
import { CatalogItemSync, Shop } from '../../db/entities.ts';
import { parseUntrustedJson } from '../../lib/untrusted-json.ts';
import { verifyMetaSignature } from '../../providers/whatsapp/signature.ts';
import { verifyChallenge } from '../../providers/whatsapp/webhook.ts';
import { HttpError } from '../errors.ts';
import { requestLog } from '../context.ts';
import { BODY_LIMIT } from '../limits.ts';
import { requestCatalogSync, type CatalogSyncDeps } from '../../lib/catalog-sync.ts';

/**
 * `POST /webhooks/catalog`: the Graph "catalog" webhook topic (protocols.md §12.6, a third-party mirror of Meta's
 * reference: `items_batch` `{ catalog_id, handle, status }`, `product_feed`). Signed like every Meta webhook
 * (`X-Hub-Signature-256` with the app secret) and verified with the same handshake. An `items_batch` change for a batch
 * duka is waiting on asks the shop's catalog-sync workflow to record it at once; every other change is logged and
 * ignored. WhatsApp's own webhook (`/webhooks/whatsapp`) carries no catalog field (§12.6), so this is its own route.
 */
const Envelope = z.object({
  object: z.string().max(100),
  entry: z
    .array(z.looseObject({ id: z.string().max(100).optional(), changes: z.array(z.looseObject({ field: z.string().max(100), value: z.unknown() })).max(100).optional() }))
    .max(100),
});
const ItemsBatch = z.looseObject({ catalog_id: z.string().max(100), handle: z.string().min(1).max(500), status: z.string().max(100).optional() });

export function catalogWebhookRouter(deps: CatalogSyncDeps & { config: Config; orm: MikroORM }): Router {
  const { config, orm } = deps;
  const router = Router();

  router.get('/webhooks/catalog', (req, res) => {
    const result = verifyChallenge(req.query as Record<string, unknown>, config.whatsapp.verifyToken);
    if (!result.ok) throw new HttpError(403, 'forbidden', 'verify token does not match');
    res.type('text/plain').send(result.challenge);
  });

  router.post('/webhooks/catalog', express.raw({ type: () => true, limit: BODY_LIMIT }), async (req, res) => {
    const log = requestLog(res);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!verifyMetaSignature(raw, req.get('x-hub-signature-256'), config.whatsapp.appSecret)) {
      log.warn({ bytes: raw.length }, 'catalog webhook: bad signature, nothing processed');
      throw new HttpError(401, 'invalid_signature', 'X-Hub-Signature-256 does not match the body');
    }
    let body: unknown;
    try {
      body = parseUntrustedJson(raw);
    } catch {
      throw new HttpError(400, 'invalid_json', 'the body is not JSON');
    }
    const envelope = Envelope.safeParse(body);
    if (!envelope.success) throw new HttpError(400, 'invalid_webhook', 'not a Graph webhook envelope ({ object, entry: [{ changes: [{ field, value }] }] })');

    const batches: z.infer<typeof ItemsBatch>[] = [];
    for (const change of envelope.data.entry.flatMap((e) => e.changes ?? [])) {
      const batch = change.field === 'items_batch' ? ItemsBatch.safeParse(change.value) : undefined;
      if (batch?.success) batches.push(batch.data);
      else log.info({ object: envelope.data.object, field: change.field }, 'catalog webhook: recorded and ignored');
    }
    const em = orm.em.fork();
    for (const batch of batches) {
      const waiting = await em.findOne(CatalogItemSync, { handle: batch.handle, status: 'pending' }, { fields: ['shopId'] });
      const shop = waiting && (await em.findOne(Shop, { id: waiting.shopId, catalogId: batch.catalog_id }));
      if (!shop) {
        log.info({ field: 'items_batch', status: batch.status }, 'catalog webhook: a batch duka is not waiting on, ignored');
        continue;
      }
      try {
        await requestCatalogSync(deps, shop, { source: 'webhook', now: true });
      } catch (err) {
        log.warn({ shopId: shop.id, error: (err as Error).message }, 'catalog webhook: Temporal did not answer');
        throw new HttpError(503, 'temporal_unavailable', 'not handed off; Meta will deliver it again');
      }
      log.info({ shopId: shop.id, status: batch.status }, 'catalog webhook: batch result asked for');
    }
    res.json({ ok: true });
  });

  return router;
}
