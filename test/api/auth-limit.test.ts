import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import type { Request, Response } from 'express';
import { authFailureLimit } from '../../api/limits.ts';

/** The limiter on its own: what counts is a 401 once it is sent; requests in flight or abandoned never do. */
describe('authFailureLimit', () => {
  const limit = authFailureLimit({ limit: 3, windowMs: 60_000 });
  const request = { ip: '203.0.113.7', socket: {} } as unknown as Request;
  function response(): Response & EventEmitter {
    const res = new EventEmitter() as Response & EventEmitter & { sent?: { status: number; body: unknown } };
    Object.assign(res, {
      statusCode: 200,
      headers: {} as Record<string, string>,
      setHeader(name: string, value: string) { (res as unknown as { headers: Record<string, string> }).headers[name.toLowerCase()] = value; },
      status(code: number) { res.statusCode = code; return res; },
      json(body: unknown) { res.sent = { status: res.statusCode, body }; res.emit('answered'); return res; },
    });
    return res;
  }
  /** true when the request goes on to authentication, false when the limiter answers it. */
  const pass = (res: Response & EventEmitter) =>
    new Promise<boolean>((resolve) => {
      res.once('answered', () => resolve(false));
      limit(request, res, () => resolve(true));
    });

  it('lets any number of requests in flight through, and limits only after the 401s it has seen', async () => {
    const inFlight = Array.from({ length: 10 }, response);
    for (const res of inFlight) expect(await pass(res)).toBe(true);
    // Abandoned or answered 200: nothing counts.
    for (const res of inFlight.slice(0, 5)) res.emit('close');
    for (const res of inFlight.slice(5)) res.emit('finish');
    expect(await pass(response())).toBe(true);
    for (const res of inFlight.slice(0, 3)) {
      res.statusCode = 401;
      res.emit('finish');
    }
    await new Promise((r) => setTimeout(r, 10));
    const limited = response() as Response & { sent?: { status: number }; headers: Record<string, string> };
    expect(await pass(limited)).toBe(false);
    expect(limited.sent?.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });
});
