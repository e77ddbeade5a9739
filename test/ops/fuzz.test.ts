/**
 * `npm run fuzz` at a small count (CONTRACT.md): the API as `npm run api` runs it, under seeded hostile requests on
 * every inbound route, against the run's PostgreSQL and Temporal. Every figure must be 0, the API's memory bounded,
 * and the positive controls accepted (so the requests are seen to reach the real handlers, not a wall of 404s).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

interface FuzzResult {
  sent: number;
  byKind: { forged: number; hostile: number; control: number };
  acceptedForgeries: number;
  serverErrors: number;
  connectionResets: number;
  apiExits: number;
  workflowsStartedByForgedInput: number;
  controlsAccepted: number;
  controlsFailed: number;
  rssBounded: boolean;
  batchOf1000Ms: number;
  batchNotHandedOff: number;
  passed: boolean;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through npm run jest (global setup)`);
  return value;
}

describe('npm run fuzz', () => {
  it('500 hostile requests: no accepted forgery, no 5xx, no reset, no crash, no workflow from forged input, controls accepted', async () => {
    const args = ['bench/fuzz.ts', '--count', '500', '--seed', '20261203', '--database-url', required('DUKA_TEST_DATABASE_URL'), '--temporal-address', required('DUKA_TEST_TEMPORAL_ADDRESS'), '--no-worker'];
    let stdout: string;
    try {
      ({ stdout } = await run(process.execPath, args, { cwd: ROOT, env: { ...process.env, DUKA_FUZZ_RESULT: '1' }, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: unknown };
      throw new Error(`fuzz exited ${String(e.code)}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
    }
    const line = stdout.split('\n').find((l) => l.startsWith('DUKA_FUZZ_RESULT '));
    if (!line) throw new Error(`no result line in:\n${stdout}`);
    const result = JSON.parse(line.slice('DUKA_FUZZ_RESULT '.length)) as FuzzResult;

    expect(result.sent).toBeGreaterThanOrEqual(500);
    expect(result.byKind.forged).toBeGreaterThan(200);
    expect(result.byKind.hostile).toBeGreaterThan(200);
    expect({
      acceptedForgeries: result.acceptedForgeries,
      serverErrors: result.serverErrors,
      connectionResets: result.connectionResets,
      apiExits: result.apiExits,
      workflowsStartedByForgedInput: result.workflowsStartedByForgedInput,
      controlsFailed: result.controlsFailed,
    }).toEqual({ acceptedForgeries: 0, serverErrors: 0, connectionResets: 0, apiExits: 0, workflowsStartedByForgedInput: 0, controlsFailed: 0 });
    expect(result.controlsAccepted).toBeGreaterThan(20);
    expect(result.rssBounded).toBe(true);
    // A signed webhook of 1,000 messages: answered well inside Meta's timeout, and every message reaches Temporal.
    expect(result.batchOf1000Ms).toBeLessThan(20_000);
    expect(result.batchNotHandedOff).toBe(0);
    expect(result.passed).toBe(true);
  }, 300_000);
});
