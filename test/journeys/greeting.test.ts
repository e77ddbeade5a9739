import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startDuka, NAIROBI, type Duka } from '../helpers/duka.ts';
import { textMessage } from '../fakes/graph-api.ts';
import { buildInboundWebhook } from '../fakes/graph-api.ts';

const CUSTOMER = '254712000001';

describe('thin journey: a signed "hi" reaches the conversation workflow and a greeting goes out', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'greeting' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('verifies the webhook subscription', async () => {
    const ok = await fetch(`${duka.baseUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=abc123`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('abc123');
    const bad = await fetch(`${duka.baseUrl}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=abc123`);
    expect(bad.status).toBe(403);
  });

  it('greets with menu buttons through the Graph API, once, with no phone number in the workflow id', async () => {
    const res = await duka.deliver(NAIROBI, [textMessage(CUSTOMER, 'hi', 'wamid.greet-1')], { name: 'Amina' });
    expect(res.status).toBe(200);
    const sent = await duka.graph.waitForSent((s) => s.to === CUSTOMER && (s.body as { type?: string }).type === 'interactive');
    const interactive = (sent.body as { interactive: { type: string; body: { text: string }; action: { buttons: { reply: { id: string } }[] } } }).interactive;
    expect(interactive.type).toBe('button');
    expect(interactive.body.text).toContain('Duka Nairobi');
    expect(interactive.body.text).toContain('Amina');
    expect(interactive.action.buttons.map((b) => b.reply.id)).toEqual(['menu:shop', 'menu:cart', 'menu:help']);

    const id = duka.conversationId('nairobi', CUSTOMER);
    expect(id).not.toContain(CUSTOMER);
    const description = await duka.client.workflow.getHandle(id).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.taskQueue).toBe(duka.taskQueue);

    // Meta redelivers: the same message id acts once.
    const again = await duka.deliver(NAIROBI, [textMessage(CUSTOMER, 'hi', 'wamid.greet-1')], { name: 'Amina' });
    expect(again.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect(duka.graph.sent.filter((s) => s.to === CUSTOMER && (s.body as { type?: string }).type === 'interactive')).toHaveLength(1);
  });

  it('answers 401 to a bad signature and starts nothing', async () => {
    const other = '254712000002';
    const built = buildInboundWebhook({ phoneNumberId: NAIROBI, messages: [textMessage(other, 'hi', 'wamid.forged')], appSecret: 'not-the-secret' });
    const res = await fetch(`${duka.baseUrl}/webhooks/whatsapp`, { method: 'POST', headers: built.headers, body: built.raw });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBeTruthy();
    await expect(duka.client.workflow.getHandle(duka.conversationId('nairobi', other)).describe()).rejects.toThrow();
  });
});
