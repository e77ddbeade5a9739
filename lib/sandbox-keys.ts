import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from './config.ts';
import { parseCodecKeys } from './data-converter.ts';

/** The customer-ref key duka used before CUSTOMER_REF_SECRET was its own (the sandbox app secret): still recognised. */
const EARLIER_SANDBOX_REF_SECRET = 'sandbox-not-secret';

/** A secret kept in a file of the data folder: made once (`wx`: when the API and the worker race, the first one wins), then read. */
function keptInDataDir(dataDir: string, name: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, name);
  try {
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(file, 'utf8').trim();
}

/**
 * `PAYLOAD_CODEC_KEY` and `CUSTOMER_REF_SECRET` before a process connects to Temporal. In the sandbox (`npm start`)
 * each is generated once under the data folder when unset, so a restart decrypts yesterday's histories and recognises
 * yesterday's customers; with the sandbox off both are required (CONTRACT.md), and a missing one stops the process here.
 */
export function withSandboxKeys(config: Config): Config {
  const missing = [
    ...(config.payloadCodecKeys ? [] : ['PAYLOAD_CODEC_KEY']),
    ...(config.customerRefSecrets.length > 0 ? [] : ['CUSTOMER_REF_SECRET']),
  ];
  if (missing.length === 0) return config;
  if (!config.sandbox) throw new ConfigError(`invalid configuration:\n${missing.map((name) => `  ${name}: required when SANDBOX is off`).join('\n')}`);
  const payloadCodecKeys = config.payloadCodecKeys ?? parseCodecKeys(keptInDataDir(config.dataDir, 'payload-codec-key'));
  if (config.customerRefSecrets.length > 0) return { ...config, payloadCodecKeys };
  const refSecret = keptInDataDir(config.dataDir, 'customer-ref-secret');
  return { ...config, payloadCodecKeys, customerRefSecret: refSecret, customerRefSecrets: [refSecret, EARLIER_SANDBOX_REF_SECRET] };
}

/** The keys of a config that went through withSandboxKeys (or names them): what the data converter needs. */
export function codecKeysOf(config: Config) {
  if (!config.payloadCodecKeys) throw new ConfigError('invalid configuration:\n  PAYLOAD_CODEC_KEY: required when SANDBOX is off');
  return config.payloadCodecKeys;
}
