/**
 * Production mode (CONTRACT.md): `npm run migrate` creates no shop, `npm run seed:demo` does, and with SANDBOX off a
 * process refuses to start while a shop offers a method whose secret is missing or a sandbox value, naming the variable.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openOrm, type MikroORM } from '../../db/orm.ts';
import { loadConfig, productionProblems, type ShopToServe } from '../../lib/config.ts';
import { isolatedEnv, productionEnv } from '../helpers/process-env.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

function adminUrl(): string {
  const url = process.env.DUKA_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('no test database: run through `npm test`');
  return url;
}

const name = `duka_prod_${randomBytes(4).toString('hex')}`;
let url: string;
let orm: MikroORM;

/** A bin/ script as `npm run …` runs it, with only this environment (no inherited secrets). */
async function bin(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [`bin/${script}`], { cwd: ROOT, env: isolatedEnv(env), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

beforeAll(async () => {
  const admin = await openOrm(adminUrl(), { poolMax: 1 });
  await admin.em.getConnection().execute(`create database "${name}"`);
  await admin.close();
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  url = u.toString();
});

afterAll(async () => {
  await orm?.close(true);
  const admin = await openOrm(adminUrl(), { poolMax: 1 });
  await admin.em.getConnection().execute(`drop database if exists "${name}" with (force)`);
  await admin.close();
});

/** Unreachable Temporal and port: the processes under test must stop before they need either. */
const PRODUCTION = { ...productionEnv(), TEMPORAL_ADDRESS: '127.0.0.1:1', PORT: '1' };

describe('production mode', () => {
  it('npm run migrate leaves a fresh database with no shop; npm run seed:demo adds the demo shops', async () => {
    const migrated = await bin('migrate.ts', { DATABASE_URL: url, ...PRODUCTION });
    expect(migrated).toMatchObject({ code: 0 });
    orm = await openOrm(url, { poolMax: 2 });
    const count = async () => (await orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from shop'))[0]!.n;
    expect(await count()).toBe(0);
    const seeded = await bin('seed-demo.ts', { DATABASE_URL: url });
    expect(seeded.code).toBe(0);
    expect(await count()).toBe(3);
  });

  it('npm run api with SANDBOX off and a shop offering EcoCash but no Paynow key stops, naming the variable', async () => {
    const started = await bin('api.ts', { DATABASE_URL: url, ...PRODUCTION, MPESA_CONSUMER_KEY: 'k', MPESA_CONSUMER_SECRET: 's', MPESA_SHORTCODE: '600999', MPESA_PASSKEY: 'p', OMARI_MERCHANT_KEY: 'o', RAZORPAY_KEY_ID: 'rzp_live_x', RAZORPAY_KEY_SECRET: 'r', RAZORPAY_WEBHOOK_SECRET: 'w', PAYNOW_INTEGRATION_ID: '4242' });
    expect(started.code).toBe(1);
    expect(started.stderr).toContain('PAYNOW_INTEGRATION_KEY');
    expect(started.stderr).toContain('shop harare offers ecocash');
    // Only the missing one is named (the others are set); no stack trace.
    expect(started.stderr).not.toMatch(/MPESA_|RAZORPAY_|OMARI_|PAYNOW_INTEGRATION_ID/);
    expect(started.stderr).not.toMatch(/\n\s+at /);
  });

  it('the check: sandbox values count as missing, a shop\'s own credentials replace the environment\'s', () => {
    const config = loadConfig({ ...PRODUCTION, PAYNOW_INTEGRATION_KEY: 'sandbox-not-secret' });
    const harare: ShopToServe = { id: 'harare', paymentMethods: ['ecocash', 'cash'], providerSettings: {} };
    expect(productionProblems(config, [harare]).join('\n')).toMatch(/^PAYNOW_INTEGRATION_ID: .*\nPAYNOW_INTEGRATION_KEY: .*shop harare offers ecocash/);
    const own: ShopToServe = { ...harare, providerSettings: { paynow: { integrationId: '77', integrationKey: 'their-own' } } };
    expect(productionProblems(config, [own])).toEqual([]);
    expect(productionProblems(loadConfig({ ...PRODUCTION, CREDENTIALS_KEY: '' }), [])).toEqual([expect.stringMatching(/^CREDENTIALS_KEY/)]);
    expect(productionProblems(loadConfig({ SANDBOX: 'on' }), [harare])).toEqual([]);
    // With the sandbox off, base URLs are the real providers'.
    expect(config.paynow.baseUrl).toBe('https://www.paynow.co.zw');
    expect(config.mpesa.baseUrl).toBe('https://api.safaricom.co.ke');
    expect(config.razorpay.baseUrl).toBe('https://api.razorpay.com');
  });
});
