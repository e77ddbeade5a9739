import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, type Tracing } from '../../lib/tracing.ts';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { testDataConverter } from '../helpers/codec.ts';
import { requestCatalogSync } from '../../lib/catalog-sync.ts';
import { catalogSyncWorkflowId } from '../../workflows/definitions.ts';

/**
 * One trace from a customer's webhook to the reply: the API's request span → the client's SignalWithStartWorkflow →
 * the workflow (headers) → StartActivity:sendMessage → RunActivity:sendMessage, on real Temporal and PostgreSQL, with
 * an in-memory exporter in place of OTLP; the Graph API call is a span inside the activity's.
 */
describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing | undefined;
  let duka: Duka;

  beforeAll(async () => {
    tracing = startTracing('duka-test', { exporter });
    duka = await startDuka({ label: 'tracing' });
  });
  afterAll(async () => {
    await duka?.stop();
    await tracing?.shutdown();
  });

  const spans = () => exporter.getFinishedSpans();
  const parentOf = (span: ReadableSpan) => spans().find((s) => s.spanContext().spanId === span.parentSpanId);
  /** The names from this span up to its root. */
  const chain = (span: ReadableSpan): string[] => {
    const names = [span.name];
    for (let p = parentOf(span); p; p = parentOf(p)) names.push(p.name);
    return names;
  };

  async function reply(traceId: string, activity: string): Promise<ReadableSpan | undefined> {
    for (let i = 0; i < 100; i++) {
      const found = spans().find((s) => s.name === `RunActivity:${activity}` && s.spanContext().traceId === traceId);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  }

  it('links the webhook to the sendMessage activity that answers it, first message and later ones', async () => {
    const c = new Customer(duka, NAIROBI, '254712300888', 'Otieno');
    for (const [i, text] of ['hi', 'menu:shop'].entries()) {
      exporter.reset();
      if (i === 0) await c.say(text);
      else await c.tap(text);
      const webhook = spans().find((s) => s.name === 'POST /webhooks/whatsapp');
      expect(webhook).toBeDefined();
      const sent = await reply(webhook!.spanContext().traceId, 'sendMessage');
      expect(sent).toBeDefined();
      const names = chain(sent!);
      expect(names[0]).toBe('RunActivity:sendMessage');
      expect(names).toContain('StartActivity:sendMessage');
      expect(names).toContain('SignalWithStartWorkflow:conversationWorkflow');
      expect(names.at(-1)).toBe('POST /webhooks/whatsapp');
      // The Graph API call is a CLIENT span inside the activity's, named by host only.
      const graphCall = spans().find((s) => s.parentSpanId === sent!.spanContext().spanId && s.name.startsWith('whatsapp POST '));
      expect(graphCall?.name).toBe(`whatsapp POST ${new URL(duka.graph.url).host}`);
      expect(graphCall?.attributes['http.response.status_code']).toBe(200);
      // Span names and attributes carry no phone number.
      for (const s of spans()) expect(JSON.stringify({ name: s.name, attributes: s.attributes })).not.toContain('254712300888');
    }
  });
});

/** Every header field name in a history, with the event that carries it (starts, signals, updates, activities). */
function headerFields(value: unknown, event = '', found: string[] = []): string[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'header' && v && typeof v === 'object') found.push(...Object.keys((v as { fields?: object }).fields ?? {}).map((f) => `${event}: ${f}`));
    else headerFields(v, /EventAttributes$/.test(key) ? key : event, found);
  }
  return found;
}

/** With no tracer configured nothing is traced, and no call carries a trace header, not even an empty one. */
describe('tracing off', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'tracing_off' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('sends no trace header: not on the webhook\'s signalWithStart, nowhere in the conversation\'s history', async () => {
    const waId = '254712300889';
    const c = new Customer(duka, NAIROBI, waId, 'Wanjiru');
    await c.say('hi');
    await c.tap('menu:shop');
    const conversation = await duka.client.workflow.getHandle(duka.conversationId('nairobi', waId)).fetchHistory();
    const events = conversation.events ?? [];
    // The history has what would carry one: the start and the message signals.
    expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBeGreaterThanOrEqual(2);
    expect(headerFields(conversation).filter((f) => f.endsWith(TRACE_HEADER))).toEqual([]);
  });

  it('an empty header from an older, untraced client goes no further: the workflow traces nothing and the activities it schedules get none', async () => {
    // What every duka client did before: the SDK's own interceptor, with no tracer, sends the header empty. Here it asks
    // for a catalog sync, a workflow that answers with activities.
    const older = new Client({ connection: duka.client.connection, namespace: duka.config.temporal.namespace, dataConverter: testDataConverter(), interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } });
    await requestCatalogSync({ orm: duka.orm, temporal: older, taskQueue: duka.taskQueue }, { id: 'nairobi', catalogId: '900000000000001' }, { source: 'manual' });
    const handle = duka.client.workflow.getHandle(catalogSyncWorkflowId(duka.taskQueue, 'nairobi'));
    let history = await handle.fetchHistory();
    for (let i = 0; i < 300 && !history.events?.some((e) => e.activityTaskScheduledEventAttributes); i++) {
      await new Promise((r) => setTimeout(r, 100));
      history = await handle.fetchHistory();
    }
    expect(history.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(true);
    const fields = headerFields(history).filter((f) => f.endsWith(TRACE_HEADER));
    expect(fields).toContain(`workflowExecutionSignaledEventAttributes: ${TRACE_HEADER}`);
    expect(fields.filter((f) => f.startsWith('activityTaskScheduled'))).toEqual([]);
  });
});
