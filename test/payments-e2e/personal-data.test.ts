import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { HARARE, NAIROBI } from '../helpers/duka.ts';
import { testDataConverter } from '../helpers/codec.ts';
import { ENCRYPTED_ENCODING } from '../../lib/data-converter.ts';
import { conversationQuery, orderQuery } from '../../workflows/definitions.ts';
import { ADMIN_TOKEN, CATALOGS, Customer, eventually, latestAttempt, orderOf, startWorld, toPaymentChoice, type World } from './support.ts';

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

/**
 * A Daraja that echoes the number it refuses in its error message, as providers do ("Invalid PhoneNumber: 2547…"):
 * the refusal becomes the initiatePayment activity's failure, message and all.
 */
async function startEchoingDaraja(): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.get('/oauth/v1/generate', (_req, res) => void res.json({ access_token: 'echo-token', expires_in: '3599' }));
  app.post('/mpesa/stkpush/v1/processrequest', express.json(), (req, res) => {
    const phone = String((req.body as { PhoneNumber?: unknown }).PhoneNumber);
    res.status(400).json({ requestId: 'echo-1', errorCode: '400.002.02', errorMessage: `Bad Request - Invalid PhoneNumber: ${phone}` });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What the codec endpoint gives back for one payload, as the Temporal UI asks it (`POST /codec/decode`). */
async function decodeByEndpoint(baseUrl: string, payload: Payload): Promise<string> {
  const b64 = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('base64');
  const wire = { metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, b64(v)])), data: b64(payload.data) };
  const res = await fetch(`${baseUrl}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}`, 'x-namespace': 'default' },
    body: JSON.stringify({ payloads: [wire] }),
  });
  expect(res.status).toBe(200);
  const { payloads } = (await res.json()) as { payloads: { data: string }[] };
  return Buffer.from(payloads[0]!.data, 'base64').toString('utf8');
}

describe('personal data in Temporal: encrypted by the payload codec', () => {
  let w: World;
  let daraja: Awaited<ReturnType<typeof startEchoingDaraja>>;
  beforeAll(async () => {
    daraja = await startEchoingDaraja();
    w = await startWorld('personal_data', { MPESA_BASE_URL: daraja.url });
  });
  afterAll(async () => {
    await w?.stop();
    await daraja?.close();
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

  it("an activity failure whose message holds the customer's number: encrypted in the raw history, read by the codec endpoint", async () => {
    const phone = '254712299002';
    const c = new Customer(w.duka, NAIROBI, phone);
    const { orderNumber } = await toPaymentChoice(w.duka, c, 'nairobi', [{ retailerId: 'NBO-COFFEE-500', quantity: 1 }]);
    const [refused] = await c.tap('pay:mpesa');
    expect(refused!.text).toContain('That number cannot pay with this method.');

    const plain = new Client({ connection: w.duka.client.connection, namespace: w.duka.config.temporal.namespace });
    const history = await plain.workflow.getHandle(`order:${orderNumber}`).fetchHistory();
    const failed = history.events?.find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure;
    expect(failed?.applicationFailureInfo?.type).toBe('PaymentDeclined');
    // In history: no message, no stack, only the encrypted attributes.
    expect({ message: failed?.message, stackTrace: failed?.stackTrace }).toEqual({ message: 'Encoded failure', stackTrace: '' });
    expect(encoding(failed!.encodedAttributes!)).toBe(ENCRYPTED_ENCODING);
    for (const id of [`order:${orderNumber}`, w.duka.conversationId('nairobi', phone)]) {
      const raw = Buffer.from(temporal.api.history.v1.History.encode(await plain.workflow.getHandle(id).fetchHistory()).finish()).toString('latin1');
      for (const value of [phone, phone.slice(3)]) expect({ id, value, inRawHistory: raw.includes(value) }).toEqual({ id, value, inRawHistory: false });
    }
    // The operator still reads it: the codec endpoint the Temporal UI calls opens the failure's message and stack.
    const opened = JSON.parse(await decodeByEndpoint(w.duka.baseUrl, failed!.encodedAttributes!)) as { message: string; stack_trace: string };
    expect(opened.message).toContain(`Invalid PhoneNumber: ${phone}`);
    expect(typeof opened.stack_trace).toBe('string');
  });
});
