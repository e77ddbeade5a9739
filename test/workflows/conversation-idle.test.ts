import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { startTimeSkippingDuka, type TimeSkippingDuka } from '../helpers/time-skipping-worker.ts';
import { inboundSignal, orderChangedSignal } from '../../workflows/definitions.ts';

const DAY = 24 * 3600_000;
const NAIROBI = '100000000000001';

/**
 * The conversation's idle close (7 days without a customer message, never while an order is in flight) on one timer
 * that is started once and re-armed only when it fires: messages start and cancel no timers. Time-skipping server, real
 * activities, PostgreSQL and the fake Graph API.
 */
describe('conversation idle close on one timer', () => {
  let duka: TimeSkippingDuka;

  beforeAll(async () => {
    duka = await startTimeSkippingDuka({ label: 'conversation_idle', taskQueue: 'conversation-idle' });
  });
  afterAll(async () => {
    await duka?.stop();
  });

  let seq = 0;
  /** The customer writes "hi" (signal-with-start, as the webhook does) and duka's answer reaches them. */
  async function say(waId: string): Promise<WorkflowHandle> {
    seq += 1;
    const { env, graph, started } = duka;
    const before = graph.sent.filter((s) => s.to === waId).length;
    const handle = await env.client.workflow.signalWithStart('conversationWorkflow', {
      taskQueue: duka.taskQueue,
      workflowId: `conversation:nairobi:ref-${waId}`,
      args: [{ shopId: 'nairobi', customerRef: `ref-${waId}` }],
      signal: inboundSignal,
      signalArgs: [{ id: `wamid.idle-${seq}`, phoneNumberId: NAIROBI, from: waId, timestamp: Math.floor(Date.now() / 1000), content: { kind: 'text', text: 'hi' } }],
    });
    if (!started.some((h) => h.workflowId === handle.workflowId)) started.push(handle);
    await graph.waitForSent((s) => s.to === waId && graph.sent.filter((x) => x.to === waId).length > before);
    return handle;
  }

  const events = async (handle: WorkflowHandle) => (await handle.fetchHistory()).events ?? [];
  const at = (e: temporal.api.history.v1.IHistoryEvent) => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
  const count = (list: temporal.api.history.v1.IHistoryEvent[], key: keyof temporal.api.history.v1.IHistoryEvent) => list.filter((e) => e[key]).length;

  it('starts no timer per message, re-arms for the remainder and closes 7 days after the last message', async () => {
    const waId = '254700000301';
    const handle = await say(waId);
    await say(waId);
    await duka.env.sleep('5d');
    await say(waId);
    await say(waId);
    await handle.result();

    const history = await events(handle);
    const inbound = history.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'inbound');
    expect(inbound).toHaveLength(4);
    // Armed once at the start, fired at day 7 (quiet for two days only) and re-armed once for the remaining five.
    expect(count(history, 'timerStartedEventAttributes')).toBe(2);
    expect(count(history, 'timerCanceledEventAttributes')).toBe(0);
    const closed = history.find((e) => e.workflowExecutionCompletedEventAttributes)!;
    const quiet = at(closed) - at(inbound[3]!);
    expect(quiet).toBeGreaterThanOrEqual(7 * DAY - 60_000);
    expect(quiet).toBeLessThan(7 * DAY + 3600_000);
  });

  it('stays open past the idle period while an order is in flight, and closes a full period after it ends', async () => {
    const waId = '254700000302';
    const handle = await say(waId);
    await handle.signal(orderChangedSignal, { orderNumber: 'NBO-IDLE1', status: 'AWAITING_PAYMENT' });
    await duka.env.sleep('8d');
    // The timer fired at day 7 and was re-armed for a full period: the conversation is still open.
    const during = await events(handle);
    expect(count(during, 'timerFiredEventAttributes')).toBe(1);
    expect(count(during, 'timerStartedEventAttributes')).toBe(2);
    expect((await handle.describe()).status.name).toBe('RUNNING');

    await handle.signal(orderChangedSignal, { orderNumber: 'NBO-IDLE1', status: 'COMPLETED' });
    await handle.result();
    const history = await events(handle);
    const closed = history.find((e) => e.workflowExecutionCompletedEventAttributes)!;
    const firstFire = history.find((e) => e.timerFiredEventAttributes)!;
    // Closed when the re-armed timer fired, 7 days after the first firing.
    expect(at(closed) - at(firstFire)).toBeGreaterThanOrEqual(7 * DAY - 60_000);
    expect(count(history, 'timerCanceledEventAttributes')).toBe(0);
  });
});
