import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { SendInput, SendResult } from '../../activities/messaging.ts';
import { APP_SECRET, type Duka } from '../helpers/duka.ts';
import { useSendHarness } from './fixtures/send-harness.ts';
import type { LocalSendTiming, sendLocallyInTurn } from './fixtures/send-local-workflow.ts';

/**
 * The conversation sends its replies as local activities (workflows/conversation.ts, patch reply-local). A local
 * activity keeps its activity id across the retries the worker runs itself and across replay, but a retry whose backoff
 * passes `localRetryThreshold` waits on a workflow timer and is scheduled again under a new activity id: the send's
 * own `intentId` keeps it one intent, so a message is still sent at most once. Real Temporal, PostgreSQL, duka's
 * webhook route for Meta's statuses and the fake Graph API over HTTP.
 */
const OPTIONS = { giveUpAfterAttempts: 6, lostAnswerWindowMs: 4_000, statusWaitPerAttemptMs: 1_000, statusPollMs: 50 };
/** Every retry after a workflow timer: its backoff (100 ms) is over the threshold (10 ms). */
const VIA_TIMERS = { startToCloseMs: 1_000, retryIntervalMs: 100, localRetryThresholdMs: 10 };
/** Every retry in the worker, under the same activity id. */
const IN_WORKER = { startToCloseMs: 1_000, retryIntervalMs: 100, localRetryThresholdMs: 60_000 };

type Event = temporal.api.history.v1.IHistoryEvent;

describe('sendMessage as a local activity: at most once per intent', () => {
  let duka: Duka;
  const harness = useSendHarness({ label: 'send-local', workflowsPath: fileURLToPath(new URL('./fixtures/send-local-workflow.ts', import.meta.url)), messaging: OPTIONS, waIdPrefix: '2547140' });
  beforeAll(() => {
    duka = harness().duka;
  });
  const customer = () => harness().customer();

  async function sendAll(inputs: SendInput[], timing: LocalSendTiming, workflowTaskTimeout?: string): Promise<{ handle: WorkflowHandle; results: SendResult[]; events: Event[] }> {
    const handle = await duka.client.workflow.start<typeof sendLocallyInTurn>('sendLocallyInTurn', {
      taskQueue: harness().taskQueue,
      workflowId: `send-local:${randomUUID()}`,
      args: [inputs, timing],
      workflowExecutionTimeout: '45s',
      ...(workflowTaskTimeout ? { workflowTaskTimeout } : {}),
    });
    const results = await handle.result();
    return { handle, results, events: (await handle.fetchHistory()).events ?? [] };
  }

  const rows = (workflowId: string) =>
    duka.orm.em.getConnection().execute<{ intent_key: string; state: string; wa_message_id: string | null; requests: number; activity_id: string }[]>('select * from message_intent where workflow_id = ? order by created_at', [workflowId]);
  const sentTo = (waId: string) => duka.graph.sent.filter((s) => s.to === waId);
  /** The activity id of each local-activity run recorded in history (its marker's data). */
  const localActivityIds = (events: Event[]) =>
    events
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_local_activity')
      .map((m) => (JSON.parse(Buffer.from(m!.details!.data!.payloads![0]!.data!).toString('utf8')) as { activity_id: string }).activity_id);

  it('a lost answer retried after a workflow timer (a new activity id) is found by its intent and not sent again', async () => {
    const { waId, input } = await customer();
    duka.graph.reportStatusesTo({ url: `${duka.baseUrl}/webhooks/whatsapp`, appSecret: APP_SECRET });
    // Meta accepts, posts its `sent` status naming the intent, and the answer never reaches duka.
    duka.graph.loseAnswerNext(1);
    const { handle, results, events } = await sendAll([input('Your cart: 1 × Premium Coffee')], { ...VIA_TIMERS, intentIds: true });

    // The retry ran after a timer under another activity id…
    expect(events.some((e) => e.timerStartedEventAttributes)).toBe(true);
    const ids = localActivityIds(events);
    expect(new Set(ids).size).toBeGreaterThan(1);
    // …and is still the same intent: one request to Meta, one message.
    expect(sentTo(waId)).toHaveLength(1);
    expect(results).toEqual([{ messageId: sentTo(waId)[0]!.messageId, via: 'message' }]);
    const intents = await rows(handle.workflowId);
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ state: 'sent', requests: 1, activity_id: 'reply-1', wa_message_id: results[0]!.messageId });
  });

  it('keyed on the activity id alone, the same retry would send the message twice (why the conversation gives an intent id)', async () => {
    const { waId, input } = await customer();
    duka.graph.reportStatusesTo({ url: `${duka.baseUrl}/webhooks/whatsapp`, appSecret: APP_SECRET });
    duka.graph.loseAnswerNext(1);
    const { handle } = await sendAll([input('Your cart: 1 × Organic Honey')], { ...VIA_TIMERS, intentIds: false });

    expect(sentTo(waId)).toHaveLength(2);
    expect(await rows(handle.workflowId)).toHaveLength(2);
  });

  it('an attempt timed out while Meta still answers is retried in the worker under the same activity id and not sent again', async () => {
    const { waId, input } = await customer();
    // Meta takes the message at once but answers after 2 s: the attempt times out at 1 s and the worker retries it.
    duka.graph.delayAnswerNext(1, 2_000);
    const { handle, results, events } = await sendAll([input('Your receipt for NBO-1001'), input('Thank you!')], { ...IN_WORKER, intentIds: true });

    expect(sentTo(waId)).toHaveLength(2);
    expect(results.map((r) => r.messageId)).toEqual(sentTo(waId).map((s) => s.messageId));
    // Two local activities recorded, no timer: every retry ran in the worker under its first activity id.
    expect(localActivityIds(events)).toHaveLength(2);
    expect(events.some((e) => e.timerStartedEventAttributes)).toBe(false);
    const attempts = events.map((e) => e.markerRecordedEventAttributes).filter((m) => m?.markerName === 'core_local_activity').map((m) => (JSON.parse(Buffer.from(m!.details!.data!.payloads![0]!.data!).toString('utf8')) as { attempt: number }).attempt);
    expect(attempts[0]).toBeGreaterThan(1);
    expect((await rows(handle.workflowId)).map((r) => [r.activity_id, r.state, r.requests])).toEqual([
      ['reply-1', 'sent', 1],
      ['reply-2', 'sent', 1],
    ]);
  });

  it('a send that waits longer than the workflow task timeout (a slow Meta, the rate limiter) completes: the SDK heartbeats the task', async () => {
    const { waId, input } = await customer();
    duka.graph.delayAnswerNext(1, 5_000);
    // Workflow task timeout 2 s, the local activity's own timeout 10 s.
    const { results, events } = await sendAll([input('Your order is on its way')], { startToCloseMs: 10_000, retryIntervalMs: 100, localRetryThresholdMs: 60_000, intentIds: true }, '2s');

    expect(sentTo(waId)).toHaveLength(1);
    expect(results).toEqual([{ messageId: sentTo(waId)[0]!.messageId, via: 'message' }]);
    expect(events.some((e) => e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes)).toBe(false);
    // The heartbeats are there: workflow tasks completed while the one local activity ran.
    expect(events.filter((e) => e.workflowTaskCompletedEventAttributes).length).toBeGreaterThan(2);
    expect(localActivityIds(events)).toHaveLength(1);
  });
});
