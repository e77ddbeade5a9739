import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import type { SendInput, SendResult } from '../../activities/messaging.ts';
import { buildInboundWebhook, statusUpdate } from '../fakes/graph-api.ts';
import { APP_SECRET, NAIROBI, type Duka } from '../helpers/duka.ts';
import { useSendHarness } from './fixtures/send-harness.ts';
import type { sendInTurn, SendTiming } from './fixtures/send-workflow.ts';

/**
 * sendMessage sends at most once per intent and gives up after a bound, with real Temporal retries (test-sized
 * timeouts), real PostgreSQL, duka's real webhook route for Meta's statuses, and the fake Graph API over HTTP.
 */
const OPTIONS = { giveUpAfterAttempts: 6, lostAnswerWindowMs: 4_000, statusWaitPerAttemptMs: 1_000, statusPollMs: 50 };
const TIMING: SendTiming = { startToCloseMs: 1_000, retryIntervalMs: 100 };

interface IntentRecord {
  intent_key: string;
  state: string;
  via: string | null;
  wa_message_id: string | null;
  attempt: number;
  requests: number;
  last_error: string | null;
  workflow_id: string;
  customer_ref: string;
}

describe('sendMessage: at most once per intent, given up after a bound', () => {
  let duka: Duka;
  const harness = useSendHarness({ label: 'send-once', workflowsPath: fileURLToPath(new URL('./fixtures/send-workflow.ts', import.meta.url)), messaging: OPTIONS, waIdPrefix: '2547130' });
  let taskQueue: string;
  beforeAll(() => {
    ({ duka, taskQueue } = harness());
  });
  const customer = () => harness().customer();

  async function run(inputs: SendInput[]): Promise<{ handle: WorkflowHandle<typeof sendInTurn>; results: SendResult[] }> {
    const handle = await duka.client.workflow.start<typeof sendInTurn>('sendInTurn', {
      taskQueue,
      workflowId: `send-once:${randomUUID()}`,
      args: [inputs, TIMING],
      workflowExecutionTimeout: '45s',
    });
    return { handle, results: await handle.result() };
  }

  async function intents(workflowId: string): Promise<IntentRecord[]> {
    return duka.orm.em.getConnection().execute<IntentRecord[]>('select * from message_intent where workflow_id = ? order by created_at', [workflowId]);
  }

  /** The highest attempt Temporal ran of the workflow's activities (ActivityTaskStarted carries the last one). */
  async function lastAttempt(handle: WorkflowHandle): Promise<number> {
    const history = await handle.fetchHistory();
    return Math.max(0, ...(history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
  }

  const sentTo = (waId: string) => duka.graph.sent.filter((s) => s.to === waId);

  it('a send whose answer comes after its attempt timed out is not sent again by the retry', async () => {
    const { waId, input } = await customer();
    // Meta takes the message at once but answers after 2 s: Temporal times the attempt out at 1 s and retries while
    // the first attempt is still waiting for that answer.
    duka.graph.delayAnswerNext(1, 2_000);
    const { handle, results } = await run([input('Your receipt for NBO-1001')]);

    expect(await lastAttempt(handle)).toBeGreaterThan(1);
    expect(sentTo(waId)).toHaveLength(1);
    expect(results).toEqual([{ messageId: sentTo(waId)[0]!.messageId, via: 'message' }]);
    const [row] = await intents(handle.workflowId);
    expect(row).toMatchObject({ state: 'sent', wa_message_id: results[0]!.messageId, requests: 1 });
  });

  it('a send whose answer was lost is recognised by the status Meta posts for it (biz_opaque_callback_data), not sent twice', async () => {
    const { waId, input } = await customer();
    duka.graph.reportStatusesTo({ url: `${duka.baseUrl}/webhooks/whatsapp`, appSecret: APP_SECRET });
    // Meta accepts the message, posts its `sent` status, and the connection drops before its answer reaches duka.
    duka.graph.loseAnswerNext(1);
    const { handle, results } = await run([input('Your M-Pesa payment of KES 1,500 was received')]);

    expect(sentTo(waId)).toHaveLength(1);
    const sent = sentTo(waId)[0]!;
    expect(results).toEqual([{ messageId: sent.messageId, via: 'message' }]);
    const [row] = await intents(handle.workflowId);
    expect(row).toMatchObject({ state: 'sent', wa_message_id: sent.messageId, requests: 1 });
    // The key travels to Meta and back; it names no customer.
    expect(sent.body.biz_opaque_callback_data).toBe(row!.intent_key);
    expect(row!.intent_key).not.toContain(waId);
    // duka answered Meta's status 200; the statuses that follow have their outbound row.
    expect(await duka.graph.waitForStatus((s) => s.messageId === sent.messageId)).toEqual({ messageId: sent.messageId, status: 'sent', callbackData: row!.intent_key, httpStatus: 200 });
    const [message] = await duka.orm.em.getConnection().execute<{ direction: string; status: string }[]>('select direction, status from message where wa_message_id = ?', [sent.messageId]);
    expect(message).toMatchObject({ direction: 'out', status: 'sent' });
  });

  it('a lost answer with no status ever is given up and never sent again; a late status still records it', async () => {
    const { waId, input } = await customer();
    duka.graph.loseAnswerNext(1);
    const { handle, results } = await run([input('Your order NBO-1002 is out for delivery')]);

    expect(results).toEqual([{ messageId: null, via: 'given_up' }]);
    expect(sentTo(waId)).toHaveLength(1);
    const [row] = await intents(handle.workflowId);
    expect(row).toMatchObject({ state: 'given_up', wa_message_id: null, requests: 1 });
    expect(row!.last_error).toMatch(/outcome of the send unknown|not sent again/);

    // Meta's status arrives after all (its webhook was retried): the intent is marked sent, for the operator.
    const sent = sentTo(waId)[0]!;
    const hook = buildInboundWebhook({ phoneNumberId: NAIROBI, statuses: [{ ...statusUpdate(sent.messageId, 'delivered', waId), biz_opaque_callback_data: row!.intent_key }], appSecret: APP_SECRET });
    expect((await fetch(`${duka.baseUrl}/webhooks/whatsapp`, { method: 'POST', headers: hook.headers, body: hook.raw })).status).toBe(200);
    expect((await intents(handle.workflowId))[0]).toMatchObject({ state: 'sent', wa_message_id: sent.messageId });
  });

  it('a reply Meta keeps refusing (500) is given up after the bound and recorded; the next one goes out after a refusal', async () => {
    const { waId, input } = await customer();
    // Every attempt of the first message is refused, then the second message's first attempt: Meta's own error answers,
    // so nothing was sent and a retry may send.
    duka.graph.failNext(OPTIONS.giveUpAfterAttempts + 1, { status: 500, code: 131000, message: 'Something went wrong' });
    const { handle, results } = await run([input('Here is the menu'), input('Your cart: 2 × Premium Coffee')]);

    expect(sentTo(waId)).toHaveLength(1);
    expect(results).toEqual([
      { messageId: null, via: 'given_up' },
      { messageId: sentTo(waId)[0]!.messageId, via: 'message' },
    ]);
    const [first, second] = await intents(handle.workflowId);
    expect(first).toMatchObject({ state: 'given_up', attempt: OPTIONS.giveUpAfterAttempts, requests: OPTIONS.giveUpAfterAttempts, wa_message_id: null });
    expect(first!.last_error).toMatch(/131000/);
    expect(JSON.stringify(first)).not.toContain(waId);
    expect(first!.workflow_id).toBe(handle.workflowId);
    expect(second).toMatchObject({ state: 'sent', requests: 2, wa_message_id: results[1]!.messageId });
  });
});
