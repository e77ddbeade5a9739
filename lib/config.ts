import { z } from 'zod';
import { PROVIDER_OF, type PaymentMethod, type ProviderId } from '../domain/payment-methods.ts';
import type { ShopProviderSettings } from '../db/entities.ts';
import { parseCodecKeys, type CodecKey } from './data-converter.ts';
import { GHALA_SIGNATURE_SCHEMES, type GhalaSignatureScheme } from '../providers/payments/ghala-signature.ts';

/**
 * Every setting duka reads, validated once. CONTRACT.md lists the outside names; defaults point at the sandbox so
 * that `npm start` works with nothing configured, and real credentials switch the sandbox off.
 */
const SANDBOX_SECRET = 'sandbox-not-secret';

const PRODUCTION_URLS = {
  graph: 'https://graph.facebook.com',
  mpesa: 'https://api.safaricom.co.ke',
  paynow: 'https://www.paynow.co.zw',
  omari: 'https://omari.v.co.zw/vsuite/omari/api/merchant/api/payment',
  razorpay: 'https://api.razorpay.com',
  // Seen in third-party integrations only (protocols.md §8): Ghala publishes no API reference.
  ghala: 'https://api.ghala.io',
} as const;

const optionalUrl = z.url({ protocol: /^https?$/ }).optional();
const port = z.coerce.number().int().min(1).max(65535);

const EnvSchema = z.object({
  PORT: port.default(3000),
  PUBLIC_BASE_URL: optionalUrl,
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  TEMPORAL_ADDRESS: z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port').optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('orders'),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_UI_URL: optionalUrl,
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CREDENTIALS_KEY: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 32 bytes as 64 hex characters').optional(),
  SANDBOX: z.enum(['on', 'off', 'true', 'false', '1', '0']).optional(),
  CUSTOMER_REF_SECRET: z.string().regex(/^[^,]{16,}(,[^,]{16,})*$/, 'must be at least 16 characters (comma-separated to rotate: new,old)').optional(),
  PAYLOAD_CODEC_KEY: z.string().regex(/^[0-9a-fA-F]{64}(,[0-9a-fA-F]{64})*$/, 'must be 32-byte keys as 64 hex characters, comma-separated (the first encrypts)').optional(),
  EMBEDDED_PG_PORT: port.default(54329),
  TEMPORAL_PORT: port.default(7233),
  WORKER_METRICS_PORT: port.default(9464),
  WHATSAPP_GRAPH_URL: optionalUrl,
  WHATSAPP_API_VERSION: z.string().regex(/^v\d+\.\d+$/, 'looks like v21.0').default('v21.0'),
  WHATSAPP_ACCESS_TOKEN: z.string().min(1).optional(),
  WHATSAPP_APP_SECRET: z.string().min(1).optional(),
  WHATSAPP_VERIFY_TOKEN: z.string().min(1).optional(),
  WHATSAPP_FLOWS_PRIVATE_KEY: z.string().optional(),
  WHATSAPP_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(80),
  MPESA_BASE_URL: optionalUrl,
  MPESA_CONSUMER_KEY: z.string().optional(),
  MPESA_CONSUMER_SECRET: z.string().optional(),
  MPESA_SHORTCODE: z.string().optional(),
  MPESA_PASSKEY: z.string().optional(),
  PAYNOW_BASE_URL: optionalUrl,
  PAYNOW_INTEGRATION_ID: z.string().optional(),
  PAYNOW_INTEGRATION_KEY: z.string().optional(),
  PAYNOW_AUTH_EMAIL: z.email().optional(),
  OMARI_BASE_URL: optionalUrl,
  OMARI_MERCHANT_KEY: z.string().optional(),
  RAZORPAY_BASE_URL: optionalUrl,
  RAZORPAY_KEY_ID: z.string().optional(),
  RAZORPAY_KEY_SECRET: z.string().optional(),
  RAZORPAY_WEBHOOK_SECRET: z.string().optional(),
  SHOPIFY_BASE_URL: z.string().regex(/^https?:\/\/\S+$/, 'must be an http(s) URL; {shopDomain} stands for the shop\'s own domain').optional(),
  GHALA_BASE_URL: optionalUrl,
  GHALA_API_KEY: z.string().optional(),
  GHALA_WEBHOOK_SECRET: z.string().optional(),
  GHALA_SIGNATURE_SCHEME: z.enum(GHALA_SIGNATURE_SCHEMES).default('hex'),
  CART_REMINDER_AFTER: z.string().default('1h'),
  CART_EXPIRES_AFTER: z.string().default('24h'),
  HANDOVER_SILENCE: z.string().default('30m'),
  PAYMENT_TIMEOUT: z.string().default('3m'),
  PAYMENT_LINK_TIMEOUT: z.string().default('30m'),
  REFUND_WINDOW: z.string().default('30d'),
  ORDER_AUTO_CLOSE: z.string().default('14d'),
  PAYMENT_POLL_INTERVAL: z.string().default('10s'),
  DUKA_DATA_DIR: z.string().default('.data'),
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  port: number;
  /** The worker's Prometheus endpoint (duka's series and the Temporal SDK's, lib/metrics.ts). */
  workerMetricsPort: number;
  publicBaseUrl: string;
  databaseUrl: string | undefined;
  temporal: { address: string | undefined; namespace: string; taskQueue: string; uiPort: number; uiUrl: string };
  adminToken: string | undefined;
  /** Seals shops' stored credentials (lib/credentials.ts); in the sandbox a generated one under `dataDir` when unset. */
  credentialsKey: Buffer | undefined;
  sandbox: boolean;
  /** Key of new customer refs: the first of `customerRefSecrets` (lib/customer-ref.ts); in the sandbox a placeholder until one is generated. */
  customerRefSecret: string;
  /** `CUSTOMER_REF_SECRET` as a list: the first computes refs, the others are earlier keys whose customers are still recognised. */
  customerRefSecrets: string[];
  /** `PAYLOAD_CODEC_KEY` (lib/data-converter.ts); in the sandbox a generated one under `dataDir` when unset, required otherwise. */
  payloadCodecKeys: CodecKey[] | undefined;
  /** Ports `npm start` uses for what it runs itself: embedded PostgreSQL, the Temporal dev server's frontend. */
  localPorts: { postgres: number; temporal: number };
  dataDir: string;
  whatsapp: {
    graphUrl: string;
    apiVersion: string;
    accessToken: string;
    appSecret: string;
    verifyToken: string;
    flowsPrivateKey: string | undefined;
    ratePerSecond: number;
  };
  mpesa: { baseUrl: string; consumerKey: string; consumerSecret: string; shortcode: string; passkey: string };
  paynow: { baseUrl: string; integrationId: string; integrationKey: string; authEmail: string };
  omari: { baseUrl: string; merchantKey: string };
  razorpay: { baseUrl: string; keyId: string; keySecret: string; webhookSecret: string };
  /** Base of Shopify Admin API calls; `{shopDomain}` is replaced by the shop's own (CONTRACT.md). */
  shopify: { baseUrl: string };
  ghala: { baseUrl: string; apiKey: string; webhookSecret: string; signatureScheme: GhalaSignatureScheme };
  timing: { cartReminderAfter: string; cartExpiresAfter: string; handoverSilence: string; paymentTimeout: string; paymentLinkTimeout: string; pollInterval: string; refundWindow: string; autoCloseAfter: string };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const truthy = (v: string | undefined) => v === 'on' || v === 'true' || v === '1';

export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const sandbox = env.SANDBOX !== undefined ? truthy(env.SANDBOX) : !(env.WHATSAPP_ACCESS_TOKEN && env.WHATSAPP_APP_SECRET);
  const publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/$/, '');
  // With the sandbox off, base URLs default to the real providers (CONTRACT.md); tests name their doubles.
  const providerUrl = (name: keyof typeof PRODUCTION_URLS) => (sandbox ? `${publicBaseUrl}/sandbox/${name}` : PRODUCTION_URLS[name]);
  const secret = (value: string | undefined, name: string) => {
    if (value) return value;
    if (sandbox) return SANDBOX_SECRET;
    throw new ConfigError(`invalid configuration:\n  ${name}: required when SANDBOX is off`);
  };
  const uiPort = env.TEMPORAL_UI_PORT;
  const customerRefSecrets = env.CUSTOMER_REF_SECRET?.split(',') ?? [];
  return {
    port: env.PORT,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    publicBaseUrl,
    databaseUrl: env.DATABASE_URL,
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      uiPort,
      uiUrl: (env.TEMPORAL_UI_URL ?? `http://localhost:${uiPort}`).replace(/\/$/, ''),
    },
    adminToken: env.ADMIN_TOKEN,
    credentialsKey: env.CREDENTIALS_KEY ? Buffer.from(env.CREDENTIALS_KEY, 'hex') : undefined,
    sandbox,
    customerRefSecret: customerRefSecrets[0] ?? secret(undefined, 'CUSTOMER_REF_SECRET'),
    customerRefSecrets,
    payloadCodecKeys: env.PAYLOAD_CODEC_KEY ? parseCodecKeys(env.PAYLOAD_CODEC_KEY) : undefined,
    localPorts: { postgres: env.EMBEDDED_PG_PORT, temporal: env.TEMPORAL_PORT },
    dataDir: env.DUKA_DATA_DIR,
    whatsapp: {
      graphUrl: (env.WHATSAPP_GRAPH_URL ?? providerUrl('graph')).replace(/\/$/, ''),
      apiVersion: env.WHATSAPP_API_VERSION,
      accessToken: secret(env.WHATSAPP_ACCESS_TOKEN, 'WHATSAPP_ACCESS_TOKEN'),
      appSecret: secret(env.WHATSAPP_APP_SECRET, 'WHATSAPP_APP_SECRET'),
      verifyToken: secret(env.WHATSAPP_VERIFY_TOKEN, 'WHATSAPP_VERIFY_TOKEN'),
      flowsPrivateKey: env.WHATSAPP_FLOWS_PRIVATE_KEY,
      ratePerSecond: env.WHATSAPP_RATE_LIMIT_PER_SECOND,
    },
    mpesa: {
      baseUrl: env.MPESA_BASE_URL ?? providerUrl('mpesa'),
      consumerKey: env.MPESA_CONSUMER_KEY ?? SANDBOX_SECRET,
      consumerSecret: env.MPESA_CONSUMER_SECRET ?? SANDBOX_SECRET,
      shortcode: env.MPESA_SHORTCODE ?? '174379',
      passkey: env.MPESA_PASSKEY ?? SANDBOX_SECRET,
    },
    paynow: {
      baseUrl: env.PAYNOW_BASE_URL ?? providerUrl('paynow'),
      integrationId: env.PAYNOW_INTEGRATION_ID ?? '1201',
      integrationKey: env.PAYNOW_INTEGRATION_KEY ?? SANDBOX_SECRET,
      // Paynow requires the merchant's login email for express checkout in test mode.
      authEmail: env.PAYNOW_AUTH_EMAIL ?? 'merchant@duka.example',
    },
    omari: { baseUrl: env.OMARI_BASE_URL ?? providerUrl('omari'), merchantKey: env.OMARI_MERCHANT_KEY ?? SANDBOX_SECRET },
    razorpay: {
      baseUrl: env.RAZORPAY_BASE_URL ?? providerUrl('razorpay'),
      keyId: env.RAZORPAY_KEY_ID ?? 'rzp_test_sandbox',
      keySecret: env.RAZORPAY_KEY_SECRET ?? SANDBOX_SECRET,
      webhookSecret: env.RAZORPAY_WEBHOOK_SECRET ?? SANDBOX_SECRET,
    },
    shopify: { baseUrl: env.SHOPIFY_BASE_URL ?? (sandbox ? `${publicBaseUrl}/sandbox/shopify/{shopDomain}` : 'https://{shopDomain}') },
    ghala: {
      baseUrl: env.GHALA_BASE_URL ?? providerUrl('ghala'),
      apiKey: env.GHALA_API_KEY ?? SANDBOX_SECRET,
      webhookSecret: env.GHALA_WEBHOOK_SECRET ?? SANDBOX_SECRET,
      signatureScheme: env.GHALA_SIGNATURE_SCHEME,
    },
    timing: {
      cartReminderAfter: env.CART_REMINDER_AFTER,
      cartExpiresAfter: env.CART_EXPIRES_AFTER,
      handoverSilence: env.HANDOVER_SILENCE,
      paymentTimeout: env.PAYMENT_TIMEOUT,
      paymentLinkTimeout: env.PAYMENT_LINK_TIMEOUT,
      refundWindow: env.REFUND_WINDOW,
      autoCloseAfter: env.ORDER_AUTO_CLOSE,
      pollInterval: env.PAYMENT_POLL_INTERVAL,
    },
  };
}

/** Where each provider's credentials come from in the environment, and the setting of a shop's own that replaces it. */
const PROVIDER_ENV: Record<Exclude<ProviderId, 'cash'>, { variable: string; field: string; value: (c: Config) => string }[]> = {
  mpesa: [
    { variable: 'MPESA_CONSUMER_KEY', field: 'consumerKey', value: (c) => c.mpesa.consumerKey },
    { variable: 'MPESA_CONSUMER_SECRET', field: 'consumerSecret', value: (c) => c.mpesa.consumerSecret },
    { variable: 'MPESA_SHORTCODE', field: 'shortcode', value: (c) => c.mpesa.shortcode },
    { variable: 'MPESA_PASSKEY', field: 'passkey', value: (c) => c.mpesa.passkey },
  ],
  paynow: [
    { variable: 'PAYNOW_INTEGRATION_ID', field: 'integrationId', value: (c) => c.paynow.integrationId },
    { variable: 'PAYNOW_INTEGRATION_KEY', field: 'integrationKey', value: (c) => c.paynow.integrationKey },
  ],
  omari: [{ variable: 'OMARI_MERCHANT_KEY', field: 'merchantKey', value: (c) => c.omari.merchantKey }],
  razorpay: [
    { variable: 'RAZORPAY_KEY_ID', field: 'keyId', value: (c) => c.razorpay.keyId },
    { variable: 'RAZORPAY_KEY_SECRET', field: 'keySecret', value: (c) => c.razorpay.keySecret },
    { variable: 'RAZORPAY_WEBHOOK_SECRET', field: 'webhookSecret', value: (c) => c.razorpay.webhookSecret },
  ],
  ghala: [
    { variable: 'GHALA_API_KEY', field: 'apiKey', value: (c) => c.ghala.apiKey },
    { variable: 'GHALA_WEBHOOK_SECRET', field: 'webhookSecret', value: (c) => c.ghala.webhookSecret },
  ],
};

/** The public sandbox values loadConfig falls back to: never acceptable with the sandbox off. */
const SANDBOX_VALUES = new Set(['', SANDBOX_SECRET, '174379', '1201', 'rzp_test_sandbox']);

/** A shop as the start-up check needs it: its provider settings with its sealed credentials already opened. */
export interface ShopToServe {
  id: string;
  paymentMethods: readonly PaymentMethod[];
  providerSettings: ShopProviderSettings;
}

/**
 * With the sandbox off, every secret of a payment method some active shop offers must be real: the shop's own (stored
 * credentials) or the environment's, and not one of the sandbox values. One line per missing variable, naming it and
 * the shops and methods that need it.
 */
export function productionProblems(config: Config, shops: readonly ShopToServe[]): string[] {
  if (config.sandbox) return [];
  const problems = new Map<string, Set<string>>();
  const need = (variable: string, why: string) => problems.set(variable, (problems.get(variable) ?? new Set()).add(why));
  if (!config.credentialsKey) need('CREDENTIALS_KEY', 'seals shops\' stored credentials');
  for (const shop of shops) {
    for (const method of shop.paymentMethods) {
      const provider = PROVIDER_OF[method];
      if (provider === 'cash') continue;
      const own = (shop.providerSettings[provider] ?? {}) as Record<string, unknown>;
      for (const { variable, field, value } of PROVIDER_ENV[provider]) {
        const mine = own[field];
        if (typeof mine === 'string' && !SANDBOX_VALUES.has(mine)) continue;
        if (!SANDBOX_VALUES.has(value(config))) continue;
        need(variable, `shop ${shop.id} offers ${method}`);
      }
    }
  }
  return [...problems].map(([variable, why]) => `${variable}: missing or a sandbox value with SANDBOX off (${[...why].join(', ')})`);
}

export function assertProductionReady(config: Config, shops: readonly ShopToServe[]): void {
  const problems = productionProblems(config, shops);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}
