import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { installRuntime } from '../../workers/worker.ts';
import { freeLoopbackPort as freePort, serveWorkerMetrics } from '../../lib/metrics.ts';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { textMessage } from '../fakes/graph-api.ts';

/** The value of one series (`name{labels}`) in a Prometheus text answer, or undefined when it is not there. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
  }
  return undefined;
}

/**
 * `/metrics` on both processes during a journey on real Temporal and PostgreSQL: the API answers duka's series (webhook
 * latency and outcomes, messages sent, HTTP status classes, orders by status read from the table), the worker's endpoint
 * answers the Temporal SDK's series and duka's activity series together.
 */
describe('metrics', () => {
  let duka: Duka;
  let workerMetrics: Server;
  let workerMetricsUrl: string;

  beforeAll(async () => {
    // As runWorker does: the SDK's exporter on a private loopback port, merged on the worker's one endpoint.
    const sdk = `127.0.0.1:${await freePort()}`;
    installRuntime({ metricsBindAddress: sdk });
    const port = await freePort();
    workerMetrics = await serveWorkerMetrics(port, `http://${sdk}/metrics`, '127.0.0.1');
    workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
    duka = await startDuka({ label: 'metrics' });
  });
  afterAll(async () => {
    await duka?.stop();
    await new Promise((resolve) => workerMetrics?.close(resolve));
  });

  const scrape = async (url: string) => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };

  it('counts webhooks by outcome, messages, responses and orders by status on the API', async () => {
    const before = await scrape(`${duka.baseUrl}/metrics`);
    const okBefore = sample(before, 'duka_whatsapp_webhook_duration_seconds_count', { outcome: 'ok' }) ?? 0;
    const sentBefore = sample(before, 'duka_messages_sent_total', { via: 'message' }) ?? 0;

    const forged = await fetch(`${duka.baseUrl}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=00' }, body: '{}' });
    expect(forged.status).toBe(401);
    // A callback for no payment of duka's: refused, and counted under its provider (the token is never a label).
    const callback = await fetch(`${duka.baseUrl}/webhooks/mpesa/not-a-token-of-ours`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Body":{}}' });
    expect(callback.status).toBeGreaterThanOrEqual(400);

    const c = new Customer(duka, NAIROBI, '254712300777', 'Wanjiru');
    await c.say('hi');
    await c.tap('menu:shop');
    await c.pick('cat:nairobi-pantry');
    await c.tap('add:nairobi-honey');
    await c.say('1', 2);
    await c.tap('cart:checkout');
    await c.tap('ful:pickup');
    await c.tap('order:confirm');

    const after = await scrape(`${duka.baseUrl}/metrics`);
    const webhooks = (sample(after, 'duka_whatsapp_webhook_duration_seconds_count', { outcome: 'ok' }) ?? 0) - okBefore;
    expect(webhooks).toBeGreaterThanOrEqual(8);
    expect(sample(after, 'duka_whatsapp_webhook_duration_seconds_count', { outcome: 'invalid_signature' })).toBe(1);
    expect(sample(after, 'duka_whatsapp_webhook_duration_seconds_bucket', { outcome: 'ok', le: '+Inf' })).toBe(webhooks + okBefore);
    expect((sample(after, 'duka_messages_sent_total', { via: 'message' }) ?? 0) - sentBefore).toBe(duka.graph.sent.length);
    expect(sample(after, 'duka_http_responses_total', { method: 'POST', route: '/webhooks/whatsapp', status_class: '4xx' })).toBe(1);
    expect(sample(after, 'duka_http_responses_total', { method: 'POST', route: '/webhooks/whatsapp', status_class: '2xx' })).toBeGreaterThanOrEqual(8);

    const callbacks = after.split('\n').filter((l) => l.startsWith('duka_payment_callbacks_total{'));
    expect(callbacks.some((l) => l.includes('provider="mpesa"') && / 1$/.test(l))).toBe(true);
    expect(after).not.toContain('not-a-token-of-ours');
    expect(sample(after, 'duka_http_responses_total', { method: 'POST', route: '/webhooks/mpesa/:token', status_class: '4xx' })).toBe(1);
    const rows = await duka.orm.em.getConnection().execute<{ status: string; n: string }[]>('select status, count(*) as n from orders group by status');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(sample(after, 'duka_orders', { status: row.status })).toBe(Number(row.n));
    // Nothing about a person in any label.
    expect(after).not.toContain('254712300777');
    expect(after).not.toContain(duka.customerRef('254712300777'));
  });

  it('answers the SDK series and duka activity series together on the worker endpoint', async () => {
    await duka.deliver(NAIROBI, [textMessage('254712300778', 'hi', `wamid.metrics-${Date.now()}`)]);
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await scrape(workerMetricsUrl);
      if (/^temporal_activity_execution_latency/m.test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(text).toMatch(/^temporal_workflow_task_execution_latency\w*\{/m);
    expect(text).toMatch(/^temporal_activity_execution_latency\w*\{/m);
    expect(text).toMatch(/^temporal_worker_task_slots_available\{/m);
    expect(sample(text, 'duka_messages_sent_total', { via: 'message' })).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^duka_process_resident_memory_bytes /m);
    expect((await fetch(workerMetricsUrl.replace('/metrics', '/other'))).status).toBe(404);
  });
});
