import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { openOrm, migrate } from '../../db/orm.ts';
import { seedDemoShops } from '../../db/seed.ts';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, migrated and seeded database for one test file, on the run's real PostgreSQL. */
export async function createTestDatabase(label = 'test'): Promise<{ url: string; orm: MikroORM; drop(): Promise<void> }> {
  const adminUrl = process.env.DUKA_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('no test database: run through `npm test` (global setup starts one) or set DATABASE_URL');
  const name = `duka_${label.replace(/\W/g, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = await openOrm(adminUrl, { poolMax: 1 });
  await admin.em.getConnection().execute(`create database "${name}"`);
  await admin.close();
  const url = withDatabase(adminUrl, name);
  const orm = await openOrm(url, { poolMax: 5 });
  await migrate(orm);
  await seedDemoShops(orm.em.fork());
  // Test files share one Temporal namespace: give each database its own order numbers so `order:<n>` never collides.
  await orm.em.getConnection().execute('update shop set next_order_number = ?', [10_000 + Math.floor(Math.random() * 89_000) * 10]);
  return {
    url,
    orm,
    async drop() {
      await orm.close(true);
      const a = await openOrm(adminUrl, { poolMax: 1 });
      await a.em.getConnection().execute(`drop database if exists "${name}" with (force)`);
      await a.close();
    },
  };
}
