import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { APP_SECRET, HARARE, NAIROBI, startDuka, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { flowReply } from '../fakes/graph-api.ts';
import type { FlowManagementStandIn } from '../fakes/graph-flows.ts';
import { signMetaPayload } from '../../providers/whatsapp/signature.ts';
import { decryptFlowResponse, encryptFlowRequestForTest, generateFlowsKeyPair, mintFlowToken, type FlowsKeyPair } from '../../providers/whatsapp/flows.ts';
import { flowDefinitions } from '../../providers/whatsapp/flow-management.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PIZZA = 'nairobi-pizza-margherita';

/**
 * WhatsApp Flows end to end (issue 10): the admin API deploys the committed Flows to the Graph fake's Flows management
 * endpoints with the production client; a customer who taps "Add to cart" on the pizza gets the Flow message; the test
 * plays WhatsApp's client against duka's real data endpoint (RSA-OAEP + AES-GCM, signed) and sends the nfm_reply as a
 * signed webhook; the pizza lands in the order at the price the Flow showed. Forged and stale tokens change nothing.
 */
describe('WhatsApp Flows: deploy, send, customise, verify', () => {
  let duka: Duka;
  let pair: FlowsKeyPair;
  let meta: FlowManagementStandIn;
  beforeAll(async () => {
    pair = await generateFlowsKeyPair();
    duka = await startDuka({ label: 'flows', env: { WHATSAPP_FLOWS_PRIVATE_KEY: pair.privateKeyPem } });
    meta = duka.graph.flows;
    // Each demo shop as if it had its own WhatsApp Business Account (the environment's token serves them all).
    await duka.orm.em.getConnection().execute("update shop set business_account_id = '3000000000' || right(phone_number_id, 5)");
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const deploy = async (shopId: string, body: Json = {}) => {
    const res = await fetch(`${duka.baseUrl}/api/admin/shops/${shopId}/flows/deploy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${duka.config.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };

  /** WhatsApp's client: one encrypted, signed request to duka's data endpoint, and its decrypted answer. */
  async function exchange(payload: Json): Promise<{ status: number; answer: Json }> {
    const aesKey = randomBytes(16);
    const iv = randomBytes(16);
    const raw = JSON.stringify(encryptFlowRequestForTest({ version: '3.0', ...payload }, pair.publicKeyPem, { aesKey, iv }));
    const res = await fetch(`${duka.baseUrl}/flows/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, APP_SECRET) }, body: raw });
    const text = await res.text();
    return { status: res.status, answer: decryptFlowResponse(text, aesKey, iv) as Json };
  }

  async function orderOf(c: Customer): Promise<Json> {
    const conversation = (await duka.client.workflow.getHandle(duka.conversationId('nairobi', c.waId)).query('conversation')) as Json;
    return (await duka.client.workflow.getHandle(`order:${conversation.activeOrder}`).query('order')) as Json;
  }

  it('deploys both committed Flows, publishes them and uploads the endpoint key; a second deploy updates the same flows', async () => {
    const first = await deploy('nairobi');
    expect(first.status).toBe(200);
    expect(first.body.publicKeyUploaded).toBe(true);
    expect(first.body.flows.map((f: Json) => [f.kind, f.status, f.validationErrors])).toEqual([
      ['customise', 'PUBLISHED', []],
      ['payment', 'PUBLISHED', []],
    ]);
    expect(meta.publicKeys.get(NAIROBI)).toBe(pair.publicKeyPem);
    const customise = meta.flows.get(first.body.flows[0].flowId)!;
    expect(customise).toMatchObject({ categories: ['SHOPPING'], endpointUri: `${duka.config.publicBaseUrl}/flows/whatsapp`, status: 'PUBLISHED' });
    expect(customise.flowJson).toBe(flowDefinitions()[0]!.json);
    expect(meta.flows.get(first.body.flows[1].flowId)!.endpointUri).toBeUndefined();

    const again = await deploy('nairobi');
    expect(again.status).toBe(200);
    expect(again.body.flows.map((f: Json) => f.flowId)).toEqual(first.body.flows.map((f: Json) => f.flowId));
    expect(again.body.flows.map((f: Json) => f.status)).toEqual(['PUBLISHED', 'PUBLISHED']);
    expect(meta.flows.size).toBe(2);
  });

  it('Meta\'s validation errors come back readable (422), and the flow stays in DRAFT', async () => {
    meta.rejectNextUpload([
      { error: 'INVALID_PROPERTY_VALUE', error_type: 'FLOW_JSON_ERROR', message: "Invalid value found for property 'type'.", line_start: 10, line_end: 10, column_start: 21, column_end: 34, pointers: [{ path: 'screens [0]. layout.children [0].type' }] },
    ]);
    const res = await deploy('harare', { flows: ['customise'] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('flow_json_invalid');
    expect(res.body.error.message).toBe("Meta found 1 error(s) in the Flow JSON: customise: INVALID_PROPERTY_VALUE: Invalid value found for property 'type'. (at screens [0]. layout.children [0].type)");
    expect(res.body.flows).toEqual([expect.objectContaining({ kind: 'customise', status: 'DRAFT' })]);
    expect(meta.publicKeys.get(HARARE)).toBe(pair.publicKeyPem);
  });

  it('a shop without a WhatsApp Business Account id is told what to set (409)', async () => {
    await duka.orm.em.getConnection().execute("update shop set business_account_id = null where id = 'pune'");
    const res = await deploy('pune');
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/whatsapp.businessAccountId/);
    await duka.orm.em.getConnection().execute("update shop set business_account_id = '300000000000003' where id = 'pune'");
  });

  it('a Graph refusal (permissions) is a 502 with Meta\'s message, not a 500', async () => {
    meta.failNext(1, { status: 403, code: 200, message: 'Permissions error', details: 'whatsapp_business_management is required' });
    const res = await deploy('pune');
    expect(res.status).toBe(502);
    expect(res.body.error.message).toMatch(/403 \(#200\).*Permissions error.*whatsapp_business_management/);
  });

  it('a customer customises a pizza in the Flow and finds it in the cart at the Flow\'s price', async () => {
    const c = new Customer(duka, NAIROBI, '254712366001');
    await c.say('hi');
    const [sent] = await c.tap(`add:${PIZZA}`, 'Add to cart');
    const flowMessage = sent!.raw.body as Json;
    expect(flowMessage.interactive.type).toBe('flow');
    const params = flowMessage.interactive.action.parameters as Json;
    expect(params).toMatchObject({ flow_message_version: '3', flow_action: 'data_exchange', flow_cta: 'Customize', flow_id: meta.published('duka: customise a product')!.id });
    const token = params.flow_token as string;
    expect(token).toContain(`:${PIZZA}:${duka.customerRef(c.waId)}:`);
    expect(token).not.toContain(c.waId);

    const init = await exchange({ action: 'INIT', flow_token: token });
    expect(init.status).toBe(200);
    expect(init.answer).toMatchObject({ screen: 'CUSTOMISE', data: { product_name: 'Margherita Pizza', default_size: 'nairobi-pizza-small', has_sizes: true } });
    const choice = { presentation_id: 'nairobi-pizza-large', group_1: ['nairobi-pizza-crust-crust-thick'], group_2: ['nairobi-pizza-addons-addon-cheese', 'nairobi-pizza-addons-addon-pepperoni'], group_3: [], group_4: [] };
    const summary = await exchange({ action: 'data_exchange', screen: 'CUSTOMISE', data: choice, flow_token: token });
    expect(summary.answer).toMatchObject({ screen: 'SUMMARY', data: { total: 'KES 1,900', total_amount: 190000 } });
    const done = await exchange({ action: 'data_exchange', screen: 'SUMMARY', data: { presentation_id: summary.answer.data.presentation_id, option_ids: summary.answer.data.option_ids }, flow_token: token });
    expect(done.answer.screen).toBe('SUCCESS');
    const reply = done.answer.data.extension_message_response.params as Json;

    const [quantity] = await c.raw(flowReply(c.waId, reply, { id: `wamid.flow-${randomBytes(4).toString('hex')}`, contextId: sent!.raw.messageId }));
    expect(quantity!.text).toContain('KES 1,900');
    const [added, cart] = await c.say('2', 2);
    expect(added!.text).toContain('Margherita Pizza');
    expect(cart!.text).toContain('KES 3,800');
    const order = await orderOf(c);
    expect(order.items).toEqual([expect.objectContaining({ productId: PIZZA, quantity: 2, unitPrice: 190000, lineTotal: 380000 })]);
  });

  it('a forged, stale or another customer\'s flow_token is refused politely and changes nothing', async () => {
    const c = new Customer(duka, NAIROBI, '254712366002');
    await c.say('hi');
    await c.tap('add:nairobi-coffee');
    await c.say('1', 2);
    const before = await orderOf(c);
    expect(before.items).toHaveLength(1);

    const choice = { productId: PIZZA, presentationId: 'nairobi-pizza-large', optionIds: ['nairobi-pizza-crust-crust-thin'] };
    const secret = duka.config.customerRefSecret;
    const tokens = {
      forged: mintFlowToken({ shopId: 'nairobi', subject: PIZZA, customerRef: duka.customerRef(c.waId) }, 'not-duka-s-secret'),
      stale: mintFlowToken({ shopId: 'nairobi', subject: PIZZA, customerRef: duka.customerRef(c.waId), now: Date.now() - 2 * 24 * 3600_000 }, secret),
      someoneElse: mintFlowToken({ shopId: 'nairobi', subject: PIZZA, customerRef: duka.customerRef('254712399999') }, secret),
      otherProduct: mintFlowToken({ shopId: 'nairobi', subject: 'nairobi-coffee', customerRef: duka.customerRef(c.waId) }, secret),
      missing: undefined,
    };
    for (const [why, flowToken] of Object.entries(tokens)) {
      const [answer] = await c.raw(flowReply(c.waId, { ...choice, ...(flowToken ? { flow_token: flowToken } : {}) }, `wamid.forged-${why}-${randomBytes(3).toString('hex')}`));
      expect([why, answer!.text]).toEqual([why, expect.stringContaining('no longer valid')]);
    }
    const after = await orderOf(c);
    expect(after.items).toEqual(before.items);
    expect(after.subtotal).toBe(before.subtotal);

    // The data endpoint refuses them too (427), before reading anything.
    for (const flowToken of [tokens.forged, tokens.stale]) {
      const refused = await exchange({ action: 'INIT', flow_token: flowToken });
      expect(refused.status).toBe(427);
    }
  });

  it('the payment form (seed 000) comes beside the payment buttons, and its answer pays from the number typed in it', async () => {
    const c = new Customer(duka, NAIROBI, '254712366004');
    await c.say('hi');
    await c.tap('add:nairobi-coffee');
    await c.say('1', 2);
    const [fulfilment] = await c.tap('cart:checkout');
    expect(fulfilment!.ids).toContain('ful:pickup');
    const [summary] = await c.tap('ful:pickup');
    expect(summary!.ids).toContain('order:confirm');
    const [form, buttons] = await c.tap('order:confirm', 'Confirm', 2);
    expect(buttons!.ids.length).toBeGreaterThan(0);
    const params = (form!.raw.body as Json).interactive.action.parameters as Json;
    const orderNumber = (await orderOf(c)).orderNumber as string;
    expect(params).toMatchObject({
      flow_action: 'navigate',
      flow_id: meta.published('duka: payment details')!.id,
      flow_action_payload: { screen: 'PAYMENT', data: { order_number: orderNumber, amount: 'KES 1,500', methods: [{ id: 'mpesa', title: 'M-Pesa' }], default_method: 'mpesa' } },
    });
    expect(params.flow_token).toContain(`:o:nairobi:${orderNumber}:${duka.customerRef(c.waId)}:`);

    // A form for another order (someone else's token) is refused and nothing is paid.
    const foreign = mintFlowToken({ kind: 'payment', shopId: 'nairobi', subject: orderNumber, customerRef: duka.customerRef('254712399998') }, duka.config.customerRefSecret);
    const [refused] = await c.raw(flowReply(c.waId, { order_number: orderNumber, method: 'mpesa', phone: '0712345678', email: '', flow_token: foreign }, `wamid.pay-forged-${randomBytes(3).toString('hex')}`));
    expect(refused!.text).toContain('no longer valid');
    expect((await orderOf(c)).status).toBe('CHECKOUT');

    const [paying] = await c.raw(flowReply(c.waId, { order_number: orderNumber, method: 'mpesa', phone: '0722 000 111', email: '', flow_token: params.flow_token }, `wamid.pay-${randomBytes(3).toString('hex')}`));
    expect(paying!.text).toMatch(/M-Pesa/);
    expect(paying!.text).not.toContain('0722000111');
    for (const deadline = Date.now() + 15_000; (await orderOf(c)).status === 'CHECKOUT' && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 200));
    expect((await orderOf(c)).status).not.toBe('CHECKOUT');
  });

  it('a shop without a published Flow keeps the chat steps', async () => {
    await duka.orm.em.getConnection().execute("delete from whatsapp_flow where shop_id = 'nairobi' and kind = 'customise'");
    const c = new Customer(duka, NAIROBI, '254712366003');
    await c.say('hi');
    const [sizes] = await c.tap(`add:${PIZZA}`, 'Add to cart');
    expect(sizes!.ids).toEqual(['size:nairobi-pizza-small', 'size:nairobi-pizza-medium', 'size:nairobi-pizza-large']);
  });
});
