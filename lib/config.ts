import { z } from 'zod';

/**
 * Every setting duka reads, validated once. CONTRACT.md lists the outside names; defaults point at the sandbox so
 * that `npm start` works with nothing configured, and real credentials switch the sandbox off.
 */
const SANDBOX_SECRET = 'sandbox-not-secret';

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
  SANDBOX: z.enum(['on', 'off', 'true', 'false', '1', '0']).optional(),
  CUSTOMER_REF_SECRET: z.string().min(16).optional(),
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
  publicBaseUrl: string;
  databaseUrl: string | undefined;
  temporal: { address: string | undefined; namespace: string; taskQueue: string; uiPort: number; uiUrl: string };
  adminToken: string | undefined;
  sandbox: boolean;
  customerRefSecret: string;
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
  const sandboxUrl = (name: string) => `${publicBaseUrl}/sandbox/${name}`;
  const secret = (value: string | undefined, name: string) => {
    if (value) return value;
    if (sandbox) return SANDBOX_SECRET;
    throw new ConfigError(`invalid configuration:\n  ${name}: required when SANDBOX is off`);
  };
  const uiPort = env.TEMPORAL_UI_PORT;
  return {
    port: env.PORT,
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
    sandbox,
    customerRefSecret: env.CUSTOMER_REF_SECRET ?? secret(env.WHATSAPP_APP_SECRET, 'CUSTOMER_REF_SECRET'),
    dataDir: env.DUKA_DATA_DIR,
    whatsapp: {
      graphUrl: (env.WHATSAPP_GRAPH_URL ?? (sandbox ? sandboxUrl('graph') : 'https://graph.facebook.com')).replace(/\/$/, ''),
      apiVersion: env.WHATSAPP_API_VERSION,
      accessToken: secret(env.WHATSAPP_ACCESS_TOKEN, 'WHATSAPP_ACCESS_TOKEN'),
      appSecret: secret(env.WHATSAPP_APP_SECRET, 'WHATSAPP_APP_SECRET'),
      verifyToken: secret(env.WHATSAPP_VERIFY_TOKEN, 'WHATSAPP_VERIFY_TOKEN'),
      flowsPrivateKey: env.WHATSAPP_FLOWS_PRIVATE_KEY,
      ratePerSecond: env.WHATSAPP_RATE_LIMIT_PER_SECOND,
    },
    mpesa: {
      baseUrl: env.MPESA_BASE_URL ?? sandboxUrl('mpesa'),
      consumerKey: env.MPESA_CONSUMER_KEY ?? SANDBOX_SECRET,
      consumerSecret: env.MPESA_CONSUMER_SECRET ?? SANDBOX_SECRET,
      shortcode: env.MPESA_SHORTCODE ?? '174379',
      passkey: env.MPESA_PASSKEY ?? SANDBOX_SECRET,
    },
    paynow: {
      baseUrl: env.PAYNOW_BASE_URL ?? sandboxUrl('paynow'),
      integrationId: env.PAYNOW_INTEGRATION_ID ?? '1201',
      integrationKey: env.PAYNOW_INTEGRATION_KEY ?? SANDBOX_SECRET,
      // Paynow requires the merchant's login email for express checkout in test mode.
      authEmail: env.PAYNOW_AUTH_EMAIL ?? 'merchant@duka.example',
    },
    omari: { baseUrl: env.OMARI_BASE_URL ?? sandboxUrl('omari'), merchantKey: env.OMARI_MERCHANT_KEY ?? SANDBOX_SECRET },
    razorpay: {
      baseUrl: env.RAZORPAY_BASE_URL ?? sandboxUrl('razorpay'),
      keyId: env.RAZORPAY_KEY_ID ?? 'rzp_test_sandbox',
      keySecret: env.RAZORPAY_KEY_SECRET ?? SANDBOX_SECRET,
      webhookSecret: env.RAZORPAY_WEBHOOK_SECRET ?? SANDBOX_SECRET,
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
