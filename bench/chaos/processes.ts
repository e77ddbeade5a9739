import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, startDevServer, type DevServer } from '../../lib/temporal-binaries.ts';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';
import { CHILD_ENV, type FromChild, type ToChild } from '../ipc.ts';
import { isAlive } from '../proc.ts';
import { instanceIds, roleOf, type Role } from './pool.ts';

/**
 * The processes `npm run chaos` kills, each by instance: duka's APIs (`api#1`, `api#2`, … each on its own port) and
 * workers (`worker#1`, … all polling one task queue), bench/child.ts built as `npm run api` and `npm run worker` build
 * them and configured by the environment alone, and the one Temporal dev server (SQLite on disk, so it comes back with
 * its state). Each is restarted after a kill, and after any exit nobody asked for (a crash).
 */
export type { Role } from './pool.ts';

const CHILD_SCRIPT = relative(REPO_ROOT, fileURLToPath(new URL('../child.ts', import.meta.url)));
const START_TIMEOUT_MS = 90_000;
const NOT_SOURCE = new Set(['node_modules', '.git', '.tools', '.data', 'test-artifacts', 'dist']);

/**
 * A copy of the source as it is now, which every start of the API and the worker runs: a process restarted in the
 * middle of the run must run the code the run started with, even while someone edits the checkout. node_modules is
 * linked, not copied. Returns the copy's root.
 */
export function snapshotSource(into: string): string {
  cpSync(REPO_ROOT, into, { recursive: true, filter: (from) => !NOT_SOURCE.has(relative(REPO_ROOT, from).split(/[\\/]/)[0]!) });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  return into;
}

export interface SupervisorOptions {
  /** The source the API and the worker run (see snapshotSource). */
  sourceRoot: string;
  /** duka's environment for the APIs and the workers. */
  env: NodeJS.ProcessEnv;
  /** One API per port (`api#1` on the first). */
  apiPorts: number[];
  workers: number;
  /** What differs from `env` for one API or worker instance (its metrics port, its own address at the fakes). */
  instanceEnv: (id: string) => NodeJS.ProcessEnv;
  temporal: { port: number; uiPort: number; dbFile: string };
  /** Where each process's output goes (api-1.log, worker-2.log, temporal.log). */
  logDir: string;
  /** Pause before a killed process is started again (ms, uniformly). */
  restartDelayMs: () => number;
  log: (line: string) => void;
}

interface Slot {
  id: string;
  role: Role;
  up: boolean;
  upSince: number;
  /** A start (or the wait before it) is under way. */
  restarting: boolean;
  pid: number | undefined;
  child: ChildProcess | undefined;
  server: DevServer | undefined;
  kills: Map<string, number>;
  crashes: number;
  starts: number;
  /** Time down after a kill or a crash (the first start does not count). */
  downMs: number;
  downSince: number | null;
}

export interface ProcessFigures {
  id: string;
  role: Role;
  kills: Record<string, number>;
  crashes: number;
  starts: number;
  downSeconds: number;
}

export class Supervisor {
  private readonly opts: SupervisorOptions;
  /** By instance id, workers first, then APIs, then Temporal. */
  private readonly slots: Map<string, Slot>;
  private readonly apiPorts: Map<string, number>;
  private stopping = false;
  private temporalLog: number | undefined;
  private readonly watchdog: ReturnType<typeof setInterval>;

  constructor(opts: SupervisorOptions) {
    this.opts = opts;
    const slot = (id: string): Slot => ({ id, role: roleOf(id), up: false, upSince: 0, restarting: false, pid: undefined, child: undefined, server: undefined, kills: new Map(), crashes: 0, starts: 0, downMs: 0, downSince: null });
    this.slots = new Map(instanceIds({ apis: opts.apiPorts.length, workers: opts.workers }).map((id) => [id, slot(id)]));
    this.apiPorts = new Map(opts.apiPorts.map((port, i) => [`api#${i + 1}`, port]));
    // The Temporal server is not our child's child: notice its death by polling.
    this.watchdog = setInterval(() => {
      const t = this.slot('temporal');
      if (t.up && t.pid !== undefined && !isAlive(t.pid)) {
        t.pid = undefined;
        this.exited(t, true);
      }
    }, 500);
    this.watchdog.unref();
  }

  private slot(id: string): Slot {
    const s = this.slots.get(id);
    if (!s) throw new Error(`no process ${id} in this run`);
    return s;
  }

  /** Instance ids, of one role or all. */
  instances(role?: Role): string[] {
    return [...this.slots.values()].filter((s) => role === undefined || s.role === role).map((s) => s.id);
  }

  isUp(id: string): boolean {
    return this.slot(id).up;
  }

  /** How long the process has been up (0 when it is not). */
  upFor(id: string): number {
    const s = this.slot(id);
    return s.up ? Date.now() - s.upSince : 0;
  }

  /** The processes that still run (after stopAll: none, or something went wrong). */
  running(): string[] {
    return [...this.slots.values()].filter((s) => this.isRunning(s)).map((s) => `${s.id} (pid ${s.pid})`);
  }

  /** `pid` is only set while the process is ours and has not been seen to end, so no reused pid is ever signalled. */
  private isRunning(s: Slot): boolean {
    if (s.pid === undefined) return false;
    if (s.role !== 'temporal') return s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null;
    return isAlive(s.pid);
  }

  private sigkill(s: Slot): void {
    if (!this.isRunning(s)) return;
    if (s.role === 'temporal') process.kill(s.pid!, 'SIGKILL');
    else s.child!.kill('SIGKILL');
    s.pid = undefined;
  }

  /** Temporal first, then the workers and the APIs; resolves once every one is up. */
  async startAll(): Promise<void> {
    await this.start(this.slot('temporal'));
    await Promise.all([...this.slots.values()].filter((s) => s.role !== 'temporal').map((s) => this.start(s)));
  }

  /** SIGKILL the instance now; it comes back after the restart delay. False when it was not up. */
  kill(id: string, reason: string): boolean {
    const s = this.slot(id);
    if (!s.up || this.stopping || !this.isRunning(s)) return false;
    s.kills.set(reason, (s.kills.get(reason) ?? 0) + 1);
    this.opts.log(`chaos: SIGKILL ${id} (${reason})`);
    this.markDown(s);
    this.sigkill(s);
    this.restartLater(s, this.opts.restartDelayMs());
    return true;
  }

  /** Resolves once every process is up (restarting what is down), or rejects after `timeoutMs`. */
  async allUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const down = [...this.slots.values()].filter((s) => !s.up);
      if (down.length === 0) return;
      for (const s of down) if (!s.restarting) this.restartLater(s, 0);
      if (Date.now() > deadline) throw new Error(`still down after ${Math.round(timeoutMs / 1000)} s: ${down.map((s) => s.id).join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  figures(): ProcessFigures[] {
    return [...this.slots.values()].map((s) => {
      return { id: s.id, role: s.role, kills: Object.fromEntries(s.kills), crashes: s.crashes, starts: s.starts, downSeconds: (s.downMs + (s.downSince === null ? 0 : Date.now() - s.downSince)) / 1000 };
    });
  }

  /** Graceful: the APIs and the workers drain, then Temporal stops. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    clearInterval(this.watchdog);
    await Promise.all([...this.slots.values()].map((s) => this.stopChild(s)));
    const temporal = this.slot('temporal');
    await temporal.server?.stop();
    temporal.pid = undefined;
    if (this.temporalLog !== undefined) closeSync(this.temporalLog);
    this.temporalLog = undefined;
  }

  /** Last resort (a failure, a signal, process exit): SIGKILL whatever still runs. Synchronous. */
  killAll(): void {
    this.stopping = true;
    clearInterval(this.watchdog);
    for (const s of this.slots.values()) this.sigkill(s);
  }

  private markDown(s: Slot): void {
    if (s.up) s.downSince = Date.now();
    s.up = false;
  }

  private exited(s: Slot, unexpected: boolean): void {
    if (!s.up && !unexpected) return;
    const wasUp = s.up;
    this.markDown(s);
    if (this.stopping || !wasUp) return;
    s.crashes += 1;
    this.opts.log(`chaos: ${s.id} exited by itself; restarting it`);
    this.restartLater(s, 1_000);
  }

  private restartLater(s: Slot, delayMs: number): void {
    if (s.restarting || this.stopping) return;
    s.restarting = true;
    const attempt = async () => {
      await new Promise((r) => setTimeout(r, delayMs));
      for (let tries = 1; !this.stopping; tries++) {
        try {
          await this.start(s);
          return;
        } catch (err) {
          this.opts.log(`chaos: ${s.id} did not start (try ${tries}): ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
          await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * tries)));
        }
      }
    };
    void attempt().finally(() => (s.restarting = false));
  }

  private async start(s: Slot): Promise<void> {
    // Reap what a kill left (the dev server's exit listener goes with it).
    await s.server?.stop().catch(() => undefined);
    s.server = undefined;
    if (s.role === 'temporal') {
      this.temporalLog ??= openSync(join(this.opts.logDir, 'temporal.log'), 'a');
      const log = this.temporalLog;
      const server = await startDevServer({
        ...this.opts.temporal,
        namespace: 'default',
        searchAttributes: SEARCH_ATTRIBUTES,
        logLevel: 'warn',
        startTimeoutMs: 60_000,
        onLog: (line) => void writeSync(log, `${line}\n`),
      });
      s.server = server;
      s.pid = server.pid;
    } else {
      s.pid = await this.spawnChild(s);
    }
    if (this.stopping) return;
    s.starts += 1;
    if (s.downSince !== null) s.downMs += Date.now() - s.downSince;
    s.downSince = null;
    s.up = true;
    s.upSince = Date.now();
  }

  /** bench/child.ts as the instance's role, its output appended to <role>-<n>.log; resolves with its pid once it says it is ready. */
  private spawnChild(s: Slot): Promise<number> {
    const name = s.id.replace('#', '-');
    const out = openSync(join(this.opts.logDir, `${name}.log`), 'a');
    const apiPort = this.apiPorts.get(s.id);
    const env = { ...this.opts.env, ...this.opts.instanceEnv(s.id), DUKA_PROCESS: `chaos-${name}`, ...(apiPort !== undefined ? { [CHILD_ENV.apiPort]: String(apiPort), PORT: String(apiPort) } : {}) };
    const child = spawn(process.execPath, [join(this.opts.sourceRoot, CHILD_SCRIPT), s.role], { env, cwd: this.opts.sourceRoot, stdio: ['ignore', out, out, 'ipc'] });
    closeSync(out);
    s.child = child;
    return new Promise<number>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`not ready within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      child.on('message', (message: FromChild) => {
        if (message.type === 'ready') {
          ready = true;
          clearTimeout(timer);
          resolve(child.pid!);
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(message.message.split('\n')[0]));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (s.child === child) s.pid = undefined;
        if (!ready) reject(new Error(`exited (${signal ?? code}) before it was ready; see ${name}.log`));
        else if (s.child === child) this.exited(s, s.up);
      });
    });
  }

  private async stopChild(s: Slot): Promise<void> {
    const child = s.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
    else child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
    s.up = false;
  }
}
