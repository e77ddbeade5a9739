import { randomBytes } from 'node:crypto';

/**
 * The environment of a duka process (bin/api.ts, bin/worker.ts, bin/migrate.ts …) started by a test or a bench tool,
 * so each builds it the same way: the secrets that `npm start` would otherwise generate under `.data/`, every value
 * named after its user and none a sandbox value, fresh keys for each call.
 */
export function processSecrets(label: string) {
  return {
    ADMIN_TOKEN: `${label}-admin-${randomBytes(12).toString('hex')}`,
    WHATSAPP_APP_SECRET: `${label}-app-secret`,
    WHATSAPP_VERIFY_TOKEN: `${label}-verify-token`,
    CUSTOMER_REF_SECRET: `${label}-customer-ref-secret`,
    CREDENTIALS_KEY: randomBytes(32).toString('hex'),
    PAYLOAD_CODEC_KEY: randomBytes(32).toString('hex'),
  };
}

/**
 * A production process (SANDBOX off, a real-looking WhatsApp token, every secret above) and nothing of any payment
 * provider: the start-up check then names each provider variable a shop's method still needs.
 */
export function productionEnv(label = 'real') {
  return { SANDBOX: 'false', WHATSAPP_ACCESS_TOKEN: `${label}-token`, ...processSecrets(label) };
}

/** Only `env` and what a child process needs to run (PATH, quiet logs): nothing inherited from the caller's secrets. */
export function isolatedEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env };
}
