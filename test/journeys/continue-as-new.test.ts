import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { textMessage } from '../fakes/graph-api.ts';
import { conversationQuery, inboundSignal } from '../../workflows/definitions.ts';

describe('a long conversation continues as new and carries its state', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'can' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('keeps the language, the open cart and the message de-duplication across runs', async () => {
    const c = new Customer(duka, NAIROBI, '254712399001');
    const id = duka.conversationId('nairobi', c.waId);
    // Started as the webhook would, but with a tiny history budget so a few messages force continue-as-new.
    await duka.client.workflow.signalWithStart('conversationWorkflow', {
      workflowId: id,
      taskQueue: duka.taskQueue,
      args: [{ shopId: 'nairobi', customerRef: duka.customerRef(c.waId), historyLimit: 30 }],
      signal: 'inbound',
      signalArgs: [{ id: 'wamid.can-0', phoneNumberId: NAIROBI, from: c.waId, timestamp: Date.now(), content: { kind: 'text', text: 'Habari' } }],
    });
    // The first reply of a cold worker on a busy machine: a generous deadline, still an observable event.
    const [menu] = await c.next(1, 30_000);
    expect(menu!.text).toContain('Karibu');
    const firstRun = (await duka.client.workflow.getHandle(id).describe()).runId;

    await c.tap('add:nairobi-soap');
    await c.say('2', 2);
    await c.say('menyu');
    const [cart] = await c.tap('menu:cart');
    expect(cart!.text).toContain('Kikapu');

    const now = await duka.client.workflow.getHandle(id).describe();
    expect(now.runId).not.toBe(firstRun);
    const view = await duka.client.workflow.getHandle(id).query(conversationQuery);
    expect(view.language).toBe('sw');
    expect(view.activeOrder).toMatch(/^NBO-/);

    // A redelivery of a message the previous run handled is still recognised.
    const before = duka.graph.sent.filter((s) => s.to === c.waId).length;
    await duka.client.workflow.getHandle(id).signal(inboundSignal, { id: 'wamid.can-0', phoneNumberId: NAIROBI, from: c.waId, timestamp: Date.now(), content: { kind: 'text', text: 'Habari' } });
    await duka.deliver(NAIROBI, [textMessage(c.waId, 'kikapu', 'wamid.can-last')]);
    await c.next(1);
    expect(duka.graph.sent.filter((s) => s.to === c.waId).length).toBe(before + 1);
  });
});
