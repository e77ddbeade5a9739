import express, { type Router } from 'express';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import type { PaymentProviders } from '../providers/payments/registry.ts';
import { requestContext } from './context.ts';
import { errorHandler, notFoundHandler } from './errors.ts';
import { bearerAuth } from './auth.ts';
import { ShopDirectory } from './shops.ts';
import { ReadModel } from './read-model.ts';
import { authFailureLimit, BODY_LIMIT, listenWithLimits, refuseDeepJson, refuseNulInUrl } from './limits.ts';
import { storableJson } from '../lib/untrusted-json.ts';
import { healthRouter } from './routes/health.ts';
import { metricsRouter } from './routes/metrics.ts';
import { observeRequests } from '../lib/metrics.ts';
import { traceRequests } from '../lib/tracing.ts';
import { whatsappRouter } from './routes/whatsapp.ts';
import { flowsRouter } from './routes/flows.ts';
import { paymentsRouter } from './routes/payments.ts';
import { adminRouter } from './routes/admin.ts';
import { catalogRouter } from './routes/catalog.ts';
import { catalogSyncRouter } from './routes/catalog-sync.ts';
import { catalogWebhookRouter } from './routes/catalog-webhooks.ts';
import { flowDeployRouter } from './routes/flow-deploy.ts';
import { shopsRouter } from './routes/shops.ts';
import { auditRouter } from './audit.ts';
import { customersRouter } from './routes/customers.ts';
import { bookingsRouter } from './routes/bookings.ts';
import { requestsRouter } from './routes/requests.ts';
import { promotionsRouter } from './routes/promotions.ts';
import { adminPageRouter } from '../dashboard/page.ts';
import { paidRouter } from './routes/paid.ts';
import { ordersRouter, type CreateOrder } from './routes/orders.ts';
import { openApiRouter } from './openapi.ts';

export type { CreateOrderInput, CreateOrder, CreateOrderItemInput } from './routes/orders.ts';
export { CreateOrderRefusedError } from './routes/orders.ts';
export { ShopDirectory } from './shops.ts';

export interface AppDeps {
  config: Config;
  orm: MikroORM;
  temporal: Client;
  payments: PaymentProviders;
  /** Mounted under `/sandbox` when given (the caller decides from `config.sandbox`). */
  sandboxRouter?: Router;
  /** The workflow side of `POST /api/orders`; absent → 503. */
  createOrder?: CreateOrder;
  /** Express `trust proxy` (off unless a deployment sits behind a proxy it trusts). */
  trustProxy?: boolean | number | string;
  /** Shared with other parts of a process that want the same cache; made here otherwise. */
  shops?: ShopDirectory;
  /** More routes owned elsewhere (e.g. `/flows/whatsapp`), mounted before the JSON 404 so they share its error shape. */
  extraRoutes?: { path: string; router: Router }[];
}

/**
 * duka's HTTP surface (CONTRACT.md). Every route answers JSON errors `{ error: { code, message } }`; bodies are parsed
 * per route (webhooks need their raw bytes for signatures) with one 1 MB limit, without NUL and at most MAX_JSON_DEPTH
 * deep (lib/untrusted-json.ts). The app holds no timers or connections of its own: whoever created `orm` and
 * `temporal` closes them.
 */
export function createApp(deps: AppDeps): express.Express {
  const { config, orm, temporal, payments } = deps;
  const shops = deps.shops ?? new ShopDirectory(orm, { credentialsKey: config.credentialsKey });
  const readModel = new ReadModel(orm, config);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy ?? false);
  app.set('etag', false);
  listenWithLimits(app);

  app.use(requestContext());
  app.use(refuseNulInUrl);
  app.use(observeRequests(), traceRequests());
  app.use(healthRouter({ orm, temporal }));
  app.use(metricsRouter({ orm }));
  app.use(whatsappRouter({ config, orm, temporal, shops }));
  app.use(catalogWebhookRouter({ config, orm, temporal, taskQueue: config.temporal.taskQueue }));
  app.use(flowsRouter({ config, orm }));
  app.use(paymentsRouter({ config, orm, temporal, payments, shops }));

  const json = express.json({ limit: BODY_LIMIT, reviver: storableJson, verify: refuseDeepJson });
  const auth = bearerAuth(config.adminToken, shops);
  // Mounted once: a request falls through several routers below, and each one runs `auth` again.
  app.use(['/api/admin', '/api/orders'], authFailureLimit());
  app.use('/api/admin', auth, json, adminRouter({ config, temporal, readModel }), shopsRouter({ config, orm, shops }), auditRouter({ orm }));
  app.use('/api/admin', auth, json, customersRouter({ readModel }), bookingsRouter({ orm }), promotionsRouter({ orm }), requestsRouter({ orm }));
  const catalogSync = { orm, temporal, taskQueue: config.temporal.taskQueue };
  app.use('/api/admin', auth, json, catalogRouter({ orm, catalogSync }), catalogSyncRouter(catalogSync));
  app.use('/api/admin', auth, json, flowDeployRouter({ config, orm }));
  app.use('/api/orders', auth, json, ordersRouter({ config, orm, shops, createOrder: deps.createOrder }));
  app.use(openApiRouter());

  for (const { path, router } of deps.extraRoutes ?? []) app.use(path, router);
  app.use('/admin', adminPageRouter());
  app.use(paidRouter({ orm }));
  if (deps.sandboxRouter) {
    app.use('/sandbox', deps.sandboxRouter);
    app.get('/', (_req, res) => res.redirect('/sandbox'));
  }

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
