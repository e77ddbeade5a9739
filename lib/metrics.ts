import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import type { Request, RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { logger } from './logger.ts';

/**
 * duka's own Prometheus series (prom-client), one registry per process: the API serves it at `GET /metrics`, the
 * worker on WORKER_METRICS_PORT beside the Temporal SDK's series. Labels are bounded sets (outcomes, providers, HTTP
 * status classes, Meta error codes): never a phone number, a customer ref or an order number.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'duka_' });

export const webhookDuration = new Histogram({
  name: 'duka_whatsapp_webhook_duration_seconds',
  help: 'Time to answer a WhatsApp webhook, by outcome (ok, invalid, invalid_signature, too_large, handoff_failed, http_<status>)',
  labelNames: ['outcome'],
  buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const handOffFailures = new Counter({
  name: 'duka_whatsapp_handoff_failures_total',
  help: 'WhatsApp webhooks whose hand-off to Temporal or the database failed (answered 503)',
  registers: [registry],
});

export const handOffRedrives = new Counter({
  name: 'duka_whatsapp_handoff_redrives_total',
  help: 'Stored WhatsApp events re-driven by duka after a failed hand-off, by result (ok, failed)',
  labelNames: ['result'],
  registers: [registry],
});

export const paymentCallbacks = new Counter({
  name: 'duka_payment_callbacks_total',
  help: 'Payment provider callbacks by provider and outcome (accepted, duplicate, rejected, forged, unknown_payment, malformed, unavailable)',
  labelNames: ['provider', 'outcome'],
  registers: [registry],
});

export const paymentResults = new Counter({
  name: 'duka_payments_total',
  help: 'Payments settled, by provider and result (succeeded, failed, cancelled, expired, refunded…)',
  labelNames: ['provider', 'result'],
  registers: [registry],
});

export const messagesSent = new Counter({
  name: 'duka_messages_sent_total',
  help: 'WhatsApp messages Meta accepted, by how they went (message, template)',
  labelNames: ['via'],
  registers: [registry],
});

export const messagesFailed = new Counter({
  name: 'duka_messages_failed_total',
  help: 'WhatsApp sends that failed, by Meta error code (or none, unknown_outcome, given_up)',
  labelNames: ['code'],
  registers: [registry],
});

export const catalogSyncs = new Counter({
  name: 'duka_catalog_sync_total',
  help: 'Catalog synchronisations by source and result (ok, failed)',
  labelNames: ['source', 'result'],
  registers: [registry],
});

const httpResponses = new Counter({
  name: 'duka_http_responses_total',
  help: 'HTTP responses of the API by method, route and status class (2xx, 4xx, 5xx)',
  labelNames: ['method', 'route', 'status_class'],
  registers: [registry],
});

/** The matched route pattern (bounded), never the raw path: `/webhooks/mpesa/:token` carries a secret. */
function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route?.path;
  return typeof route === 'string' ? `${req.baseUrl}${route}` : 'unmatched';
}

/** What a WhatsApp webhook answer means (api/routes/whatsapp.ts answers each of these statuses for one reason). */
const WEBHOOK_OUTCOME: Record<number, string> = { 200: 'ok', 400: 'invalid', 401: 'invalid_signature', 413: 'too_large', 503: 'handoff_failed' };

/**
 * Every answer of the API by method, route and status class (the 5xx alert's source); the WhatsApp webhook also by
 * latency and outcome, a 503 there being a failed hand-off to Temporal or the database.
 */
export function observeRequests(): RequestHandler {
  return (req, res, next) => {
    const webhook = req.method === 'POST' && req.path === '/webhooks/whatsapp';
    const stop = webhook ? webhookDuration.startTimer() : undefined;
    res.on('finish', () => {
      httpResponses.inc({ method: req.method, route: routeOf(req), status_class: `${Math.floor(res.statusCode / 100)}xx` });
      if (!stop) return;
      stop({ outcome: WEBHOOK_OUTCOME[res.statusCode] ?? `http_${res.statusCode}` });
      if (res.statusCode === 503) handOffFailures.inc();
    });
    next();
  };
}

/**
 * The worker's one scrape target on WORKER_METRICS_PORT: the Temporal SDK's own exporter (bound to a loopback port
 * only this process knows) fetched and answered together with duka's registry, so Prometheus scrapes one endpoint.
 */
export async function serveWorkerMetrics(port: number, sdkMetricsUrl: string | undefined, host?: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'only GET /metrics here' } }));
      return;
    }
    void (async () => {
      let sdk = '';
      if (sdkMetricsUrl) {
        try {
          const answer = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(5_000) });
          sdk = answer.ok ? await answer.text() : '';
        } catch (err) {
          logger.warn({ err }, 'metrics: the Temporal SDK exporter did not answer');
        }
      }
      const own = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(`${sdk}${sdk && !sdk.endsWith('\n') ? '\n' : ''}${own}`);
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} is in use: set WORKER_METRICS_PORT to another port, or stop what is using it`) : err),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** A loopback port free right now: where the Temporal SDK's own Prometheus exporter listens, known to this process only. */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
