import { loadConfig } from '../lib/config.ts';
import { defaultDatabaseUrl } from '../lib/processes.ts';
import { openOrm, migrate } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { failAndExit } from '../lib/cli.ts';
import { logger } from '../lib/logger.ts';

/** `npm run seed:demo`: the three demo shops of CONTRACT.md (idempotent), after the migrations they need. */
try {
  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl ?? defaultDatabaseUrl(config), { poolMax: 2 });
  await migrate(orm);
  await seedDemoShops(orm.em.fork());
  logger.info('demo shops seeded');
  console.log('duka: demo shops seeded (nairobi, harare, pune)');
  await orm.close();
} catch (err) {
  failAndExit(err);
}
