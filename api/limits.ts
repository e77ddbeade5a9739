import http from 'node:http';
import type { Express, RequestHandler } from 'express';
import { ipKeyGenerator, MemoryStore } from 'express-rate-limit';
import { hasNul, nestsDeeperThan, MAX_JSON_DEPTH } from '../lib/untrusted-json.ts';
import { HttpError, sendError } from './errors.ts';

/** Largest request body accepted anywhere (413 above it). */
export const BODY_LIMIT = '1mb';

/**
 * Node's defaults hold a request whose body never arrives for 5 minutes and check only every 30 s: a client that
 * trickles bytes would tie up sockets for that long. Webhooks and the back office send small bodies at once.
 */
export const SERVER_LIMITS = {
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 2_000,
} as const satisfies http.ServerOptions;

/**
 * Every `app.listen` of duka's app (production, the bench's children, tests) gets SERVER_LIMITS: Express's own
 * listen makes a server with Node's defaults, and the places that call it are many. The callback is Node's: called
 * once listening, while a failure (a busy port) is only an `error` event. Express 5 also calls the callback with the
 * error, which callers written as `listen(port, () => resolve(server))` took for success: the API then ran without a
 * port instead of saying which one was busy.
 */
export function listenWithLimits(app: Express): void {
  app.listen = function listen(...args: unknown[]) {
    const server = http.createServer(SERVER_LIMITS, app);
    server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeout;
    return server.listen(...(args as Parameters<http.Server['listen']>));
  } as Express['listen'];
}

/** A NUL in the path or query (`%00`) can match nothing duka stores, and PostgreSQL refuses it in a lookup. */
export const refuseNulInUrl: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.url) || hasNul(req.url)) throw new HttpError(400, 'invalid_url', 'the URL contains a NUL character');
  next();
};

/** body-parser's `verify` for JSON bodies: too deep is a 400 before it is parsed. */
export function refuseDeepJson(_req: unknown, _res: unknown, buf: Buffer): void {
  if (nestsDeeperThan(buf.toString('utf8'), MAX_JSON_DEPTH)) throw new HttpError(400, 'invalid_json', `JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
}

/** Failed bearer authentications a client may make per window before every request of its gets 429. */
export const AUTH_FAILURES = { limit: 20, windowMs: 15 * 60_000 };

/**
 * Guessing tokens is slowed per client address: only answers 401 count, once they are sent, so an operator's own
 * traffic never does (nor do its requests still in flight or abandoned by the client); past the limit the client gets
 * 429 with Retry-After until its window ends, whatever token it sends. express-rate-limit's store keeps the counts.
 */
export function authFailureLimit(options: { limit: number; windowMs: number } = AUTH_FAILURES): RequestHandler {
  const store = new MemoryStore();
  store.init({ windowMs: options.windowMs } as Parameters<MemoryStore['init']>[0]);
  return (req, res, next) => {
    const key = ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    store
      .get(key)
      .then((seen) => {
        if (seen && seen.totalHits >= options.limit) {
          const waitS = Math.max(1, Math.ceil(((seen.resetTime?.getTime() ?? Date.now() + options.windowMs) - Date.now()) / 1000));
          res.setHeader('Retry-After', String(waitS));
          sendError(res, 429, 'too_many_requests', 'too many failed authentications from this address; retry later');
          return;
        }
        res.once('finish', () => {
          if (res.statusCode === 401) void store.increment(key);
        });
        next();
      })
      .catch(next);
  };
}

/** Stored body of a refused or repeated callback: enough to see what it was, not enough to fill a disk. */
export const MAX_REFUSAL_BYTES = 4 * 1024;

/**
 * Rows a source may add per minute (refused callbacks per provider): past it the rest of that minute is only counted,
 * in the metrics and in one log line when the minute ends, so forged traffic cannot grow a table without bound.
 */
export class PerMinuteBudget {
  private minute = 0;
  private readonly used = new Map<string, number>();
  private readonly limit: number;
  private readonly onDropped: (key: string, dropped: number) => void;
  private readonly now: () => number;

  constructor(limit: number, onDropped: (key: string, dropped: number) => void, now: () => number = Date.now) {
    this.limit = limit;
    this.onDropped = onDropped;
    this.now = now;
  }

  /** True when `key` may add one more row this minute. */
  take(key: string): boolean {
    const minute = Math.floor(this.now() / 60_000);
    if (minute !== this.minute) {
      for (const [k, n] of this.used) if (n > this.limit) this.onDropped(k, n - this.limit);
      this.used.clear();
      this.minute = minute;
    }
    const n = (this.used.get(key) ?? 0) + 1;
    this.used.set(key, n);
    return n <= this.limit;
  }
}
