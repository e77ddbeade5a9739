/**
 * What one inbound customer message costs a conversation, counted in recorded history (test/replay/histories/), so
 * the figure does not depend on the machine's load and anyone can reproduce it:
 *
 *   node bench/history-counts.ts                                  # every conversation history in the corpus
 *   node bench/history-counts.ts owner_walkthrough seed-phrases   # histories whose file name starts with one of these
 *   node bench/history-counts.ts --patch idle-timer-once          # only runs that took this patch (recorded after it)
 *   node bench/history-counts.ts --without idle-timer-once        # only runs that did not
 *   node bench/history-counts.ts --by-file …                      # one row per history as well
 *
 * Per inbound message (signals named `inbound`): history events, workflow tasks (completed), activities scheduled,
 * local activities (markers), timers started and cancelled, search-attribute upserts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import proto from '@temporalio/proto';

const { temporal } = proto;

const DIR = new URL('../test/replay/histories/', import.meta.url).pathname;
type History = proto.temporal.api.history.v1.IHistory;

interface Counts {
  histories: number;
  messages: number;
  events: number;
  workflowTasks: number;
  activities: number;
  localActivities: number;
  timersStarted: number;
  timersCancelled: number;
  upserts: number;
}
const zero = (): Counts => ({ histories: 0, messages: 0, events: 0, workflowTasks: 0, activities: 0, localActivities: 0, timersStarted: 0, timersCancelled: 0, upserts: 0 });

/** The ids of the patches a run took (core_patch markers). */
export function patchesOf(history: History): Set<string> {
  const ids = new Set<string>();
  for (const e of history.events ?? []) {
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName !== 'core_patch') continue;
    const data = m.details?.['patch-data']?.payloads?.[0]?.data;
    if (!data) continue;
    try {
      ids.add((JSON.parse(Buffer.from(data).toString('utf8')) as { id: string }).id);
    } catch {
      // Not a patch marker this script understands: it counts as no patch.
    }
  }
  return ids;
}

export function countHistory(history: History): Counts {
  const c = zero();
  c.histories = 1;
  for (const e of history.events ?? []) {
    c.events += 1;
    if (e.workflowExecutionSignaledEventAttributes?.signalName === 'inbound') c.messages += 1;
    else if (e.workflowTaskCompletedEventAttributes) c.workflowTasks += 1;
    else if (e.activityTaskScheduledEventAttributes) c.activities += 1;
    else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') c.localActivities += 1;
    else if (e.timerStartedEventAttributes) c.timersStarted += 1;
    else if (e.timerCanceledEventAttributes) c.timersCancelled += 1;
    else if (e.upsertWorkflowSearchAttributesEventAttributes) c.upserts += 1;
  }
  return c;
}

const add = (a: Counts, b: Counts): Counts => Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof Counts] + b[k as keyof Counts]])) as unknown as Counts;

function row(label: string, c: Counts): string {
  const per = (n: number) => (c.messages ? (n / c.messages).toFixed(2) : '-').padStart(8);
  return `${label.slice(0, 72).padEnd(72)} ${String(c.histories).padStart(4)} ${String(c.messages).padStart(5)} ${per(c.events)} ${per(c.workflowTasks)} ${per(c.activities)} ${per(c.localActivities)} ${per(c.timersStarted)} ${per(c.timersCancelled)} ${per(c.upserts)}`;
}

function main(argv: string[]): void {
  const prefixes: string[] = [];
  const withPatches: string[] = [];
  const withoutPatches: string[] = [];
  let byFile = false;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i]!;
    if (a === '--patch') withPatches.push(argv[++i] ?? '');
    else if (a === '--without') withoutPatches.push(argv[++i] ?? '');
    else if (a === '--by-file') byFile = true;
    else prefixes.push(a);
  }
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith('.history.bin') && f.includes('--conversationWorkflow--'))
    .filter((f) => !prefixes.length || prefixes.some((p) => f.startsWith(p)))
    .sort();
  let total = zero();
  console.log(`${'histories'.padEnd(72)} ${'runs'.padStart(4)} ${'msgs'.padStart(5)} ${'events'.padStart(8)} ${'wf tasks'.padStart(8)} ${'acts'.padStart(8)} ${'local'.padStart(8)} ${'timers'.padStart(8)} ${'cancels'.padStart(8)} ${'upserts'.padStart(8)}`);
  for (const f of files) {
    const history = temporal.api.history.v1.History.decode(readFileSync(join(DIR, f)));
    const patches = patchesOf(history);
    if (withPatches.some((p) => !patches.has(p)) || withoutPatches.some((p) => patches.has(p))) continue;
    const c = countHistory(history);
    if (!c.messages) continue;
    if (byFile) console.log(row(f, c));
    total = add(total, c);
  }
  const what = [prefixes.length ? prefixes.join(',') : 'all', ...withPatches.map((p) => `+${p}`), ...withoutPatches.map((p) => `-${p}`)].join(' ');
  console.log(row(`per inbound message (${what})`, total));
}

main(process.argv.slice(2));
