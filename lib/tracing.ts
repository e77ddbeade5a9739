import * as otel from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider, NoopSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, OpenTelemetryWorkflowClientInterceptor, makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import type { ClientInterceptors, WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { RequestHandler } from 'express';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';

/**
 * OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP over HTTP, OpenTelemetry's own
 * variables: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS…) or a test hands an exporter. A trace runs from the
 * webhook's span through the client's signalWithStart (Temporal headers) into the workflow
 * (workflows/tracing-interceptors.ts) and on to every activity it schedules; provider calls happen inside those
 * activity spans.
 */
export interface Tracing {
  processor: SpanProcessor;
  resource: Resource;
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

export function startTracing(service: string, options: { exporter?: SpanExporter; env?: Record<string, string | undefined> } = {}): Tracing | undefined {
  if (active) return active;
  const env = options.env ?? process.env;
  if (!options.exporter && !env.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const resource = new Resource({ 'service.name': env.OTEL_SERVICE_NAME ?? service });
  const processor = options.exporter ? new SimpleSpanProcessor(options.exporter) : new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register();
  const tracing: Tracing = {
    processor,
    resource,
    async shutdown() {
      if (active !== tracing) return;
      active = undefined;
      await provider.shutdown();
      otel.trace.disable();
      otel.context.disable();
      otel.propagation.disable();
    },
  };
  active = tracing;
  return tracing;
}

/**
 * One SERVER span per API request while tracing is on, active through body parsing and the handler (the request and
 * response emitters are bound to it), so the webhook's signalWithStart and a callback's signal are its children. Named
 * by method and matched route: never the raw path, which can carry a secret (`/webhooks/mpesa/:token`).
 */
export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    if (!active) {
      next();
      return;
    }
    const span = otel.trace.getTracer('duka').startSpan(`${req.method} unmatched`, {
      kind: otel.SpanKind.SERVER,
      attributes: { 'http.request.method': req.method },
    });
    const context = otel.trace.setSpan(otel.context.active(), span);
    otel.context.bind(context, req);
    otel.context.bind(context, res);
    res.on('finish', () => {
      const route = (req as { route?: { path?: unknown } }).route?.path;
      if (typeof route === 'string') span.updateName(`${req.method} ${req.baseUrl}${route}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
      span.end();
    });
    otel.context.with(context, next);
  };
}

/**
 * `fetch` for a provider client (Graph API, payment providers): while tracing is on each call is a CLIENT span under
 * the activity's, named by provider, method and host (never the path or the query: they can carry ids or tokens).
 */
export function tracedFetch(provider: string, base: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    if (!active) return base(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    return otel.trace.getTracer('duka').startActiveSpan(
      `${provider} ${method} ${url.host}`,
      { kind: otel.SpanKind.CLIENT, attributes: { 'http.request.method': method, 'server.address': url.hostname, 'duka.provider': provider } },
      async (span) => {
        try {
          const response = await base(input, init);
          span.setAttribute('http.response.status_code', response.status);
          if (response.status >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
          return response;
        } catch (err) {
          span.setStatus({ code: otel.SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
          throw err;
        } finally {
          span.end();
        }
      },
    );
  };
}

/**
 * Every duka Temporal client: while tracing is on, starts, signals and updates carry the caller's span in a header.
 * With no tracer the SDK's interceptor would still send the header, empty (OpenTelemetry's no-op propagator injects
 * nothing), and every workflow would carry it on: untraced, a call goes out with no header at all. Decided per call, so
 * a client made before startTracing is traced from then on.
 */
export const tracingClientInterceptors = (): ClientInterceptors => ({ workflow: [whileTracing(new OpenTelemetryWorkflowClientInterceptor())] });

function whileTracing(traced: OpenTelemetryWorkflowClientInterceptor): WorkflowClientInterceptor {
  const when =
    <I, O>(method: (input: I, next: (input: I) => Promise<O>) => Promise<O>) =>
    (input: I, next: (input: I) => Promise<O>): Promise<O> =>
      active ? method.call(traced, input, next) : next(input);
  return {
    start: when(traced.start),
    startWithDetails: when(traced.startWithDetails),
    signal: when(traced.signal),
    signalWithStart: when(traced.signalWithStart),
    startUpdate: when(traced.startUpdate),
    startUpdateWithStart: when(traced.startUpdateWithStart),
    query: when(traced.query),
    terminate: when(traced.terminate),
    cancel: when(traced.cancel),
    describe: when(traced.describe),
  };
}

/** Activities continue the workflow's trace (their span's parent comes in the activity's headers). */
export const tracingActivityInterceptors = (): ActivityInterceptorsFactory[] => [
  (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
];

/** Whether this process traces: its worker then runs the workflow bundle with the tracing interceptors in it. */
export const tracingOn = (): boolean => active !== undefined;

/**
 * The `exporter` sink the workflow interceptors hand their spans to: always registered (a worker started before tracing
 * still answers a traced bundle), dropping them when tracing is off.
 */
export function tracingSinks(): InjectedSinks<OpenTelemetrySinks> {
  const processor = active?.processor ?? new NoopSpanProcessor();
  return { exporter: makeWorkflowExporter(processor, active?.resource ?? Resource.empty()) };
}
