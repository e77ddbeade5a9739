import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { signMetaPayload } from '../../providers/whatsapp/signature.ts';
import { customerRefFor } from '../../lib/customer-ref.ts';
import { buildInboundWebhook, statusUpdate, textMessage } from '../fakes/graph-api.ts';
import { APP_SECRET, VERIFY_TOKEN, errorCode, sql, startApi, type ApiHarness } from './support.ts';

const NAIROBI = '100000000000001';
const HARARE = '100000000000002';
const CUSTOMER = '254712345678';
const OTHER_CUSTOMER = '254798765432';

let api: ApiHarness;
let ref: (waId: string) => string;

beforeAll(async () => {
  api = await startApi();
  ref = (waId) => customerRefFor(waId, api.config.customerRefSecret);
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => api.temporal.reset());

function post(raw: string, headers: Record<string, string>) {
  return fetch(`${api.url}/webhooks/whatsapp`, { method: 'POST', headers, body: raw });
}

function signed(raw: string) {
  return { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, APP_SECRET) };
}

async function messageRow(wamid: string) {
  const rows = await sql<{ handed_off_at: string | null; direction: string; customer_ref: string; shop_id: string; status: string; error_code: number | null }>(
    api.db.orm,
    'select * from message where wa_message_id = ?',
    [wamid],
  );
  return rows[0];
}

describe('GET /webhooks/whatsapp (verification handshake, §1.2)', () => {
  it('echoes hub.challenge as plain text for the right token', async () => {
    const res = await fetch(`${api.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1158201444');
  });

  it('403 for a wrong token or mode', async () => {
    for (const q of [`hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`, `hub.mode=unsubscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`, '']) {
      const res = await fetch(`${api.url}/webhooks/whatsapp?${q}`);
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe('forbidden');
    }
  });
});

describe('POST /webhooks/whatsapp', () => {
  it('401 and nothing processed without a valid signature', async () => {
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [textMessage(CUSTOMER, 'hi', 'wamid.UNSIGNED')] });
    for (const headers of [
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(hook.raw, 'another-secret') },
      { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=zz' },
      // Signed over other bytes (re-serialised) than those sent.
      { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(JSON.stringify(hook.payload, null, 2), APP_SECRET) },
    ] as Record<string, string>[]) {
      const res = await post(hook.raw, headers);
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe('invalid_signature');
    }
    expect(api.temporal.callCount).toBe(0);
    expect(await messageRow('wamid.UNSIGNED')).toBeUndefined();
  });

  it('400 for a signed body that is not JSON or not a webhook', async () => {
    for (const raw of ['{not json', JSON.stringify({ object: 'whatsapp_business_account', entry: 'nope' }), JSON.stringify([1, 2])]) {
      const res = await post(raw, signed(raw));
      expect(res.status).toBe(400);
      await errorCode(res);
    }
    expect(api.temporal.callCount).toBe(0);
  });

  it('hands a message to the conversation workflow with signalWithStart, then marks it', async () => {
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, name: 'Amina', messages: [textMessage(CUSTOMER, 'Habari', 'wamid.FIRST')] });
    const res = await post(hook.raw, signed(hook.raw));
    expect(res.status).toBe(200);

    expect(api.temporal.signalWithStarts).toHaveLength(1);
    const call = api.temporal.signalWithStarts[0]!;
    const customerRef = ref(CUSTOMER);
    expect(call.workflowType).toBe('conversationWorkflow');
    expect(call.options.workflowId).toBe(`conversation:nairobi:${customerRef}`);
    expect(call.options.taskQueue).toBe('orders');
    expect(call.options.args).toEqual([{ shopId: 'nairobi', customerRef }]);
    expect((call.options.signal as { name: string }).name).toBe('inbound');
    expect(call.options.signalArgs).toEqual([
      expect.objectContaining({ id: 'wamid.FIRST', phoneNumberId: NAIROBI, from: CUSTOMER, contactName: 'Amina', content: { kind: 'text', text: 'Habari' } }),
    ]);
    expect(call.options.staticSummary).toBe('Conversation · Duka Nairobi');
    const attributes = call.options.typedSearchAttributes as { key: { name: string }; value: string }[];
    expect(attributes.map((a) => [a.key.name, a.value])).toEqual([
      ['ShopId', 'nairobi'],
      ['CustomerRef', customerRef],
    ]);
    // No phone number in the id, summary or search attributes.
    expect(JSON.stringify([call.options.workflowId, call.options.staticSummary, attributes])).not.toContain(CUSTOMER);

    const row = await messageRow('wamid.FIRST');
    expect(row).toMatchObject({ direction: 'in', shop_id: 'nairobi', customer_ref: customerRef });
    expect(row?.handed_off_at).not.toBeNull();
  });

  it('a redelivered message is answered 200 and not handed off again', async () => {
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [textMessage(CUSTOMER, 'once', 'wamid.DUP')] });
    expect((await post(hook.raw, signed(hook.raw))).status).toBe(200);
    expect((await post(hook.raw, signed(hook.raw))).status).toBe(200);
    expect(api.temporal.signalWithStarts).toHaveLength(1);
  });

  it('503 when Temporal fails; the message is not marked, so Meta’s retry goes through', async () => {
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [textMessage(CUSTOMER, 'retry me', 'wamid.RETRY')] });
    api.temporal.on.signalWithStart = async () => {
      throw new Error('14 UNAVAILABLE');
    };
    const first = await post(hook.raw, signed(hook.raw));
    expect(first.status).toBe(503);
    expect(await errorCode(first)).toBe('unavailable');
    expect((await messageRow('wamid.RETRY'))?.handed_off_at).toBeNull();

    api.temporal.on.signalWithStart = async () => {};
    const second = await post(hook.raw, signed(hook.raw));
    expect(second.status).toBe(200);
    expect(api.temporal.signalWithStarts).toHaveLength(2);
    expect((await messageRow('wamid.RETRY'))?.handed_off_at).not.toBeNull();
  });

  it('a batch: every message handed off, in order per conversation, one conversation per customer', async () => {
    const a1 = textMessage(CUSTOMER, 'one', 'wamid.B1');
    const b1 = textMessage(OTHER_CUSTOMER, 'uno', 'wamid.B2');
    const a2 = textMessage(CUSTOMER, 'two', 'wamid.B3');
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [a1, b1, a2] });
    expect((await post(hook.raw, signed(hook.raw))).status).toBe(200);
    const ids = (workflowId: string) =>
      api.temporal.signalWithStarts.filter((c) => c.options.workflowId === workflowId).map((c) => (c.options.signalArgs[0] as { id: string }).id);
    expect(ids(`conversation:nairobi:${ref(CUSTOMER)}`)).toEqual(['wamid.B1', 'wamid.B3']);
    expect(ids(`conversation:nairobi:${ref(OTHER_CUSTOMER)}`)).toEqual(['wamid.B2']);
  });

  it('a message for an unknown phone_number_id is skipped with 200', async () => {
    const hook = buildInboundWebhook({ phoneNumberId: '199999999999999', messages: [textMessage(CUSTOMER, 'hello?', 'wamid.NOSHOP')] });
    const res = await post(hook.raw, signed(hook.raw));
    expect(res.status).toBe(200);
    expect(api.temporal.callCount).toBe(0);
    expect(await messageRow('wamid.NOSHOP')).toBeUndefined();
  });

  it('statuses update the outbound message row, never backwards, and ignore unknown ids', async () => {
    await sql(api.db.orm, "insert into message (id, wa_message_id, direction, shop_id, customer_ref, type, status, created_at) values (gen_random_uuid(), 'wamid.OUT1', 'out', 'nairobi', ?, 'text', 'accepted', now())", [ref(CUSTOMER)]);
    const send = async (...statuses: ReturnType<typeof statusUpdate>[]) => {
      const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, statuses });
      expect((await post(hook.raw, signed(hook.raw))).status).toBe(200);
    };
    await send(statusUpdate('wamid.OUT1', 'read', CUSTOMER, undefined, 1_700_000_100));
    await send(statusUpdate('wamid.OUT1', 'delivered', CUSTOMER, undefined, 1_700_000_050), statusUpdate('wamid.NOT-OURS', 'sent', CUSTOMER));
    let row = await messageRow('wamid.OUT1');
    expect(row?.status).toBe('read');
    await send(statusUpdate('wamid.OUT1', 'failed', CUSTOMER, [{ code: 131047, title: 'Re-engagement message' }]));
    row = await messageRow('wamid.OUT1');
    expect(row).toMatchObject({ status: 'failed', error_code: 131047 });
    expect(api.temporal.callCount).toBe(0);
  });

  it('a staff echo (smb_message_echoes) puts the conversation on hand-over', async () => {
    const payload = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'WABA',
          changes: [
            {
              field: 'smb_message_echoes',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '263771000001', phone_number_id: HARARE },
                message_echoes: [{ from: '263771000001', to: '263772000002', id: 'wamid.ECHO1', timestamp: '1733001000', type: 'text', text: { body: 'Hi, this is Rudo from the shop' } }],
              },
            },
          ],
        },
      ],
    };
    const raw = JSON.stringify(payload);
    expect((await post(raw, signed(raw))).status).toBe(200);
    expect((await post(raw, signed(raw))).status).toBe(200);
    expect(api.temporal.signalWithStarts).toHaveLength(1);
    const call = api.temporal.signalWithStarts[0]!;
    expect(call.options.workflowId).toBe(`conversation:harare:${ref('263772000002')}`);
    expect((call.options.signal as { name: string }).name).toBe('handover');
    expect(call.options.signalArgs).toEqual([{ minutes: 30 }]); // HANDOVER_SILENCE's default
    expect(await messageRow('wamid.ECHO1')).toMatchObject({ direction: 'out', shop_id: 'harare' });
  });
});
