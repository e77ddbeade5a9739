import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Router } from 'express';
import cors from 'cors';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { HttpError, parseInput } from '../api/errors.ts';

/**
 * Temporal's remote codec protocol (`POST /codec/encode`, `POST /codec/decode`, body `{ payloads: [{ metadata, data }] }`
 * with base64 bytes, as the Web UI and `temporal --codec-endpoint` send it), so an operator who holds the key reads
 * orders in the UI while Temporal itself only ever stores ciphertext.
 *
 * Who may call it:
 * - browsers only from the Temporal UI's own origin (CORS: `http://localhost:<TEMPORAL_UI_PORT>` or `TEMPORAL_UI_URL`);
 * - in the sandbox (`npm start`, one machine, generated keys) without a token: the local UI cannot send one;
 * - with the sandbox off only with `Authorization: Bearer <ADMIN_TOKEN>` (not a shop's token: decoding reveals every
 *   shop's customers), e.g. `temporal workflow show --codec-endpoint … --codec-auth "Bearer $ADMIN_TOKEN"`; without an
 *   `ADMIN_TOKEN` it answers 404.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins allowed to call from a browser (the Temporal UI's). */
  uiOrigins: readonly string[];
  /** Open without a token (the sandbox). */
  open: boolean;
  adminToken: string | undefined;
}

/** At most this many payloads per call: the UI sends one page of events at a time. */
const MAX_PAYLOADS = 1000;
const BYTES_LIMIT = '4mb';

const base64 = z.string().max(6_000_000).regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
const PayloadsBody = z.object({
  payloads: z
    .array(z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }))
    .max(MAX_PAYLOADS),
});
type WirePayload = z.infer<typeof PayloadsBody>['payloads'][number];

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toWire = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

const digest = (s: string) => createHash('sha256').update(s).digest();

export function codecRouter(options: CodecServerOptions): Router {
  const router = express.Router();
  const adminHash = options.adminToken ? digest(options.adminToken) : undefined;
  router.use(
    cors({
      origin: [...options.uiOrigins],
      methods: ['POST'],
      allowedHeaders: ['Content-Type', 'X-Namespace', 'Authorization'],
      maxAge: 600,
    }),
  );
  router.use((req, _res, next) => {
    if (options.open) return next();
    if (!adminHash) throw new HttpError(404, 'not_found', 'the codec endpoint is off: set ADMIN_TOKEN to use it');
    const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.get('authorization') ?? '')?.[1];
    if (!token || !timingSafeEqual(digest(token), adminHash)) throw new HttpError(401, 'unauthorized', 'the codec endpoint takes Authorization: Bearer <ADMIN_TOKEN>');
    next();
  });
  const json = express.json({ limit: BYTES_LIMIT, type: () => true });
  for (const direction of ['encode', 'decode'] as const) {
    router.post(`/${direction}`, json, async (req, res) => {
      const { payloads } = parseInput(PayloadsBody, req.body, 'payloads');
      let out: Payload[];
      try {
        out = await options.codec[direction](payloads.map(fromWire));
      } catch (err) {
        throw new HttpError(400, 'undecodable', (err as Error).message);
      }
      res.json({ payloads: out.map(toWire) });
    });
  }
  return router;
}

/** The Temporal UI's origins for a UI URL (`localhost` and `127.0.0.1` are the same machine to a person, not to CORS). */
export function uiOrigins(uiUrl: string): string[] {
  const url = new URL(uiUrl);
  const origins = new Set([url.origin]);
  if (url.hostname === 'localhost') origins.add(`${url.protocol}//127.0.0.1${url.port ? `:${url.port}` : ''}`);
  if (url.hostname === '127.0.0.1') origins.add(`${url.protocol}//localhost${url.port ? `:${url.port}` : ''}`);
  return [...origins];
}
