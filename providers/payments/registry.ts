import type { Config } from '../../lib/config.ts';
import type { ShopProviderSettings } from '../../db/entities.ts';
import { createMpesaProvider } from './mpesa.ts';
import { createPaynowProvider } from './paynow.ts';
import { createOmariProvider } from './omari.ts';
import { createRazorpayProvider } from './razorpay.ts';
import { createCashProvider } from './cash.ts';
import type { PaymentProvider, ProviderId } from './types.ts';

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

  forShop(shop: { id: string; providerSettings: ShopProviderSettings }, provider: ProviderId): PaymentProvider {
    const key = `${shop.id}:${provider}:${JSON.stringify(shop.providerSettings[provider as keyof ShopProviderSettings] ?? {})}`;
    let instance = this.cache.get(key);
    if (!instance) {
      instance = this.build(shop.providerSettings, provider);
      this.cache.set(key, instance);
    }
    return instance;
  }

  /** Secrets needed to check callbacks before anything else is trusted. */
  secretsFor(shop: { providerSettings: ShopProviderSettings }) {
    const s = shop.providerSettings;
    return {
      paynowIntegrationKey: s.paynow?.integrationKey ?? this.config.paynow.integrationKey,
      razorpayWebhookSecret: s.razorpay?.webhookSecret ?? this.config.razorpay.webhookSecret,
    };
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
      case 'cash':
        return createCashProvider();
    }
  }
}
