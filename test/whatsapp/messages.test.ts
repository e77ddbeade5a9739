import { describe, expect, it } from '@jest/globals';
import { paginateRows } from '../../domain/outbound.ts';
import type { ListRow, OutboundMessage } from '../../domain/outbound.ts';
import { UnsendableMessageError, toGraphMessage, toGraphReadReceipt } from '../../providers/whatsapp/messages.ts';

const TO = '263772000002';
const ENVELOPE = { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO };

function interactiveOf(msg: OutboundMessage): Record<string, unknown> {
  const body = toGraphMessage(TO, msg);
  expect(body).toMatchObject({ ...ENVELOPE, type: 'interactive' });
  return body.interactive as Record<string, unknown>;
}

describe('toGraphMessage: documented shapes (protocols.md §1.6)', () => {
  it('text', () => {
    expect(toGraphMessage(TO, { kind: 'text', body: 'Order #8841 received. Total USD 20.48' })).toEqual({
      ...ENVELOPE, type: 'text', text: { preview_url: false, body: 'Order #8841 received. Total USD 20.48' },
    });
    expect(toGraphMessage(TO, { kind: 'text', body: 'https://duka.example/o/1', previewUrl: true })).toMatchObject({ text: { preview_url: true } });
  });

  it('reply buttons', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'buttons',
        header: { text: 'Choose payment' },
        body: 'Order #8841 – USD 20.48. How would you like to pay?',
        footer: 'Secure checkout',
        buttons: [
          { id: 'pay_ecocash', title: 'EcoCash' },
          { id: 'pay_omari', title: "O'mari" },
          { id: 'pay_card', title: 'Card / link' },
        ],
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'button',
        header: { type: 'text', text: 'Choose payment' },
        body: { text: 'Order #8841 – USD 20.48. How would you like to pay?' },
        footer: { text: 'Secure checkout' },
        action: { buttons: [
          { type: 'reply', reply: { id: 'pay_ecocash', title: 'EcoCash' } },
          { type: 'reply', reply: { id: 'pay_omari', title: "O'mari" } },
          { type: 'reply', reply: { id: 'pay_card', title: 'Card / link' } },
        ] },
      },
    });
  });

  it('reply buttons with an image header and no footer', () => {
    expect(interactiveOf({ kind: 'buttons', header: { imageUrl: 'https://cdn.example/maize.jpg' }, body: 'Add to cart?', buttons: [{ id: 'add', title: 'Add' }] })).toEqual({
      type: 'button',
      header: { type: 'image', image: { link: 'https://cdn.example/maize.jpg' } },
      body: { text: 'Add to cart?' },
      action: { buttons: [{ type: 'reply', reply: { id: 'add', title: 'Add' } }] },
    });
  });

  it('list', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'list',
        header: 'Delivery options',
        body: 'Pick a delivery slot for order #8841',
        footer: 'Prices include VAT',
        button: 'See options',
        sections: [
          { title: 'Harare', rows: [
            { id: 'ship_express', title: 'Express (today)', description: 'USD 3.00, before 6pm' },
            { id: 'ship_std', title: 'Standard', description: 'USD 1.50, next day' },
          ] },
          { title: 'Collect', rows: [{ id: 'ship_pickup', title: 'Pick up in store', description: 'Free' }] },
        ],
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'list',
        header: { type: 'text', text: 'Delivery options' },
        body: { text: 'Pick a delivery slot for order #8841' },
        footer: { text: 'Prices include VAT' },
        action: {
          button: 'See options',
          sections: [
            { title: 'Harare', rows: [
              { id: 'ship_express', title: 'Express (today)', description: 'USD 3.00, before 6pm' },
              { id: 'ship_std', title: 'Standard', description: 'USD 1.50, next day' },
            ] },
            { title: 'Collect', rows: [{ id: 'ship_pickup', title: 'Pick up in store', description: 'Free' }] },
          ],
        },
      },
    });
  });

  it('single product', () => {
    expect(toGraphMessage(TO, { kind: 'product', body: 'Back in stock', footer: 'Tap to view', catalogId: '194836987003835', retailerId: 'SKU-MAIZE-10KG' })).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: { type: 'product', body: { text: 'Back in stock' }, footer: { text: 'Tap to view' }, action: { catalog_id: '194836987003835', product_retailer_id: 'SKU-MAIZE-10KG' } },
    });
    expect(interactiveOf({ kind: 'product', catalogId: 'C', retailerId: 'S' })).toEqual({ type: 'product', action: { catalog_id: 'C', product_retailer_id: 'S' } });
  });

  it('product_list', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'product_list',
        header: 'Weekly specials',
        body: 'Add items to your cart and send it to us',
        footer: 'Prices in USD',
        catalogId: '194836987003835',
        sections: [
          { title: 'Groceries', retailerIds: ['SKU-MAIZE-10KG', 'SKU-OIL-2L'] },
          { title: 'Household', retailerIds: ['SKU-SOAP-6'] },
        ],
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'product_list',
        header: { type: 'text', text: 'Weekly specials' },
        body: { text: 'Add items to your cart and send it to us' },
        footer: { text: 'Prices in USD' },
        action: { catalog_id: '194836987003835', sections: [
          { title: 'Groceries', product_items: [{ product_retailer_id: 'SKU-MAIZE-10KG' }, { product_retailer_id: 'SKU-OIL-2L' }] },
          { title: 'Household', product_items: [{ product_retailer_id: 'SKU-SOAP-6' }] },
        ] },
      },
    });
  });

  it('catalog message, with and without a thumbnail', () => {
    expect(toGraphMessage(TO, { kind: 'catalog', body: 'Browse our full catalog and send us your cart.', footer: 'Free delivery over USD 30', thumbnailRetailerId: 'SKU-MAIZE-10KG' })).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'catalog_message',
        body: { text: 'Browse our full catalog and send us your cart.' },
        action: { name: 'catalog_message', parameters: { thumbnail_product_retailer_id: 'SKU-MAIZE-10KG' } },
        footer: { text: 'Free delivery over USD 30' },
      },
    });
    expect(interactiveOf({ kind: 'catalog', body: 'Browse' })).toEqual({ type: 'catalog_message', body: { text: 'Browse' }, action: { name: 'catalog_message' } });
  });

  it('cta_url', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'cta_url', header: { text: 'Pay for order #8841' }, body: 'Tap below to pay USD 20.48 securely.', footer: 'Link expires in 30 min',
        displayText: 'Pay now', url: 'https://pay.example.com/o/8841?t=abc',
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'cta_url',
        header: { type: 'text', text: 'Pay for order #8841' },
        body: { text: 'Tap below to pay USD 20.48 securely.' },
        footer: { text: 'Link expires in 30 min' },
        action: { name: 'cta_url', parameters: { display_text: 'Pay now', url: 'https://pay.example.com/o/8841?t=abc' } },
      },
    });
  });

  it('flow, navigate and data_exchange', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'flow', header: 'Checkout', body: 'Confirm delivery details for order #8841', footer: 'Takes 30 seconds',
        flowId: '1234567890123456', flowToken: 'ft_7f3c9a0e2b', cta: 'Checkout', screen: 'DELIVERY', data: { order_id: '8841' },
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'interactive',
      interactive: {
        type: 'flow',
        header: { type: 'text', text: 'Checkout' },
        body: { text: 'Confirm delivery details for order #8841' },
        footer: { text: 'Takes 30 seconds' },
        action: { name: 'flow', parameters: {
          flow_message_version: '3', flow_token: 'ft_7f3c9a0e2b', flow_id: '1234567890123456', flow_cta: 'Checkout',
          flow_action: 'navigate', flow_action_payload: { screen: 'DELIVERY', data: { order_id: '8841' } },
        } },
      },
    });
    const exchange = interactiveOf({ kind: 'flow', body: 'Address', flowId: 'F', flowToken: 'T', cta: '📦 Deliver here' });
    expect(exchange.action).toEqual({ name: 'flow', parameters: { flow_message_version: '3', flow_token: 'T', flow_id: 'F', flow_cta: 'Deliver here', flow_action: 'data_exchange' } });
    expect(() => toGraphMessage(TO, { kind: 'flow', body: 'x', flowId: 'F', flowToken: 'T', cta: 'Go', data: { a: 1 } })).toThrow(UnsendableMessageError);
  });

  it('image', () => {
    expect(toGraphMessage(TO, { kind: 'image', url: 'https://cdn.example/receipt.png', caption: 'Your receipt' })).toEqual({
      ...ENVELOPE, type: 'image', image: { link: 'https://cdn.example/receipt.png', caption: 'Your receipt' },
    });
    expect(() => toGraphMessage(TO, { kind: 'image', url: 'not a url' })).toThrow(UnsendableMessageError);
  });

  it('template with body parameters and quick-reply payloads', () => {
    expect(
      toGraphMessage(TO, {
        kind: 'template', name: 'order_ready', languageCode: 'en',
        bodyParams: ['Tendai', '#8841\nready'], buttons: [{ index: 0, payload: 'REORDER_ORDER_8841' }],
      }),
    ).toEqual({
      ...ENVELOPE,
      type: 'template',
      template: {
        name: 'order_ready',
        language: { code: 'en' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: 'Tendai' }, { type: 'text', text: '#8841 ready' }] },
          { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'REORDER_ORDER_8841' }] },
        ],
      },
    });
    expect(toGraphMessage(TO, { kind: 'template', name: 'hello_world', languageCode: 'en_US' })).toEqual({
      ...ENVELOPE, type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } },
    });
  });

  it('read receipt with optional typing indicator', () => {
    expect(toGraphReadReceipt('wamid.INBOUND_ID')).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.INBOUND_ID' });
    expect(toGraphReadReceipt('wamid.INBOUND_ID', true)).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.INBOUND_ID', typing_indicator: { type: 'text' } });
  });
});

describe('toGraphMessage: limits by construction', () => {
  it('keeps the first 3 of 4 buttons', () => {
    const interactive = interactiveOf({
      kind: 'buttons', body: 'Pay with?',
      buttons: ['a', 'b', 'c', 'd'].map((id) => ({ id, title: id.toUpperCase() })),
    });
    expect((interactive.action as { buttons: { reply: { id: string } }[] }).buttons.map((b) => b.reply.id)).toEqual(['a', 'b', 'c']);
  });

  it('shortens a 25-character button title to 20 at a word boundary', () => {
    const title = 'Cash on delivery (Harare)';
    expect(title).toHaveLength(25);
    const interactive = interactiveOf({ kind: 'buttons', body: 'Pay with?', buttons: [{ id: 'cod', title }] });
    expect((interactive.action as { buttons: { reply: { title: string } }[] }).buttons[0]!.reply.title).toBe('Cash on delivery…');
  });

  it('keeps shortened titles distinct', () => {
    const interactive = interactiveOf({
      kind: 'buttons', body: 'Size?',
      buttons: [
        { id: 's1', title: 'Large pepperoni pizza A' },
        { id: 's2', title: 'Large pepperoni pizza B' },
        { id: 's3', title: 'Extra-large family pie' },
      ],
    });
    const titles = (interactive.action as { buttons: { reply: { title: string } }[] }).buttons.map((b) => b.reply.title);
    expect('Extra-large family pie'.length).toBeGreaterThan(20);
    for (const t of titles) expect(t.length).toBeLessThanOrEqual(20);
    expect(new Set(titles).size).toBe(3);
    expect(titles[0]).toBe('Large pepperoni…');
    expect(titles[1]).toBe('Large pepperoni… 2');
    expect(titles[2]).toBe('Extra-large family…');
  });

  it('shortens every limited field', () => {
    const long = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');
    const list = interactiveOf({
      kind: 'list', header: long(30), body: long(400), footer: long(30), button: long(10),
      sections: [{ title: long(10), rows: [{ id: 'r1', title: long(10), description: long(30) }] }],
    });
    const action = list.action as { button: string; sections: { title: string; rows: { title: string; description: string }[] }[] };
    expect((list.header as { text: string }).text.length).toBeLessThanOrEqual(60);
    expect((list.body as { text: string }).text.length).toBeLessThanOrEqual(1024);
    expect((list.footer as { text: string }).text.length).toBeLessThanOrEqual(60);
    expect(action.button.length).toBeLessThanOrEqual(20);
    expect(action.sections[0]!.title.length).toBeLessThanOrEqual(24);
    expect(action.sections[0]!.rows[0]!.title.length).toBeLessThanOrEqual(24);
    expect(action.sections[0]!.rows[0]!.description.length).toBeLessThanOrEqual(72);
    const text = toGraphMessage(TO, { kind: 'text', body: long(1000) }) as { text: { body: string } };
    expect(text.text.body.length).toBeLessThanOrEqual(4096);
    expect(text.text.body.endsWith('…')).toBe(true);
    const cta = interactiveOf({ kind: 'cta_url', body: 'b', displayText: 'Pay for your order now', url: 'https://x.example' });
    expect((cta.action as { parameters: { display_text: string } }).parameters.display_text.length).toBeLessThanOrEqual(20);
  });

  it('paginates 23 rows into 10 / 10 / 5 list messages', () => {
    const rows: ListRow[] = Array.from({ length: 23 }, (_, i) => ({ id: `sku_${i + 1}`, title: `Product number ${i + 1} in our shop` }));
    const counts = [0, 1, 2].map((page) => {
      const interactive = interactiveOf({ kind: 'list', body: 'Our products', button: 'View products', sections: [{ rows: paginateRows(rows, page, 'More products') }] });
      const sectionRows = (interactive.action as { sections: { rows: { id: string; title: string }[] }[] }).sections[0]!.rows;
      for (const r of sectionRows) expect(r.title.length).toBeLessThanOrEqual(24);
      return sectionRows;
    });
    expect(counts.map((r) => r.length)).toEqual([10, 10, 5]);
    expect(counts[0]![9]).toEqual({ id: 'more:1', title: 'More products' });
    expect(counts[1]![9]).toEqual({ id: 'more:2', title: 'More products' });
  });

  it('keeps the first 10 rows across sections and drops sections left empty', () => {
    const rows = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, title: `${prefix}${i}` }));
    const interactive = interactiveOf({ kind: 'list', body: 'b', button: 'Open', sections: [{ title: 'A', rows: rows('a', 6) }, { title: 'B', rows: rows('b', 6) }, { title: 'C', rows: rows('c', 2) }] });
    const sections = (interactive.action as { sections: { title: string; rows: unknown[] }[] }).sections;
    expect(sections.map((s) => [s.title, s.rows.length])).toEqual([['A', 6], ['B', 4]]);
  });

  it('keeps at most 30 products in at most 10 sections', () => {
    const sections = Array.from({ length: 12 }, (_, s) => ({ title: `S${s}`, retailerIds: Array.from({ length: 4 }, (_, i) => `sku-${s}-${i}`) }));
    const interactive = interactiveOf({ kind: 'product_list', header: 'All', body: 'b', catalogId: 'C', sections });
    const out = (interactive.action as { sections: { product_items: unknown[] }[] }).sections;
    expect(out.length).toBeLessThanOrEqual(10);
    expect(out.reduce((n, s) => n + s.product_items.length, 0)).toBe(30);
  });

  it('refuses what cannot be repaired', () => {
    const refuse = (msg: OutboundMessage) => expect(() => toGraphMessage(TO, msg)).toThrow(UnsendableMessageError);
    refuse({ kind: 'buttons', body: 'b', buttons: [] });
    refuse({ kind: 'buttons', body: '   ', buttons: [{ id: 'a', title: 'A' }] });
    refuse({ kind: 'buttons', body: 'b', buttons: [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }] });
    refuse({ kind: 'buttons', body: 'b', buttons: [{ id: 'x'.repeat(257), title: 'A' }] });
    refuse({ kind: 'list', body: 'b', button: 'Open', sections: [{ rows: [] }] });
    refuse({ kind: 'list', body: 'b', button: 'Open', sections: [{ rows: [{ id: 'x'.repeat(201), title: 'A' }] }] });
    refuse({ kind: 'list', body: 'b', button: 'Open', sections: [{ rows: [{ id: 'a', title: 'A' }] }, { rows: [{ id: 'b', title: 'B' }] }] });
    refuse({ kind: 'product_list', header: 'h', body: 'b', catalogId: 'C', sections: [{ title: 'S', retailerIds: [] }] });
    refuse({ kind: 'product_list', header: '', body: 'b', catalogId: 'C', sections: [{ title: 'S', retailerIds: ['a'] }] });
    refuse({ kind: 'cta_url', body: 'b', displayText: 'Pay', url: 'javascript:alert(1)' });
    refuse({ kind: 'text', body: '' });
    refuse({ kind: 'template', name: 't', languageCode: 'en', bodyParams: ['  '] });
    expect(() => toGraphMessage('', { kind: 'text', body: 'hi' })).toThrow(UnsendableMessageError);
  });
});
