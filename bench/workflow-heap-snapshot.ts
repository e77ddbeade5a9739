/**
 * Heap snapshots of the worker's workflow thread, where cached workflows live (`reuseV8Context`: one V8 context on a
 * worker thread of its own, which neither `--heapsnapshot-signal` nor `v8.writeHeapSnapshot()` on the main thread
 * reaches). Loaded with `--import` into the bench's worker process:
 *
 *   BENCH_HEAP_SNAPSHOT=/tmp/snaps NODE_OPTIONS=--import=./bench/workflow-heap-snapshot.ts BENCH_SCENARIOS=closed npm run bench
 *   kill -HUP $(cat /tmp/snaps/worker.pid)     # once the bench prints "B: bare signalWithStart": A's chat is done
 *
 * Each SIGHUP writes `<pid>-<n>-thread<i>.heapsnapshot` per workflow thread, and `<pid>-<n>-main.heapsnapshot`, into BENCH_HEAP_SNAPSHOT
 * (`node bench/heap-by-constructor.ts` compares two of them). Anything else that loads it is left alone. Not SIGUSR2:
 * the SDK's runtime shuts the worker down on it.
 */
import { appendFileSync, createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { isMainThread, type Worker } from 'node:worker_threads';

const dir = process.env.BENCH_HEAP_SNAPSHOT;
if (dir && isMainThread && process.argv.some((a) => a.endsWith('child.ts')) && process.argv.includes('worker')) {
  // The SDK (CommonJS) reads `Worker` off this object when it starts its threads, so a subclass put here sees them.
  const threads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };
  const seen: Worker[] = [];
  const Base = threads.Worker;
  threads.Worker = class extends Base {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      seen.push(this);
    }
  };
  mkdirSync(dir, { recursive: true });
  // Which process to signal, for a script that runs the bench beside other engineers' benches.
  writeFileSync(join(dir, 'worker.pid'), String(process.pid));
  let taken = 0;
  const mb = (x: number) => `${(x / 2 ** 20).toFixed(1)} MB`;
  const heaps = async (when: string) => {
    const threads = await Promise.all(seen.map((t) => t.getHeapStatistics()));
    const main = getHeapStatistics();
    const line = [`rss ${mb(process.memoryUsage().rss)}`, `main heap ${mb(main.used_heap_size)} used of ${mb(main.total_heap_size)}`, ...threads.map((h, i) => `thread${i} heap ${mb(h.used_heap_size)} used of ${mb(h.total_heap_size)}`)];
    // To a file: the bench stops printing a child's output after a few lines.
    appendFileSync(join(dir, 'heaps.txt'), `${process.pid} ${when}: ${line.join(', ')}\n`);
  };
  process.on('SIGHUP', () => {
    const n = ++taken;
    void (async () => {
      // Sizes before the snapshots (each collects garbage first) and after: what RSS holds that is not live.
      await heaps('before snapshot');
      await Promise.all(
        seen.map(async (thread, i) => {
          const file = join(dir, `${process.pid}-${n}-thread${i}.heapsnapshot`);
          await pipeline(await thread.getHeapSnapshot(), createWriteStream(file));
        }),
      );
      // The main thread too (activities, the SDK's side of each run).
      writeHeapSnapshot(join(dir, `${process.pid}-${n}-main.heapsnapshot`));
      await heaps('after snapshot');
    })().catch((err: unknown) => console.error('workflow heap snapshot failed:', err));
  });
}
