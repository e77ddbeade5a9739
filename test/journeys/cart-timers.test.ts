import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createActivities } from '../../activities/index.ts';
import type { Config } from '../../lib/config.ts';
import { startTimeSkippingDuka, type TimeSkippingDuka } from '../helpers/time-skipping-worker.ts';
import { Customer as CustomerRow, Order } from '../../db/entities.ts';
import { addLineUpdate, type OrderInput, type OrderView } from '../../workflows/definitions.ts';
import { describeSend } from '../helpers/chat.ts';

/** Reminder, expiry and the 24-hour window, on the time-skipping test server with real activities and PostgreSQL. */
describe('cart timers', () => {
  let duka: TimeSkippingDuka;
  let env: TimeSkippingDuka['env'];
  let db: TimeSkippingDuka['db'];
  let graph: TimeSkippingDuka['graph'];
  let config: Config;
  const taskQueue = 'timers';

  beforeAll(async () => {
    duka = await startTimeSkippingDuka({ label: 'cart_timers', taskQueue });
    ({ env, db, graph, config } = duka);
  });
  afterAll(async () => {
    await duka?.stop();
  });

  async function startOrder(orderNumber: string, waId: string, lastMessageAgoMs = 0): Promise<void> {
    const acts = createActivities({ orm: db.orm, whatsapp: null as never, temporal: env.client, config, payments: null as never });
    await acts.registerCustomer({ shopId: 'nairobi', waId, customerRef: `ref-${waId}`, at: Date.now() - lastMessageAgoMs });
    const shop = await acts.getShop('nairobi');
    const input: OrderInput = {
      orderNumber,
      shop,
      customerRef: `ref-${waId}`,
      language: 'en',
      source: 'whatsapp',
      timing: { cartReminderAfter: '1h', cartExpiresAfter: '24h', paymentTimeout: '3m', paymentLinkTimeout: '30m', pollInterval: '10s' },
    };
    const handle = await env.client.workflow.start('orderWorkflow', { taskQueue, workflowId: `order:${orderNumber}`, args: [input] });
    duka.started.push(handle);
    const added = await handle.executeUpdate(addLineUpdate, { args: [{ productId: 'nairobi-honey', optionIds: [], quantity: 2 }] });
    expect(added.ok).toBe(true);
  }

  it('reminds once after an hour of silence, then expires the cart after 24 hours with a message', async () => {
    await startOrder('NBO-T1', '254700000101');
    const handle = env.client.workflow.getHandle(`order:NBO-T1`);
    await env.sleep('59m');
    expect(graph.sent.filter((s) => s.to === '254700000101')).toHaveLength(0);
    await env.sleep('2m');
    const reminder = await graph.waitForSent((s) => s.to === '254700000101');
    expect(describeSend(reminder).text).toMatch(/left 1 item/);
    expect(describeSend(reminder).ids).toEqual(['cart:checkout', 'menu:cart']);

    await env.sleep('23h');
    const result = await handle.result();
    expect((result as OrderView).status).toBe('EXPIRED');
    const sent = graph.sent.filter((s) => s.to === '254700000101').map((s) => describeSend(s).text);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatch(/NBO-T1 has expired/);
    const row = await db.orm.em.fork().findOneOrFail(Order, { number: 'NBO-T1' });
    expect(row.status).toBe('EXPIRED');
  });

  it('sends the approved template when the 24-hour window has closed', async () => {
    await startOrder('NBO-T2', '254700000102', 30 * 3600_000);
    await env.sleep('61m');
    const reminder = await graph.waitForSent((s) => s.to === '254700000102');
    expect(reminder.body).toMatchObject({ type: 'template', template: { name: 'cart_reminder', language: { code: 'en' } } });
  });

  it('falls back to the template when Meta answers 131047 (re-engagement required)', async () => {
    await startOrder('NBO-T3', '254700000103');
    const em = db.orm.em.fork();
    const c = await em.findOneOrFail(CustomerRow, { ref: 'ref-254700000103' });
    expect(c.lastMessageAt).not.toBeNull();
    graph.failNext(1, { status: 400, code: 131047, message: 'Re-engagement message' });
    await env.sleep('61m');
    const reminder = await graph.waitForSent((s) => s.to === '254700000103');
    expect(reminder.body).toMatchObject({ type: 'template', template: { name: 'cart_reminder' } });
  });
});
