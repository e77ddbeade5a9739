import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * CPU time of a process and everything under it, from /proc (Linux only: elsewhere every figure is NaN). Used to
 * say where the two cores went during a scenario: load generator, API, worker, Temporal, PostgreSQL.
 */
const LINUX = process.platform === 'linux';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcStat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks: its own CPU and that of children it has reaped. */
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing one.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const field = (n: number) => Number(rest[n - 3]);
    return { ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by `pid` and its live descendants (plus their reaped children). */
export function cpuSeconds(pid: number | undefined): number {
  if (!LINUX || pid === undefined) return Number.NaN;
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  if (!stats.has(pid)) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const [child, { ppid }] of stats) {
    const list = children.get(ppid);
    if (list) list.push(child);
    else children.set(ppid, [child]);
  }
  let ticks = 0;
  const queue = [pid];
  while (queue.length) {
    const current = queue.pop()!;
    ticks += stats.get(current)?.ticks ?? 0;
    queue.push(...(children.get(current) ?? []));
  }
  return ticks / ticksPerSecond();
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The postmaster's pid, from the first line of `postmaster.pid` in its data directory. */
export function postmasterPid(dataDirectory: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${dataDirectory}/postmaster.pid`, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Machine-wide CPU seconds so far (all cores, /proc/stat): busy (idle and iowait excluded) and stolen by the hypervisor. */
export function machineCpu(): { busy: number; steal: number } {
  if (!LINUX) return { busy: Number.NaN, steal: Number.NaN };
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    const hz = ticksPerSecond();
    return { busy: (user! + nice! + system! + irq! + softirq!) / hz, steal: (steal ?? 0) / hz };
  } catch {
    return { busy: Number.NaN, steal: Number.NaN };
  }
}

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
