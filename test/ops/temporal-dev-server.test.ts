/**
 * The real Temporal dev server through lib/temporal-binaries.ts: start on disk, search attributes, the busy-port
 * errors, restart over an existing database, stop without leftovers, and the compose setup script run against it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Connection } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';
import { resolveTemporalCli, startDevServer, type DevServer } from '../../lib/temporal-binaries.ts';
import { registerSearchAttributes } from '../../lib/temporal-admin.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NAMESPACE = 'duka-ops-test';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function customAttributes(address: string, namespace: string): Promise<Record<string, number>> {
  const connection = await Connection.connect({ address });
  try {
    return (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } finally {
    await connection.close();
  }
}

describe('Temporal dev server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'duka-devserver-'));
  const dbFile = join(dir, 'nested', 'temporal.db');
  let port: number;
  let uiPort: number;
  let server: DevServer;

  beforeAll(async () => {
    port = await freePort();
    uiPort = await freePort();
    server = await startDevServer({ port, uiPort, dbFile, namespace: NAMESPACE, searchAttributes: SEARCH_ATTRIBUTES });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves gRPC and the Web UI, with every CONTRACT search attribute', async () => {
    expect(server.address).toBe(`127.0.0.1:${port}`);
    expect(server.uiUrl).toBe(`http://localhost:${uiPort}`);
    const attributes = await customAttributes(server.address, NAMESPACE);
    // IndexedValueType: Keyword 2, Double 4, Datetime 6.
    const expected = Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, kind]) => [name, { Keyword: 2, Double: 4, Datetime: 6 }[kind]]),
    );
    expect(attributes).toMatchObject(expected);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
  });

  it('reports a busy port clearly', async () => {
    await expect(startDevServer({ port, uiPort: await freePort(), namespace: 'default', searchAttributes: {} })).rejects.toThrow(
      `port ${port} (Temporal) is in use: another duka or Temporal server? set TEMPORAL_PORT to start duka's on another port, TEMPORAL_ADDRESS to use the one running there, or free it`,
    );
    await expect(startDevServer({ port: await freePort(), uiPort, namespace: 'default', searchAttributes: {} })).rejects.toThrow(
      `port ${uiPort} (Temporal Web UI) is in use`,
    );
  });

  it('registers search attributes idempotently and refuses a type clash', async () => {
    const again = await registerSearchAttributes(server.address, NAMESPACE);
    expect(again.added).toEqual([]);
    expect(again.existing.sort()).toEqual(Object.keys(SEARCH_ATTRIBUTES).sort());
    await expect(registerSearchAttributes(server.address, NAMESPACE, { ShopId: 'Double' })).rejects.toThrow(
      'ShopId is Keyword, duka needs Double',
    );
  });

  it('runs the compose setup script (ops/temporal/setup.sh) against a running server', async () => {
    const env = {
      ...process.env,
      PATH: `${dirname(resolveTemporalCli())}${delimiter}${process.env.PATH ?? ''}`,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      DUKA_SEARCH_ATTRIBUTES: Object.entries(SEARCH_ATTRIBUTES).map(([n, t]) => `${n}=${t}`).join(' '),
    };
    const { stdout } = await promisify(execFile)('sh', [join(ROOT, 'ops/temporal/setup.sh')], { env, timeout: 60_000 });
    expect(stdout).toContain('temporal-setup: done');
    expect(Object.keys(await customAttributes(server.address, 'default'))).toEqual(
      expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTES)),
    );
  });

  it('keeps state across a restart on the same file, adds new attributes, and leaves no process behind', async () => {
    const first = server;
    await first.stop();
    await first.stop(); // idempotent
    expect(isRunning(first.pid)).toBe(false);

    const controller = new AbortController();
    server = await startDevServer({
      port,
      uiPort,
      dbFile,
      namespace: NAMESPACE,
      searchAttributes: { ...SEARCH_ATTRIBUTES, DukaOpsTestExtra: 'Keyword' },
      signal: controller.signal,
    });
    const attributes = await customAttributes(server.address, NAMESPACE);
    expect(Object.keys(attributes)).toEqual(expect.arrayContaining([...Object.keys(SEARCH_ATTRIBUTES), 'DukaOpsTestExtra']));

    const pid = server.pid;
    controller.abort();
    await server.stop();
    expect(isRunning(pid)).toBe(false);
  });
});

describe('resolveTemporalCli', () => {
  it('finds the CLI installed by npm install', () => {
    expect(resolveTemporalCli()).toMatch(/temporal(\.exe)?$/);
  });

  it('says what is wrong with TEMPORAL_CLI_PATH', () => {
    const saved = process.env.TEMPORAL_CLI_PATH;
    process.env.TEMPORAL_CLI_PATH = join(tmpdir(), 'no-such-temporal');
    try {
      expect(() => resolveTemporalCli()).toThrow(/TEMPORAL_CLI_PATH=.*no-such-temporal is not an executable file/);
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_CLI_PATH;
      else process.env.TEMPORAL_CLI_PATH = saved;
    }
  });
});
