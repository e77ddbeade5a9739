import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NAIROBI, startDuka, type Duka } from '../helpers/duka.ts';
import { Customer } from '../helpers/chat.ts';
import { isolatedEnv } from '../helpers/process-env.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('./fixtures/worker-killed-after-reply.ts', import.meta.url));

type FromWorker = { type: 'ready' } | { type: 'killing'; activityId: string; workflowId: string };

/**
 * The conversation's replies are local activities keyed by a send intent `reply-<n>` (patch reply-local). A worker
 * SIGKILLed after such a send returned, before its workflow task completed, leaves no trace of it in history: the next
 * worker replays the turn and runs the local activity again, which must find the intent already sent. Real worker
 * processes, Temporal, PostgreSQL, and the fake Graph API over HTTP; the kill comes from inside the worker at exactly
 * that point (test/ops/fixtures/worker-killed-after-reply.ts), no timing involved.
 */
describe('a reply whose worker is SIGKILLed right after sending it', () => {
  let duka: Duka;
  beforeAll(async () => {
    duka = await startDuka({ label: 'reply_after_kill' });
    await duka.stopWorker(); // the first turn is the killed worker's
  });
  afterAll(async () => {
    await duka?.stop();
  });

  it('is sent exactly once: the next worker replays the turn, finds the intent sent, and the conversation goes on', async () => {
    const child = spawn(process.execPath, [ENTRY], {
      cwd: ROOT,
      env: isolatedEnv({ ...duka.env, DUKA_TEST_WORKFLOW_BUNDLE: process.env.DUKA_TEST_WORKFLOW_BUNDLE! }),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const told: FromWorker[] = [];
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
    const ready = new Promise<void>((resolve, reject) => {
      child.on('message', (m: FromWorker) => {
        told.push(m);
        if (m.type === 'ready') resolve();
      });
      void exited.then((how) => reject(new Error(`the worker ended (${how}) before it polled`)));
    });
    try {
      await ready;
      const c = new Customer(duka, NAIROBI, '254711400001', 'Zawadi');
      const [greeting] = await c.say('hi');
      expect(await exited).toBe('SIGKILL');
      const conversationId = duka.conversationId('nairobi', c.waId);
      expect(told.filter((m) => m.type === 'killing')).toEqual([{ type: 'killing', activityId: expect.any(String), workflowId: conversationId }]);
      const sent = () => duka.graph.sent.filter((s) => s.to === c.waId);
      expect(sent()).toHaveLength(1);

      // The next worker: the turn's workflow task times out on the dead one, is replayed here, and its send runs again.
      await duka.startWorker();
      const [shop] = await c.tap('menu:shop');

      // The greeting reached Meta once, the next reply after it, and the intent was sent with one request.
      expect(sent().map((s) => s.body)).toEqual([greeting!.raw.body, shop!.raw.body]);
      expect(shop!.ids.some((id) => id.startsWith('cat:'))).toBe(true);
      const intents = await duka.orm.em
        .fork()
        .getConnection()
        .execute<{ activity_id: string; state: string; requests: number }[]>('select activity_id, state, requests from message_intent where workflow_id = ? order by created_at', [conversationId]);
      expect(intents.slice(0, 2)).toEqual([
        { activity_id: 'reply-1', state: 'sent', requests: 1 },
        { activity_id: 'reply-2', state: 'sent', requests: 1 },
      ]);
      // …though the send ran twice: in the killed worker, whose workflow task timed out, and again here, which recorded it
      // (under another local activity id than the killed run's: the intent id, not the activity id, keeps it one send).
      const history = await duka.client.workflow.getHandle(conversationId).fetchHistory();
      expect(history.events?.some((e) => e.workflowTaskTimedOutEventAttributes)).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 120_000);
});
