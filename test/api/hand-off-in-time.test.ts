import { describe, expect, it } from '@jest/globals';
import { handOffInTime } from '../../api/hand-off.ts';

/**
 * A webhook of many messages (issue 12: 1,000 messages were answered after 28 s): each conversation's messages in
 * order, a few conversations at a time, and whatever the time budget does not reach is deferred to the re-driver:
 * every message exactly once, and within a conversation nothing handed off after one of its messages was deferred.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('handOffInTime', () => {
  it('hands off in order within the budget and defers the rest in one go, each message once', async () => {
    const conversations = Array.from({ length: 12 }, (_, c) => Array.from({ length: 5 }, (_, m) => `c${c}:m${m}`));
    const events: { unit: string; how: 'handed' | 'deferred' }[] = [];
    let deferCalls = 0;
    const started = Date.now();
    await handOffInTime(
      conversations,
      { concurrency: 3, budgetMs: 150 },
      async (unit) => {
        await sleep(20);
        events.push({ unit, how: 'handed' });
      },
      async (units) => {
        deferCalls += 1;
        for (const unit of units) events.push({ unit, how: 'deferred' });
      },
    );
    expect(deferCalls).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(events.map((e) => e.unit).sort()).toEqual(conversations.flat().sort());
    const handed = events.filter((e) => e.how === 'handed').length;
    expect(handed).toBeGreaterThan(0);
    expect(handed).toBeLessThan(60);
    for (const list of conversations) {
      const seen = events.filter((e) => list.includes(e.unit));
      expect(seen.map((e) => e.unit)).toEqual(list);
      const firstDeferred = seen.findIndex((e) => e.how === 'deferred');
      if (firstDeferred >= 0) expect(seen.slice(firstDeferred).every((e) => e.how === 'deferred')).toBe(true);
    }
  });

  it('a failure stops the hand-off and is thrown', async () => {
    const conversations = [['a1', 'a2'], ['b1']];
    const handed: string[] = [];
    await expect(
      handOffInTime(
        conversations,
        { concurrency: 1, budgetMs: 10_000 },
        async (unit) => {
          if (unit === 'a2') throw new Error('Temporal is away');
          handed.push(unit);
        },
        async () => {},
      ),
    ).rejects.toThrow('Temporal is away');
    expect(handed).toEqual(['a1']);
  });
});
