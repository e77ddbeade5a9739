import { loadConfig } from '../lib/config.ts';
import { defaultDatabaseUrl, defaultTemporalAddress, onShutdown, runWorker } from '../lib/processes.ts';
import { failAndExit } from '../lib/cli.ts';

process.env.DUKA_PROCESS ??= 'worker';
try {
  const config = loadConfig();
  const worker = await runWorker(config, {
    databaseUrl: config.databaseUrl ?? defaultDatabaseUrl(config),
    temporalAddress: config.temporal.address ?? defaultTemporalAddress(config),
  });
  onShutdown(() => worker.stop());
} catch (err) {
  failAndExit(err);
}
