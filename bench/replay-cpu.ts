/**
 * CPU of the workflow code alone, without load, network or database: replays recorded histories (test/replay/histories)
 * against today's bundle (built as the worker builds it, preloaded modules included) and prints the process' CPU per
 * history and per 1,000 history events. A replay runs the same workflow code, activations and promise hooks as a live
 * worker, so it compares two versions of the workflow code or of the worker's bundle options far more steadily than
 * `npm run bench` on a shared machine (where the worker's CPU per message moved 24–31 ms between identical runs).
 *
 *   node bench/replay-cpu.ts [--match conversationWorkflow] [--rounds 3] [--histories <dir>]
 *
 * The first round warms up (bundle evaluation, JIT) and is not counted; each later round is printed, then the median.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { bundleWorkflows } from '../workers/worker.ts';
import { testDataConverter } from '../test/helpers/codec.ts';

const { values } = parseArgs({
  options: {
    match: { type: 'string', default: 'conversationWorkflow' },
    rounds: { type: 'string', default: '3' },
    // Another checkout's histories: two versions of the code compared on the same corpus.
    histories: { type: 'string', default: new URL('../test/replay/histories/', import.meta.url).pathname },
  },
});
const rounds = Number(values.rounds);
Runtime.install({ logger: new DefaultLogger('ERROR') });

const files = readdirSync(values.histories).filter((f) => f.endsWith('.history.bin') && f.includes(`--${values.match}--`)).sort();
const histories = files.map((f) => ({ workflowId: f, history: proto.temporal.api.history.v1.History.decode(readFileSync(join(values.histories, f))) }));
const events = histories.reduce((n, h) => n + (h.history.events?.length ?? 0), 0);
const { code } = await bundleWorkflows({ traced: false });

async function round(): Promise<{ cpuMs: number; wallMs: number; failed: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let failed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code }, replayName: 'replay-cpu', dataConverter: testDataConverter() }, histories)) {
    if (result.error) failed += 1;
  }
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started, failed };
}

console.log(`${histories.length} ${values.match} histories, ${events} events; ${rounds} measured rounds after one warm-up`);
await round();
const cpu: number[] = [];
for (let i = 0; i < rounds; i++) {
  const r = await round();
  cpu.push(r.cpuMs);
  console.log(`round ${i + 1}: CPU ${r.cpuMs.toFixed(0)} ms (wall ${r.wallMs.toFixed(0)} ms), ${(r.cpuMs / histories.length).toFixed(1)} ms per history, ${((1000 * r.cpuMs) / events).toFixed(0)} ms per 1,000 events${r.failed ? `, ${r.failed} FAILED` : ''}`);
}
const median = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)]!;
console.log(`median: ${(median / histories.length).toFixed(1)} ms per history, ${((1000 * median) / events).toFixed(0)} ms per 1,000 events`);
