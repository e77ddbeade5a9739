import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
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
