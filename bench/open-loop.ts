import * as hdr from 'hdr-histogram-js';

/**
 * Open-loop load: request i is due at t0 + i/rate whatever the answers to earlier ones, as Meta pushes webhooks. Its
 * latency counts from when it was due, not from when it left, so a stalled server is charged for every request it
 * kept waiting (coordinated omission corrected by construction). Latencies go into HDR histograms in microseconds.
 */

export interface OpenLoadResult {
  /** Requests due in the window (rate × seconds). */
  scheduled: number;
  /** Requests actually sent before the run was stopped. */
  sent: number;
  ok: number;
  errors: Map<string, number>;
  offeredRate: number;
  /** Successful answers per second, first due time → last answer. */
  achievedRate: number;
  /** From the due time to the answer, successful requests only. */
  latency: hdr.Histogram;
  /** performance.now() at which request i was due. */
  dueAt: (index: number) => number;
  startedAt: number;
  endedAt: number;
}

/** 1 µs to 5 minutes at three significant digits. */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 300_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

export const recordMs = (h: hdr.Histogram, ms: number): void => h.recordValue(Math.max(1, Math.round(ms * 1000)));

export interface LatencyFigures {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Milliseconds; NaN for an empty histogram. */
export function figuresOf(h: hdr.Histogram): LatencyFigures {
  const at = (p: number) => (h.totalCount ? h.getValueAtPercentile(p) / 1000 : Number.NaN);
  return { count: h.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: h.totalCount ? h.maxValue / 1000 : Number.NaN };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openLoop(rate: number, seconds: number, send: (index: number) => Promise<void>, signal: AbortSignal, answerTimeoutMs = 30_000): Promise<OpenLoadResult> {
  const scheduled = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const startedAt = performance.now();
  const dueAt = (i: number) => startedAt + i * interval;
  const latency = latencyHistogram();
  const errors = new Map<string, number>();
  let ok = 0;
  let sent = 0;
  let lastAnswer = startedAt;
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < scheduled && !signal.aborted; i++) {
    const wait = dueAt(i) - performance.now();
    if (wait > 1) await sleep(wait);
    sent += 1;
    const due = dueAt(i);
    const call = send(i).then(
      () => {
        lastAnswer = performance.now();
        recordMs(latency, lastAnswer - due);
        ok += 1;
      },
      (err: unknown) => {
        const key = err instanceof Error ? err.message.split('\n')[0]!.slice(0, 80) : String(err);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      },
    );
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
  }
  await Promise.race([Promise.all(inFlight), sleep(answerTimeoutMs)]);
  const unanswered = inFlight.size;
  if (unanswered > 0) errors.set(`no answer within ${answerTimeoutMs / 1000} s after the last send`, unanswered);
  const endedAt = performance.now();
  return { scheduled, sent, ok, errors, offeredRate: rate, achievedRate: (ok / Math.max(1, lastAnswer - startedAt)) * 1000, latency, dueAt, startedAt, endedAt };
}
