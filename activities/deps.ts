import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import type { WhatsAppClient } from '../providers/whatsapp/client.ts';
import type { PaymentProviders } from '../providers/payments/registry.ts';

/** What activities need from the outside world; tests pass real or fake ones. */
export interface ActivityDeps {
  orm: MikroORM;
  whatsapp: WhatsAppClient;
  temporal: Client;
  config: Config;
  payments: PaymentProviders;
}
