import { loadConfig } from '../lib/config.ts';
import { defaultDatabaseUrl, defaultTemporalAddress, onShutdown, runApi } from '../lib/processes.ts';
import { failAndExit } from '../lib/cli.ts';

process.env.DUKA_PROCESS ??= 'api';
try {
  const config = loadConfig();
  const api = await runApi(config, {
    databaseUrl: config.databaseUrl ?? defaultDatabaseUrl(config),
    temporalAddress: config.temporal.address ?? defaultTemporalAddress(config),
  });
  onShutdown(() => api.stop());
} catch (err) {
  failAndExit(err);
}
