/**
 * A second duka on the same machine, or anything else holding its ports (issue 12 item 6): the process stops with one
 * line naming the port and the variable that moves it, never a stack trace or "undefined". The Temporal and Web UI
 * ports are checked in test/ops/temporal-dev-server.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startEmbeddedPostgres } from '../../db/embedded.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let holder: net.Server;
let busyPort: number;
let dataDir: string;

beforeAll(async () => {
  // On every address, as a second duka's API holds it.
  holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, () => resolve()));
  busyPort = (holder.address() as net.AddressInfo).port;
  dataDir = mkdtempSync(join(tmpdir(), 'duka-busy-'));
});
afterAll(async () => {
  await new Promise((resolve) => holder.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

/** A bin/ script as `npm run …` runs it; resolves with its exit code and what it printed to stderr. */
function bin(script: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`bin/${script}`], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', DUKA_DATA_DIR: dataDir, SANDBOX: 'on', ...env }, timeout: 90_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

function testDatabase(): string {
  const url = process.env.DUKA_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('no test database: run through npm run jest (global setup)');
  return url;
}

function temporalAddress(): string {
  const address = process.env.DUKA_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('no test Temporal: run through npm run jest (global setup)');
  return address;
}

const oneLine = (text: string) => text.trim().split('\n');

describe('a busy port', () => {
  it('embedded PostgreSQL: names the port and EMBEDDED_PG_PORT', async () => {
    await expect(startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port: busyPort, database: 'duka' })).rejects.toThrow(
      new RegExp(`^port ${busyPort} \\(embedded PostgreSQL\\) is in use: .*EMBEDDED_PG_PORT`),
    );
  });

  it('the API: one line naming the port and PORT', async () => {
    const { code, stderr } = await bin('api.ts', { PORT: String(busyPort), DATABASE_URL: testDatabase(), TEMPORAL_ADDRESS: temporalAddress() });
    expect(code).toBe(1);
    expect(oneLine(stderr)).toEqual([expect.stringMatching(new RegExp(`^duka: port ${busyPort} is in use: set PORT `))]);
  }, 100_000);

  it('the worker: one line naming the port and WORKER_METRICS_PORT', async () => {
    const { code, stderr } = await bin('worker.ts', { WORKER_METRICS_PORT: String(busyPort), DATABASE_URL: testDatabase(), TEMPORAL_ADDRESS: temporalAddress() });
    expect(code).toBe(1);
    expect(oneLine(stderr)).toEqual([expect.stringMatching(new RegExp(`^duka: port ${busyPort} is in use: set WORKER_METRICS_PORT `))]);
  }, 100_000);
});
