import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NativeConnection} from '@temporalio/worker';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { ActivityDeps } from '../activities/deps.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
export const PREBUILT_BUNDLE = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));

let runtimeReady = false;
/** Quiet SDK logs (warnings and up) and no signal handlers of its own: duka's processes decide when to stop. */
export function installRuntime(): void {
  if (runtimeReady) return;
  runtimeReady = true;
  try {
    Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN'), shutdownSignals: [] });
  } catch {
    // Already installed by the embedding process (tests): keep theirs.
  }
}

export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never });
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
}): Promise<Worker> {
  installRuntime();
  const usePrebuilt = !options.bundle && process.env.NODE_ENV === 'production' && existsSync(PREBUILT_BUNDLE);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(options.bundle
      ? { workflowBundle: options.bundle }
      : usePrebuilt
        ? { workflowBundle: { codePath: PREBUILT_BUNDLE } }
        : { workflowBundle: await bundleWorkflows() }),
    // Each cached workflow costs 1–2 MB; the default (derived from memory) is far above what a 2-core box needs.
    maxCachedWorkflows: options.maxCachedWorkflows ?? 1000,
    shutdownGraceTime: '10s',
  });
}
