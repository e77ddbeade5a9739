/** What bench/run.ts and the processes it starts (bench/child.ts) say to each other over the IPC channel. */
export type ChildRole = 'api' | 'worker' | 'bare-worker';

export type ToChild = { type: 'memory'; id: number } | { type: 'stop' };

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Peak resident set since the process started (bytes). */
  maxRss: number;
  /** Workers only: workflow executions in the worker's cache (the SDK's `numCachedWorkflows`). */
  cachedWorkflows?: number;
}

export type FromChild =
  | { type: 'ready'; url?: string }
  | { type: 'memory'; id: number; memory: MemorySample }
  | { type: 'failed'; message: string };

/** Environment variables only the bench reads (the rest is duka's own configuration). */
export const CHILD_ENV = {
  bundle: 'BENCH_WORKFLOW_BUNDLE',
  sourceMap: 'BENCH_WORKFLOW_SOURCE_MAP',
  /** The API's port on 127.0.0.1 (any free one when unset): `npm run chaos` restarts its API on the same port. */
  apiPort: 'BENCH_API_PORT',
  /** The workers' `maxCachedWorkflows` (duka's 1000 when unset). */
  maxCached: 'BENCH_MAX_CACHED',
} as const;
