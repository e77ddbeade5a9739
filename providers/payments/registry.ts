import type { Config } from '../../lib/config.ts';
import type { ShopProviderSettings } from '../../db/entities.ts';
import { effectiveProviderSettings, type ShopWithSecrets } from '../../lib/credentials.ts';
import { createMpesaProvider, mpesaWebhook } from './mpesa.ts';
import { createPaynowProvider, paynowWebhook } from './paynow.ts';
import { createOmariProvider } from './omari.ts';
import { createRazorpayProvider, razorpayWebhook } from './razorpay.ts';
import { createCashProvider } from './cash.ts';
import { createGhalaProvider, ghalaWebhook } from './ghala.ts';
import type { PaymentProvider, ProviderId, WebhookSpec } from './types.ts';

/** The providers that call back, each behind the one generic webhook route (O'mari and cash never call back). */
export const WEBHOOKS: readonly WebhookSpec[] = [mpesaWebhook, paynowWebhook, razorpayWebhook, ghalaWebhook];

/** The demo shops' credentials: the environment alone, for a callback that names no shop duka knows. */
const ENVIRONMENT: { id: string; providerSettings: ShopProviderSettings } = { id: '(environment)', providerSettings: {} };

/**
 * A shop's providers, built from its own settings with the environment as fallback (real shops keep credentials in
 * the database; the demo shops use the environment). Instances are cached so token caches (Daraja OAuth) are shared.
 */
export class PaymentProviders {
  private readonly cache = new Map<string, PaymentProvider>();
  private readonly config: Config;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(config: Config, fetchImpl?: typeof fetch) {
    this.config = config;
    this.fetchImpl = fetchImpl;
  }

  /** `shop.credentials` (sealed, lib/credentials.ts) overlays its plain settings: a shop's own credentials win. */
  forShop(shop: ShopWithSecrets, provider: ProviderId): PaymentProvider {
    const settings = effectiveProviderSettings(shop, this.config.credentialsKey);
    const key = `${shop.id}:${provider}:${JSON.stringify(settings[provider as keyof ShopProviderSettings] ?? {})}`;
    let instance = this.cache.get(key);
    if (!instance) {
      instance = this.build(settings, provider);
      this.cache.set(key, instance);
    }
    return instance;
  }

  /** Every distinct set of credentials duka holds for a provider (the environment's, then each shop's), to verify a callback that names no payment. */
  everyCredential(shops: readonly { id: string; providerSettings: ShopProviderSettings }[], provider: ProviderId): PaymentProvider[] {
    const seen = new Set<string>();
    const found: PaymentProvider[] = [];
    for (const shop of [ENVIRONMENT, ...shops]) {
      const settings = JSON.stringify(shop.providerSettings[provider as keyof ShopProviderSettings] ?? {});
      if (seen.has(settings)) continue;
      seen.add(settings);
      found.push(this.forShop(shop, provider));
    }
    return found;
  }

  private build(settings: ShopProviderSettings, provider: ProviderId): PaymentProvider {
    const c = this.config;
    const deps = this.fetchImpl ? { fetch: this.fetchImpl } : {};
    switch (provider) {
      case 'mpesa':
        return createMpesaProvider({ ...c.mpesa, ...settings.mpesa }, deps);
      case 'paynow':
        return createPaynowProvider({ ...c.paynow, ...settings.paynow }, deps);
      case 'omari':
        return createOmariProvider({ ...c.omari, ...settings.omari }, deps);
      case 'razorpay':
        return createRazorpayProvider({ ...c.razorpay, ...settings.razorpay }, deps);
      case 'ghala':
        return createGhalaProvider({ ...c.ghala, ...settings.ghala }, deps);
      case 'cash':
        return createCashProvider();
    }
  }
}
