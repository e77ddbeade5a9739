import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { loadConfig } from '../lib/config.ts';
import { startEmbeddedPostgres } from '../db/embedded.ts';
import { openOrm, migrate } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { startDevServer } from '../lib/temporal-binaries.ts';
import { registerSearchAttributes } from '../lib/temporal-admin.ts';
import { SEARCH_ATTRIBUTES } from '../lib/search-attributes.ts';
import { onShutdown, runApi, runWorker } from '../lib/processes.ts';
import { failAndExit } from '../lib/cli.ts';
import { logger } from '../lib/logger.ts';

/**
 * `npm start`: a whole shop on this machine. PostgreSQL and Temporal come up under .data/ unless the environment
 * names them; restarting finds every order again because both keep their data there.
 */
if (!process.env.LOG_LEVEL) logger.level = 'warn';
const stops: (() => Promise<void>)[] = [];
const stopAll = async () => {
  for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error('duka: while stopping:', err));
};
onShutdown(stopAll);

try {
  const started = Date.now();
  const dataDir = resolve(process.env.DUKA_DATA_DIR ?? '.data');
  mkdirSync(dataDir, { recursive: true });
  chmodSync(dataDir, 0o755);

  // An admin token that survives restarts, so the dashboard link printed yesterday still works.
  const tokenFile = join(dataDir, 'admin-token');
  if (!process.env.ADMIN_TOKEN) {
    if (!existsSync(tokenFile)) writeFileSync(tokenFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
    process.env.ADMIN_TOKEN = readFileSync(tokenFile, 'utf8').trim();
  }
  const config = loadConfig();

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    console.log(`duka: starting PostgreSQL (embedded, ${join(dataDir, 'postgres')})…`);
    const pg = await startEmbeddedPostgres({ dataDir, port: config.localPorts.postgres, database: 'duka' });
    stops.push(() => pg.stop());
    databaseUrl = pg.url;
  }

  let temporalAddress = config.temporal.address;
  let temporalUi = config.temporal.uiUrl;
  if (!temporalAddress) {
    console.log(`duka: starting Temporal (dev server, ${join(dataDir, 'temporal.db')})…`);
    const server = await startDevServer({
      port: config.localPorts.temporal,
      uiPort: config.temporal.uiPort,
      // The UI decodes payloads with duka's codec endpoint (lib/codec-server.ts), open only in the sandbox.
      ...(config.sandbox ? { uiCodecEndpoint: `http://localhost:${config.port}/codec` } : {}),
      dbFile: join(dataDir, 'temporal.db'),
      namespace: config.temporal.namespace,
      searchAttributes: SEARCH_ATTRIBUTES,
    });
    stops.push(() => server.stop());
    temporalAddress = server.address;
    temporalUi = server.uiUrl.replace('127.0.0.1', 'localhost');
  } else {
    await registerSearchAttributes(temporalAddress, config.temporal.namespace);
  }

  const orm = await openOrm(databaseUrl);
  stops.push(() => orm.close());
  await migrate(orm);
  await seedDemoShops(orm.em.fork());

  const worker = await runWorker(config, { databaseUrl, temporalAddress, orm });
  stops.push(() => worker.stop());
  const api = await runApi(config, { databaseUrl, temporalAddress, orm });
  stops.push(() => api.stop());

  const base = config.publicBaseUrl;
  console.log(`
duka is ready in ${((Date.now() - started) / 1000).toFixed(1)} s

  Sandbox chat     ${config.sandbox ? `${base}/sandbox` : '(off: real WhatsApp credentials are set)'}
  Admin dashboard  ${base}/admin   (token: ${config.adminToken})
  Temporal UI      ${temporalUi}/namespaces/${config.temporal.namespace}/workflows
  API              ${base}   (GET /ready)

Ctrl-C stops everything; your orders stay in ${config.databaseUrl ? 'your database' : dataDir}.
`);
} catch (err) {
  await stopAll();
  failAndExit(err);
}
