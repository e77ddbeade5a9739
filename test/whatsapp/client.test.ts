import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { WhatsAppApiError, WhatsAppClient } from '../../providers/whatsapp/client.ts';
import { UnsendableMessageError } from '../../providers/whatsapp/messages.ts';
import { startFakeGraphApi } from '../fakes/graph-api.ts';
import type { FakeGraphApi } from '../fakes/graph-api.ts';

const TOKEN = 'test-access-token';
const PHONE_ID = '104900000000001';
const TO = '263772000002';

let graph: FakeGraphApi;
let client: WhatsAppClient;

beforeAll(async () => {
  graph = await startFakeGraphApi({ accessToken: TOKEN });
  client = new WhatsAppClient({ graphUrl: graph.url, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 1000 });
});
afterAll(async () => {
  await graph.close();
});
beforeEach(() => graph.clear());

async function sendError(c: WhatsAppClient = client): Promise<WhatsAppApiError> {
  const error = await c.send(PHONE_ID, TO, { kind: 'text', body: 'hi' }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WhatsAppApiError);
  return error as WhatsAppApiError;
}

describe('WhatsAppClient against the fake Graph API', () => {
  it('sends and returns the wamid Meta assigned', async () => {
    const { messageId } = await client.send(PHONE_ID, TO, { kind: 'buttons', body: 'Pay with?', buttons: [{ id: 'pay_ecocash', title: 'EcoCash' }] });
    expect(messageId).toMatch(/^wamid\./);
    const recorded = await graph.waitForSent((s) => s.messageId === messageId, 1_000);
    expect(recorded).toMatchObject({ phoneNumberId: PHONE_ID, to: TO });
    expect(recorded.body).toMatchObject({ messaging_product: 'whatsapp', type: 'interactive', interactive: { type: 'button' } });
  });

  it('marks a message as read', async () => {
    await client.markAsRead(PHONE_ID, 'wamid.INBOUND_ID', { showTyping: true });
    expect(graph.reads).toEqual([{ phoneNumberId: PHONE_ID, messageId: 'wamid.INBOUND_ID', typing: true }]);
  });

  it('classifies a 500 as retryable', async () => {
    graph.failNext(1, { status: 500, code: 131000, message: 'Something went wrong' });
    const error = await sendError();
    expect(error).toMatchObject({ httpStatus: 500, code: 131000, retryable: true, outsideWindow: false });
    expect(error.fbtraceId).toBeDefined();
    await expect(client.send(PHONE_ID, TO, { kind: 'text', body: 'after the failure' })).resolves.toHaveProperty('messageId');
  });

  it('classifies 131047 as outside the 24-hour window and not retryable', async () => {
    graph.failNext(1, {
      status: 400, code: 131047, message: 'Re-engagement message',
      details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
    });
    const error = await sendError();
    expect(error).toMatchObject({ httpStatus: 400, code: 131047, retryable: false, outsideWindow: true });
    expect(error.details).toMatch(/24 hours/);
    expect(error.message).toMatch(/131047/);
  });

  it('classifies an ordinary 400 as not retryable', async () => {
    graph.failNext(1, { status: 400, code: 131009, message: 'Parameter value is not valid', subcode: 2494010 });
    expect(await sendError()).toMatchObject({ httpStatus: 400, code: 131009, subcode: 2494010, retryable: false, outsideWindow: false });
  });

  it('classifies throttling codes and HTTP 429 as retryable', async () => {
    graph.failNext(1, { status: 400, code: 130429, message: 'Rate limit hit' });
    expect(await sendError()).toMatchObject({ code: 130429, retryable: true });
    graph.failNext(1, { status: 429, code: 131056, message: '(Business Account, Consumer Account) pair rate limit hit' });
    expect(await sendError()).toMatchObject({ httpStatus: 429, retryable: true });
    graph.failNext(1, { status: 400, code: 80007, message: 'Rate limit issues' });
    expect(await sendError()).toMatchObject({ code: 80007, retryable: true });
  });

  it('reports a bad access token as not retryable', async () => {
    const wrongToken = new WhatsAppClient({ graphUrl: graph.url, apiVersion: 'v21.0', accessToken: 'expired', ratePerSecond: 10 });
    expect(await sendError(wrongToken)).toMatchObject({ httpStatus: 401, code: 190, retryable: false });
  });

  it('classifies network failures as retryable', async () => {
    const unreachable = new WhatsAppClient({
      graphUrl: 'http://127.0.0.1:9', apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10,
      fetch: () => Promise.reject(new TypeError('fetch failed')),
    });
    expect(await sendError(unreachable)).toMatchObject({ httpStatus: 0, retryable: true });
  });

  it('sends callbackData as biz_opaque_callback_data, within Meta\'s 512 characters', async () => {
    const { messageId } = await client.send(PHONE_ID, TO, { kind: 'text', body: 'tracked' }, { callbackData: 'dk1.abc' });
    expect((await graph.waitForSent((s) => s.messageId === messageId)).body.biz_opaque_callback_data).toBe('dk1.abc');
    await expect(client.send(PHONE_ID, TO, { kind: 'text', body: 'x' }, { callbackData: 'x'.repeat(513) })).rejects.toThrow(RangeError);
  });

  it('says whether Meta may have accepted a message it did not confirm', async () => {
    // Meta's own error answer: nothing was sent.
    graph.failNext(1, { status: 500, code: 131000, message: 'Something went wrong' });
    expect(await sendError()).toMatchObject({ httpStatus: 500, retryable: true, maybeAccepted: false });
    // The connection dropped after Meta took the request: it may be on its way to the customer.
    graph.loseAnswerNext(1);
    expect(await sendError()).toMatchObject({ httpStatus: 0, retryable: true, maybeAccepted: true });
    expect(graph.sent).toHaveLength(1);
    // No connection at all (a port nobody listens on): the request never left.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const refused = new WhatsAppClient({ graphUrl: `http://127.0.0.1:${port}`, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10 });
    expect(await sendError(refused)).toMatchObject({ httpStatus: 0, retryable: true, maybeAccepted: false });
    // A timeout is ambiguous, and so is a 5xx without the Graph API's error body (a gateway in between).
    const slow = new WhatsAppClient({ graphUrl: graph.url, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10, timeoutMs: 50 });
    graph.delayAnswerNext(1, 1_000);
    expect(await sendError(slow)).toMatchObject({ httpStatus: 0, maybeAccepted: true });
    const gateway = new WhatsAppClient({
      graphUrl: graph.url, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10,
      fetch: () => Promise.resolve(new Response('<html>Bad Gateway</html>', { status: 502 })),
    });
    expect(await sendError(gateway)).toMatchObject({ httpStatus: 502, retryable: true, maybeAccepted: true });
    // Accepted without a message id: not an error to retry, and Meta has it.
    const noId = new WhatsAppClient({
      graphUrl: graph.url, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10,
      fetch: () => Promise.resolve(Response.json({ messaging_product: 'whatsapp', messages: [] })),
    });
    expect(await sendError(noId)).toMatchObject({ httpStatus: 200, retryable: false, maybeAccepted: true });
  });

  it('waitForSent times out with what was sent so far', async () => {
    await client.send(PHONE_ID, TO, { kind: 'text', body: 'only this' });
    await expect(graph.waitForSent((s) => s.body.type === 'template', 100)).rejects.toThrow(/text→263772000002/);
  });

  it('refuses an unsendable message before any request', async () => {
    await expect(client.send(PHONE_ID, TO, { kind: 'buttons', body: 'b', buttons: [] })).rejects.toThrow(UnsendableMessageError);
    expect(graph.sent).toHaveLength(0);
  });

  it('spaces sends per phone number to the configured rate, without failing', async () => {
    const slow = new WhatsAppClient({ graphUrl: graph.url, apiVersion: 'v21.0', accessToken: TOKEN, ratePerSecond: 10 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 15 }, (_, i) => slow.send(PHONE_ID, TO, { kind: 'text', body: `burst ${i}` })));
    const elapsed = performance.now() - started;
    // 10 from the full bucket at once, then 5 more at 10/s: about 500 ms.
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(graph.sent).toHaveLength(15);

    // PHONE_ID's bucket is empty now; a shared bucket would need about a second for these ten.
    const otherNumberStarted = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => slow.send('OTHER_PHONE_ID', TO, { kind: 'text', body: `other ${i}` })));
    expect(performance.now() - otherNumberStarted).toBeLessThan(900);
  });
});
