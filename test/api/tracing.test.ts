import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, type Tracing } from '../../lib/tracing.ts';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';

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
