import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config.ts';
import { openOrm, type MikroORM } from '../db/orm.ts';
import { WhatsAppClient } from '../providers/whatsapp/client.ts';
import { PaymentProviders } from '../providers/payments/registry.ts';
import type { ActivityDeps } from '../activities/deps.ts';
import { dukaDataConverter } from './data-converter.ts';
import { codecKeysOf } from './sandbox-keys.ts';
import { tracedFetch } from './tracing.ts';

/** Builds the long-lived clients both processes share, from configuration alone. */
export async function connectTemporal(config: Config, address: string) {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dukaDataConverter(codecKeysOf(config)) });
  return { connection, client };
}

export async function createActivityDeps(config: Config, databaseUrl: string, temporal: Client, orm?: MikroORM): Promise<ActivityDeps> {
  return {
    orm: orm ?? (await openOrm(databaseUrl)),
    temporal,
    config,
    whatsapp: new WhatsAppClient({
      graphUrl: config.whatsapp.graphUrl,
      apiVersion: config.whatsapp.apiVersion,
      accessToken: config.whatsapp.accessToken,
      ratePerSecond: config.whatsapp.ratePerSecond,
      fetch: tracedFetch('whatsapp'),
    }),
    payments: new PaymentProviders(config, tracedFetch('payments')),
  };
}

export async function nativeConnection(address: string) {
  return NativeConnection.connect({ address });
}
