import { pino } from 'pino';

/** Phone numbers never reach a log line: any run of 9–15 digits (with an optional +) is masked, whatever field it sits in. */
const PHONE = /\+?\d{9,15}/g;
export function maskPhones(text: string): string {
  return text.replace(PHONE, (m) => `${m.slice(0, m.startsWith('+') ? 4 : 3)}…${m.slice(-2)}`);
}

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskPhones(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { type: value.name, message: maskPhones(value.message), stack: value.stack && maskPhones(value.stack) };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, scrub(v, depth + 1)]));
}

export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info'),
  base: { service: process.env.DUKA_PROCESS ?? 'duka' },
  formatters: { log: (obj) => scrub(obj) as Record<string, unknown> },
  hooks: {
    logMethod(args, method) {
      method.apply(this, args.map((a) => (typeof a === 'string' ? maskPhones(a) : a)) as Parameters<typeof method>);
    },
  },
});

export type Logger = typeof logger;
