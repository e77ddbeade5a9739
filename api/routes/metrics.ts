import { Router } from 'express';
import { Gauge, Registry } from 'prom-client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { registry } from '../../lib/metrics.ts';
import { logger } from '../../lib/logger.ts';

/** Orders by status, read from PostgreSQL on each scrape: exact, whichever process changed them. */
function ordersRegistry(orm: MikroORM): Registry {
  const own = new Registry();
  new Gauge({
    name: 'duka_orders',
    help: 'Orders by status (the orders table, read at scrape time)',
    labelNames: ['status'],
    registers: [own],
    async collect() {
      this.reset();
      const rows = await orm.em.getConnection().execute<{ status: string; n: string | number }[]>('select status, count(*) as n from orders group by status');
      for (const row of rows) this.set({ status: row.status }, Number(row.n));
    },
  });
  return own;
}

/**
 * `GET /metrics` (CONTRACT.md): duka's series of this process plus orders by status, in Prometheus text format.
 * Unauthenticated like any scrape target: it holds counts by bounded labels only, nothing about a person.
 */
export function metricsRouter(deps: { orm: MikroORM }): Router {
  const router = Router();
  const orders = ordersRegistry(deps.orm);
  router.get('/metrics', async (_req, res) => {
    let text = await registry.metrics();
    try {
      text += await orders.metrics();
    } catch (err) {
      logger.warn({ err }, 'metrics: orders by status could not be read');
    }
    res.type(registry.contentType).send(text);
  });
  return router;
}
