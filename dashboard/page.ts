import { fileURLToPath } from 'node:url';
import type { Router } from 'express';
import { pageRouter } from '../sandbox/static.ts';

/** Where `scripts/build-sandbox.mjs` puts the built dashboard (git-ignored). */
export const DASHBOARD_DIST = fileURLToPath(new URL('./dist', import.meta.url));

/**
 * The operator's dashboard (dashboard/index.html, built by scripts/build-sandbox.mjs beside the sandbox page). It only
 * talks to `/api/admin/*` with the token the operator types (or passes as `?token=`), so it is safe to serve whether
 * SANDBOX is on or off. Mount it at `/admin`.
 */
export function adminPageRouter(options: { dist?: string } = {}): Router {
  return pageRouter({ page: 'index.html', title: 'admin dashboard', dist: options.dist ?? DASHBOARD_DIST });
}
