import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NativeConnection } from '@temporalio/worker';
import { Runtime, Worker, bundleWorkflowCode, makeTelemetryFilterString, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DataConverter, LogLevel } from '@temporalio/common';
import { SdkLogger } from '../lib/sdk-logger.ts';
import { FAILURE_CONVERTER_PATH } from '../lib/data-converter.ts';
import { createActivities } from '../activities/index.ts';
import { tracingActivityInterceptors, tracingClientInterceptors, tracingOn, tracingSinks } from '../lib/tracing.ts';
import type { ActivityDeps } from '../activities/deps.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
export const PREBUILT_BUNDLE = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));
export const PREBUILT_TRACED_BUNDLE = fileURLToPath(new URL('../dist/workflow-bundle-traced.js', import.meta.url));
/** Workflow-side tracing (no commands, no yields, no draw from the workflow's random: replay-safe). */
export const WORKFLOW_INTERCEPTORS_PATH = fileURLToPath(new URL('../workflows/tracing-interceptors.ts', import.meta.url));

let runtimeReady = false;
/**
 * The SDK logs through duka's logger (lib/sdk-logger.ts: masking, no task tokens, order numbers), core's own lines
 * forwarded to it; warnings and up unless TEMPORAL_LOG_LEVEL says otherwise; no signal handlers of its own: duka's
 * processes decide when to stop. `metricsBindAddress`: where the SDK's Prometheus exporter listens (the worker serves
 * it merged with duka's own on WORKER_METRICS_PORT, lib/metrics.ts).
 */
export function installRuntime(options: { metricsBindAddress?: string } = {}): void {
  if (runtimeReady) return;
  runtimeReady = true;
  const level = (process.env.TEMPORAL_LOG_LEVEL?.toUpperCase() as LogLevel | undefined) ?? 'WARN';
  try {
    Runtime.install({
      logger: new SdkLogger(level),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} },
        ...(options.metricsBindAddress ? { metrics: { prometheus: { bindAddress: options.metricsBindAddress } } } : {}),
      },
      shutdownSignals: [],
    });
  } catch {
    // Already installed by the embedding process (tests): keep theirs.
  }
}

/**
 * Loaded once per worker thread and shared by every workflow it runs (the SDK's `preloadModules`, with its reusable V8
 * context): without it each new or replayed workflow evaluates them again (the intent table, the phone metadata, the
 * texts): 39 → 29 ms of worker CPU per message in a paired `bench/` run. Safe because `domain/` holds no per-workflow state and
 * imports nothing of ours (lint keeps it so); its two libraries are pure functions and data.
 * The workflow modules themselves (and through them the SDK's `@temporalio/workflow` index) and the failure converter
 * too: they keep nothing per workflow at module level (the activity proxies, signal and query definitions and search
 * attribute keys find the running workflow when called, not when made; the SDK freezes what is shared), and each cached
 * workflow held its own instance of all of them: 79 → 45 KB live per cached conversation on the workflow thread
 * (heap snapshots after the same chat with 110 and 210 conversations), and replaying the conversation histories takes
 * 12% less CPU (`node bench/replay-cpu.ts`, runs interleaved; bench/README.md).
 */
const DOMAIN_DIR = fileURLToPath(new URL('../domain/', import.meta.url));
export const PRELOADED_MODULES = [
  'libphonenumber-js',
  'dinero.js',
  ...readdirSync(DOMAIN_DIR).filter((f) => f.endsWith('.ts')).sort().map((f) => `${DOMAIN_DIR}${f}`),
  FAILURE_CONVERTER_PATH,
  WORKFLOWS_PATH,
];

/**
 * The tracing interceptors only in a traced worker's bundle: their module and OpenTelemetry's are evaluated again for
 * every new or replayed workflow (they cannot be preloaded: OpenTelemetry keeps its registrations in module state), about
 * a tenth of the workflow thread's time in `bench/`, for nothing when tracing is off. They issue no commands, so a
 * history replays the same under either bundle.
 */
export async function bundleWorkflows(options: { traced?: boolean } = {}): Promise<WorkflowBundleWithSourceMap> {
  const traced = options.traced ?? tracingOn();
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: traced ? [WORKFLOW_INTERCEPTORS_PATH] : [], preloadModules: PRELOADED_MODULES, failureConverterPath: FAILURE_CONVERTER_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never });
}

/**
 * The one worker of the `orders` task queue: order and conversation workflows plus every activity. Production loads
 * the bundle built at image build time; development and tests bundle from source.
 */
export async function createWorker(options: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  bundle?: { code: string } | { codePath: string };
  maxCachedWorkflows?: number;
  /** lib/data-converter.ts: the payload codec every client of the namespace shares. */
  dataConverter: DataConverter;
}): Promise<Worker> {
  installRuntime();
  const prebuilt = tracingOn() ? PREBUILT_TRACED_BUNDLE : PREBUILT_BUNDLE;
  const usePrebuilt = !options.bundle && process.env.NODE_ENV === 'production' && existsSync(prebuilt);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    dataConverter: options.dataConverter,
    interceptors: { activity: tracingActivityInterceptors(), client: tracingClientInterceptors() },
    sinks: tracingSinks(),
    ...(options.bundle
      ? { workflowBundle: options.bundle }
      : usePrebuilt
        ? { workflowBundle: { codePath: prebuilt } }
        : { workflowBundle: await bundleWorkflows() }),
    // One V8 context per workflow thread, reused by every workflow (each one's globals swapped in and out per
    // activation). The SDK default in 1.24 (`reuseV8Context ?? true`), set here because PRELOADED_MODULES only work with it and
    // the cache size below is sized for it: without it each workflow gets its own context (a few MB more each, a
    // context built per new or evicted workflow, and the SDK's default of two threads).
    reuseV8Context: true,
    // Sized, not derived: the SDK's default is (heap limit − 200 MB) × 600 per GB, about 2,400 on a 4 GB heap, while a
    // cached conversation measures 2–6 MB RSS here (bench/README.md), so 1000 cached is already 2–6 GB. An evicted
    // workflow costs a history fetch and a replay at its next task; a cached one costs memory only.
    maxCachedWorkflows: options.maxCachedWorkflows ?? 1000,
    shutdownGraceTime: '10s',
  });
}
