import { randomUUID } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { logger, type Logger } from '../lib/logger.ts';

/** Per-request context kept on `res.locals`: id (echoed as `x-request-id`), a child logger, and who called. */
/** A shop caller names its token (`legacy` for the old `shop.api_token_hash`), so the audit log can say which one acted. */
export type Caller = { kind: 'admin' } | { kind: 'shop'; shopId: string; tokenId: string };

interface Locals {
  requestId?: string;
  log?: Logger;
  caller?: Caller;
}

const locals = (res: Response) => res.locals as Locals;

export const requestId = (res: Response): string => locals(res).requestId ?? 'none';
export const requestLog = (res: Response): Logger => locals(res).log ?? logger;
export const caller = (res: Response): Caller | undefined => locals(res).caller;
export const setCaller = (res: Response, value: Caller): void => {
  locals(res).caller = value;
};

/** A caller-chosen id is kept when it is plain (so a load balancer's id carries through), else a new one is made. */
const PLAIN_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Secrets that travel in URLs: the per-payment M-Pesa token must never reach a log line. */
export function loggablePath(path: string): string {
  return path.replace(/^(\/webhooks\/mpesa\/)[^/?#]+/, '$1[token]');
}

export function requestContext(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const id = incoming && PLAIN_ID.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ reqId: id });
    const l = locals(res);
    l.requestId = id;
    l.log = log;
    res.setHeader('x-request-id', id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const entry = { method: req.method, path: loggablePath(req.path), status: res.statusCode, ms: Math.round(ms * 10) / 10 };
      if (res.statusCode >= 500) log.warn(entry, 'request');
      else log.debug(entry, 'request');
    });
    next();
  };
}
