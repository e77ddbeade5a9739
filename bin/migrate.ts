import { loadConfig } from '../lib/config.ts';
import { defaultDatabaseUrl } from '../lib/processes.ts';
import { openOrm, migrate } from '../db/orm.ts';
import { failAndExit } from '../lib/cli.ts';
import { logger } from '../lib/logger.ts';

try {
  const config = loadConfig();
  const orm = await openOrm(config.databaseUrl ?? defaultDatabaseUrl(config), { poolMax: 2 });
  // Migrations only (CONTRACT.md): no shop is created here. The demo shops come from `npm start` or `npm run seed:demo`.
  const applied = await migrate(orm);
  logger.info({ applied }, 'migrations applied');
  await orm.close();
} catch (err) {
  failAndExit(err);
}
