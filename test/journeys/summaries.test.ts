import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { testDataConverter } from '../helpers/codec.ts';

const codec = testDataConverter().payloadCodecs![0]!;

describe('readable in the Temporal UI', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'summaries' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('labels activity calls and timers, and keeps phone numbers out of ids, summaries and search attributes', async () => {
    const c = new Customer(duka, NAIROBI, '254712377001');
    await c.say('hi');
    await c.tap('add:nairobi-soap');
    const [added] = await c.say('1', 2);
    const orderNumber = /NBO-\d+/.exec(JSON.stringify((await duka.orm.em.fork().getConnection().execute('select number from orders'))))?.[0];
    expect(added!.text).toContain('Handmade Soap');

    const summaries = async (workflowId: string) => {
      const history = await duka.client.workflow.getHandle(workflowId).fetchHistory();
      // Summaries are payloads, encrypted by the codec like every other (the UI decodes them through /codec).
      const payloads = (history.events ?? []).map((e) => e.userMetadata?.summary).filter((p) => p != null);
      return (await codec.decode(payloads)).map((p) => Buffer.from(p.data!).toString());
    };
    const conversation = await summaries(duka.conversationId('nairobi', c.waId));
    expect(conversation).toEqual(expect.arrayContaining([expect.stringContaining('reply: buttons'), expect.stringContaining(`order ${orderNumber}: addLine`)]));
    const order = await summaries(`order:${orderNumber}`);
    expect(order).toEqual(expect.arrayContaining([expect.stringContaining('cart reminder')]));

    for (const id of [duka.conversationId('nairobi', c.waId), `order:${orderNumber}`]) {
      const d = await duka.client.workflow.getHandle(id).describe();
      const visible = JSON.stringify([id, d.staticSummary, d.staticDetails, d.typedSearchAttributes, d.raw.workflowExecutionInfo?.memo]);
      expect(visible).not.toContain(c.waId);
    }
  });
});
