import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig, productionProblems } from '../../lib/config.ts';
import { productionEnv } from '../helpers/process-env.ts';

/** GHALA_* (CONTRACT.md): sandbox defaults, the scheme's allowed values, and the start-up check with SANDBOX off. */
const PRODUCTION = productionEnv();

describe('Ghala configuration', () => {
  it('points at the sandbox simulator by default and at Ghala with the sandbox off; the scheme defaults to seed 001\'s', () => {
    expect(loadConfig({ SANDBOX: 'on', PORT: '3100' }).ghala).toEqual({ baseUrl: 'http://localhost:3100/sandbox/ghala', apiKey: 'sandbox-not-secret', webhookSecret: 'sandbox-not-secret', signatureScheme: 'hex' });
    expect(loadConfig(PRODUCTION).ghala.baseUrl).toBe('https://api.ghala.io');
    expect(loadConfig({ SANDBOX: 'on', GHALA_SIGNATURE_SCHEME: 'base64-timestamp-dot' }).ghala.signatureScheme).toBe('base64-timestamp-dot');
    expect(() => loadConfig({ SANDBOX: 'on', GHALA_SIGNATURE_SCHEME: 'md5' })).toThrow(ConfigError);
  });

  it('a shop offering ghala_mpesa needs GHALA_API_KEY and GHALA_WEBHOOK_SECRET with the sandbox off, unless it has its own', () => {
    const nairobi = { id: 'nairobi', paymentMethods: ['ghala_mpesa', 'cash'] as const, providerSettings: {} };
    expect(productionProblems(loadConfig(PRODUCTION), [{ ...nairobi, paymentMethods: [...nairobi.paymentMethods] }])).toEqual([
      expect.stringMatching(/^GHALA_API_KEY: .*shop nairobi offers ghala_mpesa/),
      expect.stringMatching(/^GHALA_WEBHOOK_SECRET: .*shop nairobi offers ghala_mpesa/),
    ]);
    const configured = loadConfig({ ...PRODUCTION, GHALA_API_KEY: 'live-key', GHALA_WEBHOOK_SECRET: 'live-secret' });
    expect(productionProblems(configured, [{ ...nairobi, paymentMethods: [...nairobi.paymentMethods] }])).toEqual([]);
    const own = { ...nairobi, paymentMethods: [...nairobi.paymentMethods], providerSettings: { ghala: { apiKey: 'shop-key', webhookSecret: 'shop-secret' } } };
    expect(productionProblems(loadConfig(PRODUCTION), [own])).toEqual([]);
  });
});
