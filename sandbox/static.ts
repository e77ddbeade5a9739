import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';

/** Where `scripts/build-sandbox.mjs` puts the built pages (git-ignored). */
export const WEB_DIST = fileURLToPath(new URL('./web/dist', import.meta.url));

const NOT_BUILT = (page: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>duka sandbox</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem">
<h1>The ${page} page is not built yet</h1>
<p>Run <code>npm start</code> (it builds it), or <code>node scripts/build-sandbox.mjs</code>, then reload.</p></body></html>`;

/**
 * Serves one built HTML page at the mount root, and the shared hashed assets beside it. The page links its assets
 * relatively, so `/sandbox` is redirected to `/sandbox/` first.
 */
export function pageRouter(options: { page: string; title: string; dist?: string }): Router {
  const dist = options.dist ?? WEB_DIST;
  const router = express.Router();
  router.get('/', (req: Request, res: Response) => {
    const url = new URL(req.originalUrl, 'http://sandbox.invalid');
    if (!url.pathname.endsWith('/')) return res.redirect(301, `${url.pathname}/${url.search}`);
    const file = join(dist, options.page);
    if (!existsSync(file)) return res.status(503).type('html').send(NOT_BUILT(options.title));
    res.set({ 'cache-control': 'no-cache', 'referrer-policy': 'no-referrer' }).type('html').send(readFileSync(file));
  });
  const assets = express.static(join(dist, 'assets'), { immutable: true, maxAge: '1y', index: false, fallthrough: true });
  router.use('/assets', assets, (_req: Request, res: Response, _next: NextFunction) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such asset' } });
  });
  return router;
}
