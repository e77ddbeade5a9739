import { readdirSync, readFileSync } from 'node:fs';
import { testDataConverter } from '../helpers/codec.ts';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { HISTORIES_DIR } from '../helpers/histories.ts';

/**
 * Orders and conversations already running must survive a deploy: today's workflow code replays every recorded
 * history without a non-determinism error. Re-record (DUKA_RECORD_HISTORIES=1) only when a release deliberately
 * versions the workflows (patched()).
 */
describe('replay of recorded histories', () => {
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.history.bin')).sort();

  it('has recorded histories of orders and conversations to replay', () => {
    expect(files.some((f) => f.includes('--orderWorkflow--'))).toBe(true);
    expect(files.some((f) => f.includes('--conversationWorkflow--'))).toBe(true);
  });

  it('replays every one with the current workflow code', async () => {
    const histories = files.map((f) => ({ workflowId: f, history: temporal.api.history.v1.History.decode(readFileSync(join(HISTORIES_DIR, f))) }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: process.env.DUKA_TEST_WORKFLOW_BUNDLE! }, replayName: 'duka', dataConverter: testDataConverter() }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    // A bound, not a timing: the corpus only grows (380 histories take about two minutes on a busy 2-core machine).
  }, 900_000);
});
