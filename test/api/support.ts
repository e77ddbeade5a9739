import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import type { Express } from 'express';
import { loadConfig, type Config } from '../../lib/config.ts';
import { migrate, openOrm, type MikroORM } from '../../db/orm.ts';
import { seedDemoShops } from '../../db/seed.ts';
import { PaymentProviders } from '../../providers/payments/registry.ts';
import { createApp, type AppDeps } from '../../api/app.ts';

/**
 * Shared by the API tests: a fresh PostgreSQL database per test file (migrated and seeded with the demo shops) on the
 * run's server (jest's global setup: DATABASE_URL if set, else an embedded PostgreSQL), a fake Temporal client that
 * records what the HTTP layer asked of it, and a real server on port 0.
 */
function baseDatabaseUrl(): string {
  const url = process.env.DUKA_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('no test database: run through `npm test` (global setup starts one) or set DATABASE_URL');
  return url;
}

export const ADMIN_TOKEN = 'admin-token-for-api-tests-0001';
export const APP_SECRET = 'whatsapp-app-secret-for-tests';
export const VERIFY_TOKEN = 'verify-token-for-tests';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    SANDBOX: 'on',
    ADMIN_TOKEN,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    CUSTOMER_REF_SECRET: 'customer-ref-secret-for-tests',
    PAYNOW_INTEGRATION_KEY: 'paynow-key-for-tests',
    RAZORPAY_WEBHOOK_SECRET: 'razorpay-secret-for-tests',
    TEMPORAL_UI_URL: 'http://temporal-ui.test:8233',
    ...overrides,
  });
}

export interface TestDatabase {
  url: string;
  orm: MikroORM;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `duka_api_${randomBytes(6).toString('hex')}`;
  const base = baseDatabaseUrl();
  const admin = await openOrm(base, { poolMax: 1 });
  try {
    await admin.em.getConnection().execute(`create database ${name}`);
  } finally {
    await admin.close(true);
  }
  const url = withDatabase(base, name);
  const orm = await openOrm(url, { poolMax: 5 });
  await migrate(orm);
  await seedDemoShops(orm.em.fork());
  return {
    url,
    orm,
    async drop() {
      await orm.close(true);
      const again = await openOrm(base, { poolMax: 1 });
      try {
        await again.em.getConnection().execute(`drop database if exists ${name} with (force)`);
      } finally {
        await again.close(true);
      }
    },
  };
}

export async function sql<T = Record<string, unknown>>(orm: MikroORM, query: string, params: unknown[] = []): Promise<T[]> {
  return orm.em.getConnection().execute<T[]>(query, params);
}

// ---- fake Temporal ------------------------------------------------------------------------------------------------

type Def = string | { name: string };
const nameOf = (def: Def) => (typeof def === 'string' ? def : def.name);

export interface SignalWithStartCall {
  workflowType: string;
  options: Record<string, unknown> & { workflowId: string; signal: Def; signalArgs: unknown[] };
}
export interface HandleCall {
  workflowId: string;
  name: string;
  args: unknown[];
  options?: Record<string, unknown>;
}

export interface FakeTemporal {
  client: Client;
  signalWithStarts: SignalWithStartCall[];
  signals: HandleCall[];
  queries: HandleCall[];
  updates: HandleCall[];
  /** Replace to make a call fail or answer something; reset() restores the defaults. */
  on: {
    signalWithStart: (call: SignalWithStartCall) => Promise<void>;
    signal: (call: HandleCall) => Promise<void>;
    query: (call: HandleCall) => Promise<unknown>;
    update: (call: HandleCall) => Promise<unknown>;
    systemInfo: () => Promise<unknown>;
  };
  reset(): void;
  readonly callCount: number;
}

export function fakeTemporal(): FakeTemporal {
  const defaults = (): FakeTemporal['on'] => ({
    signalWithStart: async () => {},
    signal: async () => {},
    query: async () => null,
    update: async () => ({}),
    systemInfo: async () => ({ serverVersion: 'fake' }),
  });
  const fake: FakeTemporal = {
    client: undefined as unknown as Client,
    signalWithStarts: [],
    signals: [],
    queries: [],
    updates: [],
    on: defaults(),
    reset() {
      fake.signalWithStarts.length = 0;
      fake.signals.length = 0;
      fake.queries.length = 0;
      fake.updates.length = 0;
      fake.on = defaults();
    },
    get callCount() {
      return fake.signalWithStarts.length + fake.signals.length + fake.queries.length + fake.updates.length;
    },
  };
  const handle = (workflowId: string) => ({
    workflowId,
    async signal(def: Def, ...args: unknown[]) {
      const call = { workflowId, name: nameOf(def), args };
      fake.signals.push(call);
      await fake.on.signal(call);
    },
    async query(def: Def, ...args: unknown[]) {
      const call = { workflowId, name: nameOf(def), args };
      fake.queries.push(call);
      return fake.on.query(call);
    },
    async executeUpdate(def: Def, options: { args?: unknown[] } & Record<string, unknown> = {}) {
      const call = { workflowId, name: nameOf(def), args: options.args ?? [], options };
      fake.updates.push(call);
      return fake.on.update(call);
    },
  });
  fake.client = {
    workflow: {
      async signalWithStart(workflowType: string, options: SignalWithStartCall['options']) {
        const call = { workflowType, options };
        fake.signalWithStarts.push(call);
        await fake.on.signalWithStart(call);
        return { ...handle(options.workflowId), signaledRunId: 'run-1' };
      },
      getHandle: handle,
    },
    workflowService: { getSystemInfo: () => fake.on.systemInfo() },
  } as unknown as Client;
  return fake;
}

// ---- server -------------------------------------------------------------------------------------------------------

export interface TestServer {
  url: string;
  app: Express;
  close(): Promise<void>;
}

export async function startServer(app: Express): Promise<TestServer> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    close: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export interface ApiHarness {
  db: TestDatabase;
  temporal: FakeTemporal;
  config: Config;
  server: TestServer;
  url: string;
  close(): Promise<void>;
}

export async function startApi(options: { config?: Config; deps?: Partial<AppDeps> } = {}): Promise<ApiHarness> {
  const db = await createTestDatabase();
  const temporal = fakeTemporal();
  const config = options.config ?? testConfig();
  const app = createApp({ config, orm: db.orm, temporal: temporal.client, payments: new PaymentProviders(config), ...options.deps });
  const server = await startServer(app);
  return {
    db,
    temporal,
    config,
    server,
    url: server.url,
    async close() {
      await server.close();
      await db.drop();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** Asserts the CONTRACT.md error shape and returns the code. */
export async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not an error body: ${JSON.stringify(body)}`);
  }
  return body.error.code;
}
