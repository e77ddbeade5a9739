import { describe, expect, it } from '@jest/globals';
import { InvalidWebhookError, parseWebhook, verifyChallenge } from '../../providers/whatsapp/webhook.ts';
import { buildInboundWebhook, buttonReply, orderMessage, statusUpdate, textMessage } from '../fakes/graph-api.ts';

const PHONE_ID = '104900000000001';
const METADATA = { display_phone_number: '263771000001', phone_number_id: PHONE_ID };
const CONTACTS = [{ profile: { name: 'Tendai M' }, wa_id: '263772000002' }];

function envelope(...values: Record<string, unknown>[]) {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: 'WABA_ID', changes: values.map((value) => ({ field: 'messages', value })) }],
  };
}

function value(messages: unknown[]) {
  return { messaging_product: 'whatsapp', metadata: METADATA, contacts: CONTACTS, messages };
}

function single(message: Record<string, unknown>) {
  const parsed = parseWebhook(envelope(value([message])));
  expect(parsed.messages).toHaveLength(1);
  return parsed.messages[0]!;
}

describe('parseWebhook: inbound types (protocols.md §1.5)', () => {
  it('text', () => {
    const message = single({
      from: '263772000002', id: 'wamid.HBgM...AA==', timestamp: '1733001000',
      type: 'text', text: { body: 'Hi, do you deliver to Avondale?' },
    });
    expect(message).toEqual({
      id: 'wamid.HBgM...AA==',
      phoneNumberId: PHONE_ID,
      from: '263772000002',
      contactName: 'Tendai M',
      timestamp: 1733001000_000,
      content: { kind: 'text', text: 'Hi, do you deliver to Avondale?' },
    });
  });

  it('interactive button_reply', () => {
    const message = single({
      context: { from: '263771000001', id: 'wamid.OUTBOUND_MSG_ID' },
      from: '263772000002', id: 'wamid.INBOUND_ID', timestamp: '1733001060', type: 'interactive',
      interactive: { type: 'button_reply', button_reply: { id: 'pay_ecocash', title: 'EcoCash' } },
    });
    expect(message.contextId).toBe('wamid.OUTBOUND_MSG_ID');
    expect(message.content).toEqual({ kind: 'button', id: 'pay_ecocash', title: 'EcoCash' });
  });

  it('interactive list_reply', () => {
    const message = single({
      context: { from: '263771000001', id: 'wamid.OUTBOUND_LIST_ID' },
      from: '263772000002', id: 'wamid.INBOUND_ID2', timestamp: '1733001120', type: 'interactive',
      interactive: { type: 'list_reply', list_reply: { id: 'ship_express', title: 'Express delivery', description: 'Same day in Harare' } },
    });
    expect(message.content).toEqual({ kind: 'list', id: 'ship_express', title: 'Express delivery', description: 'Same day in Harare' });
  });

  it('interactive nfm_reply parses response_json, and invalid JSON becomes {}', () => {
    const flow = (responseJson: string) =>
      single({
        context: { from: '263771000001', id: 'wamid.FLOW_MSG_ID' },
        from: '263772000002', id: 'wamid.INBOUND_ID3', timestamp: '1733001180', type: 'interactive',
        interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow', body: 'Sent', response_json: responseJson } },
      }).content;
    expect(flow('{"flow_token":"ft_7f3c...","delivery_address":"12 Fife Ave","slot":"14:00"}')).toEqual({
      kind: 'flow', name: 'flow', response: { flow_token: 'ft_7f3c...', delivery_address: '12 Fife Ave', slot: '14:00' },
    });
    expect(flow('{not json')).toEqual({ kind: 'flow', name: 'flow', response: {} });
    expect(flow('[1,2]')).toEqual({ kind: 'flow', name: 'flow', response: {} });
  });

  it('order with numbers', () => {
    const message = single({
      from: '263772000002', id: 'wamid.ORDER_ID', timestamp: '1733001240', type: 'order',
      order: {
        catalog_id: '194836987003835', text: 'Please deliver after 5pm',
        product_items: [
          { product_retailer_id: 'SKU-MAIZE-10KG', quantity: 2, item_price: 7.99, currency: 'USD' },
          { product_retailer_id: 'SKU-OIL-2L', quantity: 1, item_price: 4.5, currency: 'USD' },
        ],
      },
    });
    expect(message.content).toEqual({
      kind: 'order', catalogId: '194836987003835', note: 'Please deliver after 5pm',
      items: [
        { retailerId: 'SKU-MAIZE-10KG', quantity: 2, itemPrice: 7.99, currency: 'USD' },
        { retailerId: 'SKU-OIL-2L', quantity: 1, itemPrice: 4.5, currency: 'USD' },
      ],
    });
  });

  it('order with numeric strings, no note and no price', () => {
    const message = single({
      from: '263772000002', id: 'wamid.ORDER_ID2', timestamp: '1733001241', type: 'order',
      context: { from: '263771000001', id: 'wamid.PRODUCT_LIST_ID' },
      order: { catalog_id: '194836987003835', product_items: [
        { product_retailer_id: 'SKU-MAIZE-10KG', quantity: '3', item_price: '7.99', currency: 'USD' },
        { product_retailer_id: 'SKU-SOAP-6', quantity: '1' },
      ] },
    });
    expect(message.contextId).toBe('wamid.PRODUCT_LIST_ID');
    expect(message.content).toEqual({
      kind: 'order', catalogId: '194836987003835',
      items: [
        { retailerId: 'SKU-MAIZE-10KG', quantity: 3, itemPrice: 7.99, currency: 'USD' },
        { retailerId: 'SKU-SOAP-6', quantity: 1 },
      ],
    });
  });

  it('location', () => {
    const message = single({
      from: '263772000002', id: 'wamid.LOC_ID', timestamp: '1733001300', type: 'location',
      location: { latitude: -17.8047, longitude: 31.0442, name: "Sam Levy's Village", address: 'Borrowdale, Harare', url: 'https://x.example' },
    });
    expect(message.content).toEqual({
      kind: 'location', latitude: -17.8047, longitude: 31.0442, name: "Sam Levy's Village", address: 'Borrowdale, Harare',
    });
    const bare = single({ from: '263772000002', id: 'wamid.LOC_ID2', timestamp: '1733001301', type: 'location', location: { latitude: -1.28, longitude: 36.82 } });
    expect(bare.content).toEqual({ kind: 'location', latitude: -1.28, longitude: 36.82 });
  });

  it('template quick-reply button (type "button")', () => {
    const message = single({
      context: { from: '263771000001', id: 'wamid.TEMPLATE_MSG_ID' },
      from: '263772000002', id: 'wamid.BTN_ID', timestamp: '1733001360', type: 'button',
      button: { text: 'Reorder', payload: 'REORDER_ORDER_8841' },
    });
    expect(message.content).toEqual({ kind: 'template_button', payload: 'REORDER_ORDER_8841', text: 'Reorder' });
    expect(message.contextId).toBe('wamid.TEMPLATE_MSG_ID');
  });

  it('product enquiry keeps the referred product', () => {
    const message = single({
      from: '263772000002', id: 'wamid.Q_ID', timestamp: '1733001420', type: 'text',
      text: { body: 'Is this available in 5kg?' },
      context: { from: '263771000001', id: 'wamid.PRODUCT_MSG_ID', referred_product: { catalog_id: '194836987003835', product_retailer_id: 'SKU-MAIZE-10KG' } },
    });
    expect(message.content).toEqual({ kind: 'text', text: 'Is this available in 5kg?' });
    expect(message.contextId).toBe('wamid.PRODUCT_MSG_ID');
    expect(message.referredProduct).toEqual({ catalogId: '194836987003835', retailerId: 'SKU-MAIZE-10KG' });
  });

  it.each(['image', 'audio', 'video', 'document', 'sticker'])('media: %s', (type) => {
    const message = single({
      from: '263772000002', id: `wamid.${type}`, timestamp: '1733001450', type,
      [type]: { id: 'MEDIA_ID', mime_type: 'application/octet-stream', sha256: 'abc', ...(type === 'image' && { caption: 'Receipt' }) },
    });
    expect(message.content).toEqual({ kind: 'media', mediaType: type, ...(type === 'image' && { caption: 'Receipt' }) });
  });

  it('unknown, reaction, contacts and system become unsupported', () => {
    const unknown = single({
      from: '263772000002', id: 'wamid.U1', timestamp: '1733001460', type: 'unknown',
      errors: [{ code: 130501, title: 'Unsupported message type', details: 'Message type is not currently supported' }],
    });
    expect(unknown.content).toEqual({ kind: 'unsupported', type: 'unknown' });
    const reaction = single({ from: '263772000002', id: 'wamid.U2', timestamp: '1733001461', type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '👍' } });
    expect(reaction.content).toEqual({ kind: 'unsupported', type: 'reaction' });
    const contacts = single({ from: '263772000002', id: 'wamid.U3', timestamp: '1733001462', type: 'contacts', contacts: [{ name: { formatted_name: 'A' } }] });
    expect(contacts.content).toEqual({ kind: 'unsupported', type: 'contacts' });
    const other = single({ from: '263772000002', id: 'wamid.U4', timestamp: '1733001463', type: 'interactive', interactive: { type: 'call_permission_reply', call_permission_reply: {} } });
    expect(other.content).toEqual({ kind: 'unsupported', type: 'interactive.call_permission_reply' });
  });
});

describe('parseWebhook: batches, statuses and robustness', () => {
  it('iterates every entry, change and message, skipping non-message fields', () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'WABA_1',
          changes: [
            { field: 'messages', value: value([textMessage('263772000002', 'one', 'wamid.1'), textMessage('263772000002', 'two', 'wamid.2')]) },
            { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 1 } },
          ],
        },
        {
          id: 'WABA_2',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '254700000001', phone_number_id: 'PHONE_KE' },
                contacts: [{ profile: { name: 'Wanjiru' }, wa_id: '254711000000' }],
                messages: [textMessage('254711000000', 'three', 'wamid.3')],
                statuses: [statusUpdate('wamid.OUT', 'delivered', '254711000000', undefined, 1733001500)],
              },
            },
          ],
        },
      ],
    };
    const parsed = parseWebhook(body);
    expect(parsed.messages.map((m) => [m.id, m.phoneNumberId, m.contactName, m.content])).toEqual([
      ['wamid.1', PHONE_ID, 'Tendai M', { kind: 'text', text: 'one' }],
      ['wamid.2', PHONE_ID, 'Tendai M', { kind: 'text', text: 'two' }],
      ['wamid.3', 'PHONE_KE', 'Wanjiru', { kind: 'text', text: 'three' }],
    ]);
    expect(parsed.statuses).toEqual([
      { messageId: 'wamid.OUT', phoneNumberId: 'PHONE_KE', recipientId: '254711000000', status: 'delivered', timestamp: 1733001500_000 },
    ]);
  });

  it('maps statuses, including failures with errors, and ignores pricing/conversation', () => {
    const parsed = parseWebhook(
      envelope({
        messaging_product: 'whatsapp',
        metadata: METADATA,
        statuses: [
          {
            id: 'wamid.OUTBOUND_ID', status: 'delivered', timestamp: '1733001500', recipient_id: '263772000002',
            conversation: { id: 'CONVERSATION_ID', expiration_timestamp: '1733087900', origin: { type: 'service' } },
            pricing: { billable: true, pricing_model: 'CBP', category: 'service' },
          },
          {
            id: 'wamid.OUTBOUND_ID2', status: 'failed', timestamp: '1733001560', recipient_id: '263772000002',
            errors: [{
              code: 131047, title: 'Re-engagement message', message: 'Re-engagement message',
              error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
              href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
            }],
          },
          { id: 'wamid.OUTBOUND_ID3', status: 'failed', timestamp: '1733001570', recipient_id: '263772000002', errors: [{ code: 131014, title: 'Request for url https://URL.jpg failed with error: 404 (Not Found)' }] },
        ],
      }),
    );
    expect(parsed.messages).toEqual([]);
    expect(parsed.statuses).toEqual([
      { messageId: 'wamid.OUTBOUND_ID', phoneNumberId: PHONE_ID, recipientId: '263772000002', status: 'delivered', timestamp: 1733001500_000 },
      {
        messageId: 'wamid.OUTBOUND_ID2', phoneNumberId: PHONE_ID, recipientId: '263772000002', status: 'failed', timestamp: 1733001560_000,
        errors: [{ code: 131047, title: 'Re-engagement message', message: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' }],
      },
      {
        messageId: 'wamid.OUTBOUND_ID3', phoneNumberId: PHONE_ID, recipientId: '263772000002', status: 'failed', timestamp: 1733001570_000,
        errors: [{ code: 131014, title: 'Request for url https://URL.jpg failed with error: 404 (Not Found)' }],
      },
    ]);
  });

  it('keeps the biz_opaque_callback_data Meta echoes on a status (the send intent it names)', () => {
    const parsed = parseWebhook(
      envelope({
        messaging_product: 'whatsapp',
        metadata: METADATA,
        statuses: [{ ...statusUpdate('wamid.OUT', 'sent', '263772000002', undefined, 1733001500), biz_opaque_callback_data: 'dk1.intent' }],
      }),
    );
    expect(parsed.statuses).toEqual([
      { messageId: 'wamid.OUT', phoneNumberId: PHONE_ID, recipientId: '263772000002', status: 'sent', timestamp: 1733001500_000, callbackData: 'dk1.intent' },
    ]);
  });

  it('ignores unknown fields at every level', () => {
    const body = envelope({
      ...value([{ ...textMessage('263772000002', 'hello', 'wamid.X'), user_id: 'BSUID.1', brand_new: { nested: true } }]),
      brand_new_field: 42,
      contacts: [{ profile: { name: 'Tendai M', extra: 1 }, wa_id: '263772000002', identity_key_hash: 'abc', user_id: 'BSUID.1' }],
    });
    (body as Record<string, unknown>).extra = 'x';
    (body.entry[0] as Record<string, unknown>).time = 1733001000;
    const parsed = parseWebhook(body);
    expect(parsed.messages[0]).toMatchObject({ id: 'wamid.X', contactName: 'Tendai M', content: { kind: 'text', text: 'hello' } });
  });

  it('turns one malformed message into unsupported and keeps the rest of the batch', () => {
    const parsed = parseWebhook(
      envelope(
        value([
          { from: '263772000002', id: 'wamid.BAD1', timestamp: '1733001000', type: 'text', text: { body: 42 } },
          { from: '263772000002', id: 'wamid.BAD2', timestamp: '1733001000', type: 'order', order: { catalog_id: 'C', product_items: [{ product_retailer_id: 'A', quantity: 'lots' }] } },
          { from: '263772000002', id: 'wamid.BAD3', timestamp: '1733001000', type: 'location', location: { latitude: 'north' } },
          { from: '263772000002', id: 'wamid.BAD4', timestamp: '1733001000', type: 'interactive', interactive: { type: 'button_reply' } },
          { from: '263772000002', timestamp: '1733001000', type: 'text', text: { body: 'no id: cannot be de-duplicated' } },
          textMessage('263772000002', 'fine', 'wamid.OK'),
        ]),
      ),
    );
    expect(parsed.messages.map((m) => [m.id, m.content])).toEqual([
      ['wamid.BAD1', { kind: 'unsupported', type: 'text' }],
      ['wamid.BAD2', { kind: 'unsupported', type: 'order' }],
      ['wamid.BAD3', { kind: 'unsupported', type: 'location' }],
      ['wamid.BAD4', { kind: 'unsupported', type: 'interactive.button_reply' }],
      ['wamid.OK', { kind: 'text', text: 'fine' }],
    ]);
  });

  it('falls back to the only contact when wa_id differs from from', () => {
    const body = envelope({ messaging_product: 'whatsapp', metadata: METADATA, contacts: [{ profile: { name: 'Tendai M' }, wa_id: '263772999999' }], messages: [textMessage('263772000002', 'hi', 'wamid.Y')] });
    expect(parseWebhook(body).messages[0]!.contactName).toBe('Tendai M');
  });

  it('throws InvalidWebhookError on a malformed envelope, naming the problem', () => {
    expect(() => parseWebhook(null)).toThrow(InvalidWebhookError);
    expect(() => parseWebhook({ object: 'whatsapp_business_account' })).toThrow(/entry/);
    expect(() => parseWebhook({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: 'nope' }] })).toThrow(/entry\[0\]\.changes/);
    expect(() => parseWebhook(envelope({ messaging_product: 'whatsapp', messages: [] }))).toThrow(/entry\[0\]\.changes\[0\]\.value\.metadata/);
    expect(() => parseWebhook(envelope({ metadata: METADATA, messages: 'x' }))).toThrow(/value\.messages/);
    expect(() => parseWebhook('{truncated')).toThrow(/not JSON/);
  });

  it('accepts the raw body as a string or Buffer', () => {
    const { raw } = buildInboundWebhook({ phoneNumberId: PHONE_ID, from: '263772000002', name: 'Tendai M', messages: [buttonReply('263772000002', 'pay_ecocash', 'EcoCash')] });
    expect(parseWebhook(raw).messages[0]!.content).toEqual({ kind: 'button', id: 'pay_ecocash', title: 'EcoCash' });
    expect(parseWebhook(Buffer.from(raw)).messages).toHaveLength(1);
  });

  it('returns nothing for deliveries about other objects', () => {
    expect(parseWebhook({ object: 'page', entry: [] })).toEqual({ messages: [], statuses: [] });
  });

  it('round-trips the fake builders', () => {
    const { payload } = buildInboundWebhook({
      phoneNumberId: PHONE_ID, from: '263772000002', name: 'Tendai M',
      messages: [orderMessage('263772000002', 'CAT', [{ retailerId: 'SKU-1', quantity: '2', itemPrice: '1.50', currency: 'USD' }], 'gate 2', { id: 'wamid.O', timestamp: 1733001000 })],
    });
    expect(parseWebhook(payload).messages).toEqual([{
      id: 'wamid.O', phoneNumberId: PHONE_ID, from: '263772000002', contactName: 'Tendai M', timestamp: 1733001000_000,
      content: { kind: 'order', catalogId: 'CAT', note: 'gate 2', items: [{ retailerId: 'SKU-1', quantity: 2, itemPrice: 1.5, currency: 'USD' }] },
    }]);
  });
});

describe('verifyChallenge', () => {
  const query = { 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me', 'hub.challenge': '1158201444' };

  it('echoes the challenge when the token matches', () => {
    expect(verifyChallenge(query, 'verify-me')).toEqual({ ok: true, challenge: '1158201444' });
  });

  it('refuses a wrong token, a wrong mode, missing fields and an unconfigured token', () => {
    expect(verifyChallenge({ ...query, 'hub.verify_token': 'verify-me!' }, 'verify-me')).toEqual({ ok: false });
    expect(verifyChallenge({ ...query, 'hub.verify_token': 'v' }, 'verify-me')).toEqual({ ok: false });
    expect(verifyChallenge({ ...query, 'hub.mode': 'unsubscribe' }, 'verify-me')).toEqual({ ok: false });
    expect(verifyChallenge({ 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me' }, 'verify-me')).toEqual({ ok: false });
    expect(verifyChallenge({ ...query, 'hub.verify_token': ['verify-me'] }, 'verify-me')).toEqual({ ok: false });
    expect(verifyChallenge({ ...query, 'hub.verify_token': '' }, '')).toEqual({ ok: false });
  });
});
