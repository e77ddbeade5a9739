import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { requestLog } from './context.ts';

/**
 * Every error leaves duka as `{ error: { code, message } }` (CONTRACT.md). Bad input is always a 4xx: body-parser's
 * own errors (malformed JSON, oversized, unsupported encoding) are translated here so they never surface as 5xx.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly code: string;
  readonly extra: Record<string, unknown> | undefined;
  constructor(status: number, code: string, message: string, extra?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export const badRequest = (message: string, code = 'bad_request') => new HttpError(400, code, message);
export const notFound = (message: string, code = 'not_found') => new HttpError(404, code, message);

export function sendError(res: Response, status: number, code: string, message: string, extra?: Record<string, unknown>): void {
  res.status(status).json({ error: { code, message }, ...extra });
}

/** zod → 400 with the first few problems spelled out by path. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  throw new HttpError(400, 'invalid_request', `invalid ${where}: ${problems.join('; ')}`);
}

/** body-parser / http-errors carry `status` and `type`. */
interface ParserError {
  status?: unknown;
  statusCode?: unknown;
  type?: unknown;
  expose?: unknown;
  message?: unknown;
}

const PARSER_CODES: Record<string, [number, string]> = {
  'entity.parse.failed': [400, 'invalid_json'],
  'entity.too.large': [413, 'payload_too_large'],
  'entity.verify.failed': [403, 'forbidden'],
  'encoding.unsupported': [415, 'unsupported_encoding'],
  'charset.unsupported': [415, 'unsupported_charset'],
  'request.aborted': [400, 'request_aborted'],
  'request.size.invalid': [400, 'bad_request'],
  'stream.encoding.set': [500, 'internal'],
  'parameters.too.many': [413, 'payload_too_large'],
};

const DEFAULT_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
  503: 'unavailable',
};

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, 404, 'not_found', `no route for ${req.method} ${req.path}`);
};

export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  const log = requestLog(res);
  if (err instanceof HttpError) {
    if (err.status >= 500) log.warn({ code: err.code, err: err.message }, 'request failed');
    sendError(res, err.status, err.code, err.message, err.extra);
    return;
  }
  const e = (typeof err === 'object' && err !== null ? err : {}) as ParserError;
  const type = typeof e.type === 'string' ? e.type : undefined;
  const mapped = type ? PARSER_CODES[type] : undefined;
  if (mapped) {
    const [status, code] = mapped;
    sendError(res, status, code, typeof e.message === 'string' ? e.message : code);
    return;
  }
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    sendError(res, status, DEFAULT_CODES[status] ?? 'bad_request', e.expose === true && typeof e.message === 'string' ? e.message : 'bad request');
    return;
  }
  log.error({ err, method: req.method }, 'unhandled error');
  sendError(res, 500, 'internal', 'internal error');
};
