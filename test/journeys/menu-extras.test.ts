import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, HARARE, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';

/**
 * A shop's own main-menu entries (issue 9; seed 003's FAQs, seed 000's "Request installation"), entered through the
 * admin API and seen by customers at their next message: an answer, a link, and a request kept for the staff.
 */
describe("a shop's own menu entries", () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'menu_extras' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${duka.baseUrl}/api/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${duka.config.adminToken!}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  it('answers a FAQ, opens a link, and keeps a request for the staff until it is marked handled', async () => {
    const c = new Customer(duka, HARARE, '263771000551', 'Rudo');
    const [before] = await c.say('hi');
    expect(before!.ids.some((id) => id.startsWith('extra:'))).toBe(false);

    const patched = await admin('PATCH', '/shops/harare', {
      menuExtras: [
        { kind: 'faq', title: 'Opening hours', reply: 'Monday to Saturday, 8:00 to 20:00.' },
        { kind: 'faq', title: 'Warranty and manuals', reply: 'Two years on every panel.', url: 'https://example.com/manuals' },
        { kind: 'request', title: 'Request installation', prompt: 'Tell us your address and roof type.' },
      ],
    });
    expect(patched.status).toBe(200);

    // The open conversation sees the entries at its next message.
    const [menu] = await c.say('menu');
    expect(menu!.ids).toEqual(expect.arrayContaining(['menu:shop', 'menu:cart', 'extra:0', 'extra:1', 'extra:2']));
    expect(JSON.stringify(menu!.raw.body)).toContain('Request installation');

    const [hours] = await c.pick('extra:0', 'Opening hours');
    expect(hours!.text).toBe('Monday to Saturday, 8:00 to 20:00.');
    const [link] = await c.pick('extra:1', 'Warranty and manuals');
    expect(link!.raw.body).toMatchObject({ type: 'interactive', interactive: { type: 'cta_url', body: { text: 'Two years on every panel.' }, action: { parameters: { url: 'https://example.com/manuals' } } } });

    const [prompt] = await c.pick('extra:2', 'Request installation');
    expect(prompt!.text).toBe('Tell us your address and roof type.');
    const [thanks] = await c.say('12 Samora Machel Ave, tin roof facing north');
    expect(thanks!.text).toContain('has your request and will reply here');

    const listed = await admin('GET', '/shops/harare/requests?open=true');
    expect(listed.status).toBe(200);
    expect(listed.body.requests).toEqual([
      expect.objectContaining({ title: 'Request installation', text: '12 Samora Machel Ave, tin roof facing north', customerName: 'Rudo', customerRef: duka.customerRef(c.waId), handledAt: null }),
    ]);
    // The next text is an ordinary message again.
    const [after] = await c.say('menu');
    expect(after!.ids).toContain('extra:2');
    expect((await admin('GET', '/shops/harare/requests')).body.requests).toHaveLength(1);

    const id = listed.body.requests[0].id as string;
    const handled = await admin('PATCH', `/shops/harare/requests/${id}`, { handled: true });
    expect(handled.status).toBe(200);
    expect(handled.body.handledAt).toEqual(expect.any(String));
    expect((await admin('GET', '/shops/harare/requests?open=true')).body.requests).toEqual([]);
    expect((await admin('PATCH', `/shops/nairobi/requests/${id}`, { handled: true })).status).toBe(404);
    expect((await admin('PATCH', `/shops/harare/requests/${id}`, { handled: 'yes' })).status).toBe(400);
  });
});
