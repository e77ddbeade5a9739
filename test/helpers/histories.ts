import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = new URL('../replay/histories/', import.meta.url).pathname;

/**
 * Saves the history of every closed-or-open workflow a test ran on its task queue, for the replay suite. Runs only
 * when DUKA_RECORD_HISTORIES is set (e.g. `DUKA_RECORD_HISTORIES=1 npm run jest -- test/journeys`), so recording is a
 * deliberate act after a release, never a side effect of an ordinary test run.
 */
export async function recordHistories(client: Client, taskQueue: string, label: string): Promise<number> {
  if (!process.env.DUKA_RECORD_HISTORIES) return 0;
  mkdirSync(HISTORIES_DIR, { recursive: true });
  let n = 0;
  for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const name = `${label}--${wf.type}--${wf.workflowId.replace(/[^\w-]+/g, '_')}--${wf.runId.slice(0, 8)}`.slice(0, 180);
    // Protobuf binary: the JSON codec trips over the two protobufjs copies Jest's ESM loader can end up with.
    writeFileSync(join(HISTORIES_DIR, `${name}.history.bin`), temporal.api.history.v1.History.encode(history).finish());
    n += 1;
  }
  return n;
}

/** Saves one workflow's history (for servers with no list call, such as the time-skipping one); same rule as above. */
export async function recordHistory(handle: WorkflowHandle, label: string): Promise<boolean> {
  if (!process.env.DUKA_RECORD_HISTORIES) return false;
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const history = await handle.fetchHistory();
  const first = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const type = first?.workflowType?.name ?? 'workflow';
  const runId = first?.originalExecutionRunId ?? '';
  const name = `${label}--${type}--${handle.workflowId.replace(/[^\w-]+/g, '_')}--${runId.slice(0, 8)}`.slice(0, 180);
  writeFileSync(join(HISTORIES_DIR, `${name}.history.bin`), temporal.api.history.v1.History.encode(history).finish());
  return true;
}
