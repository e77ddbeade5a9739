import { loadConfig } from '../lib/config.ts';
import { defaultDatabaseUrl } from '../lib/processes.ts';
import { openOrm, migrate } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { failAndExit } from '../lib/cli.ts';
import { logger } from '../lib/logger.ts';

try {
  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl ?? defaultDatabaseUrl(), { poolMax: 2 });
  const applied = await migrate(orm);
  await seedDemoShops(orm.em.fork());
  logger.info({ applied }, 'migrations applied, demo shops seeded');
  await orm.close();
} catch (err) {
  failAndExit(err);
}
