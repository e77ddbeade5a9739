import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { HARARE } from '../helpers/duka.ts';
import { testDataConverter } from '../helpers/codec.ts';
import { ENCRYPTED_ENCODING } from '../../lib/data-converter.ts';
import { conversationQuery, orderQuery } from '../../workflows/definitions.ts';
import { CATALOGS, Customer, eventually, latestAttempt, orderOf, startWorld, type World } from './support.ts';

/**
 * A paid order's Temporal history holds the customer's phone number, name, delivery address and OTP only encrypted
 * (lib/data-converter.ts): read raw, with a client that has no codec, none of them is there; the codec opens them. The
 * OTP is used once and kept nowhere: not in workflow state, not in the database.
 */
const WA_ID = '263771299001';
const NAME = 'Tendai Chiwenga';
const ADDRESS = 'Samora Machel Avenue 77, Harare';

/** Every Payload inside a history, wherever it sits (inputs, results, signals, updates, summaries, search attributes). */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  const o = value as Record<string, unknown>;
  if (o.data instanceof Uint8Array && o.metadata && typeof o.metadata === 'object') found.push(o as Payload);
  else for (const v of Object.values(o)) payloadsIn(v, found);
  return found;
}

/** The payloads under every `header` in a history (interceptors' context: trace ids, never personal data). */
function collectHeaders(value: unknown, found: Payload[] = []): Payload[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'header') payloadsIn(v, found);
    else collectHeaders(v, found);
  }
  return found;
}

const encoding = (p: Payload) => Buffer.from(p.metadata?.encoding ?? []).toString();

describe('personal data in Temporal: encrypted by the payload codec', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld('personal_data');
  });
  afterAll(async () => {
    await w?.stop();
  });

  it("a paid O'mari order with delivery: no phone, name, address or OTP in the raw history; the codec reads them", async () => {
    const c = new Customer(w.duka, HARARE, WA_ID, NAME);
    await c.sendCart(CATALOGS.harare, [{ retailerId: 'SKU-SUGAR-2KG', quantity: 1 }]);
    await c.tap('cart:checkout');
    const [askAddress] = await c.tap('ful:delivery');
    expect(askAddress!.text).toMatch(/address/);
    const [summary] = await c.say(ADDRESS);
    const orderNumber = /[A-Z]{3}-\d+/.exec(summary!.text)![0];
    await c.tap('order:confirm');
    const [prompt] = await c.pick('pay:omari');
    expect(prompt!.text).toMatch(/OTP/);
    const reference = await latestAttempt(w.duka, orderNumber, 1);
    const otp = (await eventually(async () => w.providers.omari.lastOtp(reference), Boolean, 'the OTP SMS'))!;
    const [receipt] = await c.say(otp);
    expect(receipt!.text).toContain(`Receipt — order ${orderNumber}`);
    expect((await orderOf(w.duka, orderNumber)).status).toBe('PAID');

    const secrets = { phone: WA_ID, localPhone: WA_ID.slice(3), name: NAME, address: ADDRESS, otp };
    const ids = [`order:${orderNumber}`, w.duka.conversationId('harare', WA_ID)];
    const plain = new Client({ connection: w.duka.client.connection, namespace: w.duka.config.temporal.namespace });
    const codec = testDataConverter().payloadCodecs![0]!;
    const decoded: string[] = [];
    for (const id of ids) {
      const history = await plain.workflow.getHandle(id).fetchHistory();
      const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
      for (const [what, value] of Object.entries(secrets)) expect({ id, what, inRawHistory: raw.includes(value) }).toEqual({ id, what, inRawHistory: false });

      // Every payload is encrypted except what the codec never sees and holds no personal data: search attributes, and
      // the SDK's own marker data (patch ids, local activity bookkeeping: sequence, type, times).
      const notTheCodecs = new Set(
        payloadsIn(
          history.events?.flatMap((e) => [
            e.workflowExecutionStartedEventAttributes?.searchAttributes,
            e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes,
            Object.entries(e.markerRecordedEventAttributes?.details ?? {}).filter(([key]) => key !== 'result'),
          ]),
        ),
      );
      // Headers carry trace context only (the raw-bytes check above covers them for personal data); the SDK does not
      // pass them through the codec.
      const headers = new Set(collectHeaders(history));
      const payloads = payloadsIn(history);
      expect(payloads.filter((p) => !notTheCodecs.has(p) && !headers.has(p) && encoding(p) !== ENCRYPTED_ENCODING)).toEqual([]);
      decoded.push(...(await codec.decode(payloads)).map((p) => Buffer.from(p.data ?? []).toString('utf8')));
    }
    const opened = decoded.join('\n');
    for (const value of [WA_ID, NAME, ADDRESS, otp]) expect(opened).toContain(value);

    // Used once, kept nowhere: not in the workflows' state, not in any row of the database.
    const state = JSON.stringify([
      await w.duka.client.workflow.getHandle(ids[0]!).query(orderQuery),
      await w.duka.client.workflow.getHandle(ids[1]!).query(conversationQuery),
    ]);
    expect(state).not.toContain(otp);
    const tables = await w.duka.orm.em.getConnection().execute<{ name: string }[]>("select tablename as name from pg_tables where schemaname = 'public'");
    const rowsWithOtp: string[] = [];
    for (const { name } of tables) {
      const rows = await w.duka.orm.em.getConnection().execute<{ row: Record<string, unknown> }[]>(`select to_jsonb(t) as row from "${name}" t`);
      const strings = rows.flatMap(({ row }) => JSON.stringify(row).match(/"(?:[^"\\]|\\.)*"/g) ?? []);
      // Timestamps carry microseconds: six digits that are no OTP.
      for (const s of strings) if (!/^"\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:\d\d|Z)?"$/.test(s) && s.includes(otp)) rowsWithOtp.push(`${name}: ${s.slice(0, 80)}`);
    }
    expect(rowsWithOtp).toEqual([]);
  });
});
