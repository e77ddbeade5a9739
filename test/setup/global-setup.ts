import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { startDevServer } from '../../lib/temporal-binaries.ts';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';
import { startEmbeddedPostgres } from '../../db/embedded.ts';
import { bundleWorkflows } from '../../workers/worker.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One real Temporal dev server and one real PostgreSQL for the whole run (each test file gets its own database and
 * task queue), and the workflow bundle built once.
 */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'duka-test-'));
  chmodSync(dir, 0o755);
  const stops: (() => Promise<void>)[] = [];

  // The sandbox chat and dashboard pages, built before any test worker starts, so that test files running in parallel
  // never build them twice or serve a dist/ another is rebuilding.
  const build = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'build-sandbox.mjs')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build-sandbox failed: ${build.stderr || build.stdout}`);

  const [port, uiPort] = [await freePort(), await freePort()];
  const temporal = await startDevServer({ port, uiPort, namespace: 'default', searchAttributes: SEARCH_ATTRIBUTES, logLevel: 'error' });
  stops.push(() => temporal.stop());
  process.env.DUKA_TEST_TEMPORAL_ADDRESS = temporal.address;

  if (process.env.DATABASE_URL) {
    process.env.DUKA_TEST_DATABASE_URL = process.env.DATABASE_URL;
  } else {
    const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), database: 'duka' });
    stops.push(() => pg.stop());
    process.env.DUKA_TEST_DATABASE_URL = pg.url;
  }

  // As production: the bundle without the tracing interceptors, and the traced one for a test that traces.
  for (const [name, traced, variable] of [['workflow-bundle.js', false, 'DUKA_TEST_WORKFLOW_BUNDLE'], ['workflow-bundle-traced.js', true, 'DUKA_TEST_WORKFLOW_BUNDLE_TRACED']] as const) {
    const bundlePath = join(dir, name);
    writeFileSync(bundlePath, (await bundleWorkflows({ traced })).code);
    process.env[variable] = bundlePath;
  }
  process.env.NODE_ENV = 'test';

  (globalThis as { __dukaStops?: typeof stops }).__dukaStops = stops;
}
