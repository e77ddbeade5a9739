/**
 * Workflow-side OpenTelemetry (bundled as a workflow interceptor module, workers/worker.ts). It links the span a client
 * sent in a header (the webhook's signalWithStart, a payment callback's signal, an admin update) to every activity the
 * workflow schedules after it, and hands finished spans to the worker through the SDK's `exporter` sink.
 *
 * Not the SDK's own workflow interceptors, on purpose: those draw span ids from the workflow's seeded Math.random,
 * which shifts every later `uuid4()` (payment references) away from the recorded histories, also when a query is
 * traced (sdk-typescript#2023); and they add yields on histories recorded without them. These issue no command,
 * never yield, never touch the workflow's random sequence, and do nothing at all unless a traced caller sent a
 * context: running workflows replay exactly as before.
 */
import '@temporalio/interceptors-opentelemetry/lib/workflow/runtime.js';
import * as otel from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor, type IdGenerator } from '@opentelemetry/sdk-trace-base';
import { ContextManager } from '@temporalio/interceptors-opentelemetry/lib/workflow/context-manager.js';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter.js';
import { extractContextFromHeaders, headersWithContext, TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { ContinueAsNew, workflowInfo, type Headers, type WorkflowInterceptors } from '@temporalio/workflow';

let sequence = 0;

/** FNV-1a, 32 bits, as 8 hex digits. */
function fnv(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** Ids from the run id and a counter: unique per span, and no draw from the workflow's Math.random. */
const ids: IdGenerator = {
  generateTraceId: () => {
    const seed = `${workflowInfo().runId}:${++sequence}`;
    return `${fnv(`${seed}:a`)}${fnv(`${seed}:b`)}${fnv(`${seed}:c`)}${fnv(`${seed}:d`)}`;
  },
  generateSpanId: () => {
    const seed = `${workflowInfo().runId}:${++sequence}`;
    const id = `${fnv(`${seed}:a`)}${fnv(`${seed}:b`)}`;
    return id === '0000000000000000' ? '0000000000000001' : id;
  },
};

let tracer: otel.Tracer | undefined;
function getTracer(): otel.Tracer {
  if (!tracer) {
    const provider = new BasicTracerProvider({ idGenerator: ids });
    provider.addSpanProcessor(new SimpleSpanProcessor(new SpanExporter()));
    provider.register({ contextManager: new ContextManager() });
    tracer = provider.getTracer('duka-workflow');
  }
  return tracer;
}

/**
 * The caller's context, when it sent one (the tracer, and with it the propagator, is set up first). A header with no
 * span in it (sent empty by an untraced caller: older clients did) is no context: nothing is traced, and no header goes
 * on to the activities.
 */
function parentOf(headers: Headers): otel.Context | undefined {
  if (headers[TRACE_HEADER] === undefined) return undefined;
  getTracer();
  const context = extractContextFromHeaders(headers);
  return context && otel.trace.getSpanContext(context) ? context : undefined;
}

/** Runs `fn` in a span under `parent`, ended when it settles (ContinueAsNew is not an error). */
async function inSpan<T>(name: string, parent: otel.Context, fn: (context: otel.Context) => Promise<T>): Promise<T> {
  const span = getTracer().startSpan(name, { attributes: { temporalWorkflowId: workflowInfo().workflowId } }, parent);
  const context = otel.trace.setSpan(parent, span);
  try {
    return await otel.context.with(context, () => fn(context));
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) {
      span.setStatus({ code: otel.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    }
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Untraced calls go straight to `next` from plain (not async) functions: not one microtask is added to them.
 */
export const interceptors = (): WorkflowInterceptors => {
  /** The context of the latest traced signal or update (else the start): what the workflow's next steps answer. */
  let latest: otel.Context | undefined;
  function startActivity<I extends { activityType: string; headers: Headers }, O>(input: I, next: (input: I) => Promise<O>): Promise<O> {
    if (!latest) return next(input);
    return inSpan(`StartActivity:${input.activityType}`, latest, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }
  return {
    inbound: [
      {
        execute(input, next) {
          const parent = parentOf(input.headers);
          if (!parent) return next(input);
          return inSpan(`RunWorkflow:${workflowInfo().workflowType}`, parent, (context) => {
            latest ??= context;
            return next(input);
          });
        },
        handleSignal(input, next) {
          const parent = parentOf(input.headers);
          if (!parent) return next(input);
          return inSpan(`HandleSignal:${input.signalName}`, parent, (context) => {
            latest = context;
            return next(input);
          });
        },
        handleUpdate(input, next) {
          const parent = parentOf(input.headers);
          if (!parent) return next(input);
          return inSpan(`HandleUpdate:${input.name}`, parent, (context) => {
            latest = context;
            return next(input);
          });
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: startActivity,
        // Replies (patch reply-local) and the catalogue reads run as local activities: traced the same way.
        scheduleLocalActivity: startActivity,
        signalWorkflow(input, next) {
          if (!latest) return next(input);
          return inSpan(`SignalWorkflow:${input.signalName}`, latest, () => next({ ...input, headers: headersWithContext(input.headers) }));
        },
      },
    ],
  };
};
