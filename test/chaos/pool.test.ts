import { describe, expect, it } from '@jest/globals';
import { ApiPool, instanceIds, nextLive, roleOf } from '../../bench/chaos/pool.ts';
import { readSettings, SettingsError } from '../../bench/chaos/settings.ts';

/**
 * `npm run chaos` with several APIs and workers (bench/chaos/pool.ts): the instances a run has, and the round robin
 * that spreads webhooks and callbacks over the live APIs, skipping a dead one.
 */

const API = (n: number) => ({ id: `api#${n}`, url: `http://127.0.0.1:${4000 + n}` });

describe('chaos process instances', () => {
  it('name every instance of a run, one Temporal server whatever the counts', () => {
    expect(instanceIds({ apis: 2, workers: 3 })).toEqual(['worker#1', 'worker#2', 'worker#3', 'api#1', 'api#2', 'temporal']);
    expect(instanceIds({ apis: 1, workers: 1 })).toEqual(['worker#1', 'api#1', 'temporal']);
    expect(roleOf('api#2')).toBe('api');
    expect(roleOf('temporal')).toBe('temporal');
    expect(() => roleOf('bare-worker#1')).toThrow(/not a chaos process instance/);
  });
});

describe('round robin over live instances', () => {
  it('goes round in order while all are up', () => {
    const up = () => true;
    const order: number[] = [];
    let cursor = -1;
    for (let i = 0; i < 7; i++) order.push((cursor = nextLive(3, cursor, up)));
    expect(order).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  it('skips a dead instance, and takes it back once it is up', () => {
    const dead = new Set([1]);
    const up = (i: number) => !dead.has(i);
    expect(nextLive(3, 0, up)).toBe(2);
    expect(nextLive(3, 2, up)).toBe(0);
    dead.clear();
    expect(nextLive(3, 0, up)).toBe(1);
  });

  it('with every instance dead, still names the next one (the delivery fails and is retried)', () => {
    expect(nextLive(2, 0, () => false)).toBe(1);
    expect(nextLive(2, 1, () => false)).toBe(0);
    expect(() => nextLive(0, 0, () => true)).toThrow();
  });
});

describe('ApiPool', () => {
  it('sends URLs on the front to the live APIs in turn, path and query kept, and counts each', () => {
    const down = new Set<string>();
    const pool = new ApiPool('http://front.invalid/', [API(1), API(2)], (id) => !down.has(id));
    expect(pool.route('http://front.invalid/webhooks/mpesa/tok?x=1')).toEqual({ url: 'http://127.0.0.1:4001/webhooks/mpesa/tok?x=1', api: 'api#1' });
    expect(pool.route('http://front.invalid/webhooks/whatsapp').api).toBe('api#2');
    down.add('api#1');
    expect(pool.route('http://front.invalid/webhooks/whatsapp').api).toBe('api#2');
    expect(pool.route('http://front.invalid/webhooks/whatsapp').api).toBe('api#2');
    down.clear();
    expect(pool.route('http://front.invalid/webhooks/whatsapp').api).toBe('api#1');
    expect(pool.spread()).toEqual({ 'api#1': 2, 'api#2': 3 });
  });

  it('leaves any other URL alone (a host that merely starts like the front too)', () => {
    const pool = new ApiPool('http://front.invalid', [API(1)], () => true);
    expect(pool.route('http://127.0.0.1:9/graph/v21.0/1/messages')).toEqual({ url: 'http://127.0.0.1:9/graph/v21.0/1/messages', api: null });
    expect(pool.route('http://front.invalid.example/webhooks').api).toBeNull();
    expect(pool.spread()).toEqual({ 'api#1': 0 });
  });
});

describe('chaos settings for scale-out', () => {
  it('read --apis and --workers, flags over CHAOS_APIS / CHAOS_WORKERS, 2 of each by default', () => {
    expect(readSettings([], {})).toMatchObject({ apis: 2, workers: 2 });
    expect(readSettings([], { CHAOS_APIS: '3', CHAOS_WORKERS: '1' })).toMatchObject({ apis: 3, workers: 1 });
    expect(readSettings(['--apis', '1', '--workers=4'], { CHAOS_APIS: '3' })).toMatchObject({ apis: 1, workers: 4 });
  });

  it('refuse a count that is not a whole number from 1 to 8', () => {
    for (const bad of ['0', '9', '1.5', 'two']) expect(() => readSettings(['--apis', bad], {})).toThrow(SettingsError);
    expect(() => readSettings([], { CHAOS_WORKERS: '0' })).toThrow(/--workers \/ CHAOS_WORKERS=0/);
  });
});
