import { parseArgs } from 'node:util';

/** `npm run chaos` settings: a flag (`--journeys 20` or `--journeys=20`) wins over its variable (CHAOS_JOURNEYS). */
export interface Settings {
  journeys: number;
  concurrency: number;
  /** duka APIs, each on its own port; webhooks and callbacks are spread over the live ones. */
  apis: number;
  /** duka workers, all polling the one task queue. */
  workers: number;
  /** The whole run, set-up and clean-up included, in seconds: at the limit everything is killed. */
  timeLimitS: number;
  /** How long the run waits, after the journeys, for in-flight work to finish before it looks (s). */
  settleS: number;
  /** How long a customer waits for one answer (the receipt included) before the journey counts as stuck (s). */
  stepTimeoutS: number;
  killEveryS: number;
  worstRate: number;
  /** false: no kills at all (a baseline that should always pass). */
  kills: boolean;
  seed: number;
  /** Keep the work directory (logs of each process, the databases) instead of deleting it. */
  keep: boolean;
}

interface Spec {
  flag: string;
  env: string;
  fallback: number;
  min: number;
  max: number;
  integer: boolean;
  help: string;
}

const SPECS: Record<Exclude<keyof Settings, 'kills' | 'keep'>, Spec> = {
  journeys: { flag: 'journeys', env: 'CHAOS_JOURNEYS', fallback: 50, min: 1, max: 5_000, integer: true, help: 'customers who each buy and pay once' },
  concurrency: { flag: 'concurrency', env: 'CHAOS_CONCURRENCY', fallback: 20, min: 1, max: 500, integer: true, help: 'journeys under way at once' },
  apis: { flag: 'apis', env: 'CHAOS_APIS', fallback: 2, min: 1, max: 8, integer: true, help: 'duka API processes, each on its own port' },
  workers: { flag: 'workers', env: 'CHAOS_WORKERS', fallback: 2, min: 1, max: 8, integer: true, help: 'duka worker processes on the one task queue' },
  timeLimitS: { flag: 'time-limit', env: 'CHAOS_TIME_LIMIT', fallback: 1_200, min: 60, max: 86_400, integer: true, help: 'hard limit of the whole run, seconds' },
  settleS: { flag: 'settle', env: 'CHAOS_SETTLE', fallback: 120, min: 5, max: 3_600, integer: true, help: 'seconds to let in-flight work finish before the checks' },
  stepTimeoutS: { flag: 'step-timeout', env: 'CHAOS_STEP_TIMEOUT', fallback: 300, min: 5, max: 3_600, integer: true, help: 'seconds a customer waits for an answer' },
  killEveryS: { flag: 'kill-every', env: 'CHAOS_KILL_EVERY', fallback: 30, min: 1, max: 3_600, integer: false, help: 'mean seconds between random kills' },
  worstRate: { flag: 'worst-rate', env: 'CHAOS_WORST_RATE', fallback: 0.15, min: 0, max: 1, integer: false, help: 'chance of a kill at each worst moment' },
  seed: { flag: 'seed', env: 'CHAOS_SEED', fallback: -1, min: 0, max: 2 ** 32 - 1, integer: true, help: 'random seed (a run prints its own)' },
};

export const USAGE = [
  'npm run chaos [-- options]   (each option also reads as a variable)',
  ...Object.values(SPECS).map((s) => `  --${s.flag.padEnd(13)} ${s.env.padEnd(19)} ${s.help}${s.fallback >= 0 ? ` (default ${s.fallback})` : ''}`),
  `  --no-kills      CHAOS_KILLS=off     the same journeys without killing anything`,
  `  --keep          CHAOS_KEEP=1        keep the work directory (each process's log) after the run`,
].join('\n');

export class SettingsError extends Error {
  /** 0 for --help, 2 for a bad option. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function readSettings(argv: string[], env: NodeJS.ProcessEnv): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(Object.values(SPECS).map((s) => [s.flag, { type: 'string' as const }])),
      'no-kills': { type: 'boolean' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) throw new SettingsError(USAGE, 0);
  const read = (spec: Spec): number => {
    const raw = (values as Record<string, string | boolean | undefined>)[spec.flag] ?? env[spec.env];
    if (raw === undefined || raw === '' || typeof raw === 'boolean') return spec.fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < spec.min || value > spec.max || (spec.integer && !Number.isInteger(value))) {
      throw new SettingsError(`--${spec.flag} / ${spec.env}=${raw}: ${spec.integer ? 'a whole number' : 'a number'} from ${spec.min} to ${spec.max}`);
    }
    return value;
  };
  const settings = Object.fromEntries(Object.entries(SPECS).map(([key, spec]) => [key, read(spec)])) as Omit<Settings, 'kills' | 'keep'>;
  if (settings.seed < 0) settings.seed = Math.floor(Math.random() * 2 ** 32);
  const off = /^(off|0|false|no)$/i;
  return {
    ...settings,
    kills: !(values['no-kills'] === true || off.test(env.CHAOS_KILLS ?? '')),
    keep: values.keep === true || /^(1|on|true|yes)$/i.test(env.CHAOS_KEEP ?? ''),
  };
}
