import { ConfigError } from './config.ts';

/** A clear line for the person at the terminal, not a stack trace, for the failures they can fix. */
export function failAndExit(err: unknown): never {
  if (err instanceof ConfigError) console.error(`duka: ${err.message}`);
  else if (err instanceof Error && /is in use|not found|cannot|ECONNREFUSED|no such/i.test(err.message)) console.error(`duka: ${err.message}`);
  else console.error(err);
  process.exit(1);
}
