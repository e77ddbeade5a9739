import type { Router } from 'express';
import { pageRouter } from './static.ts';

/**
 * The admin dashboard page (sandbox/web/admin.html, built with the sandbox page). It only talks to `/api/admin/*` with
 * the token the operator types (or passes as `?token=`), so it is safe to serve whether SANDBOX is on or off.
 * Mount it at `/admin`.
 */
export function adminPageRouter(options: { dist?: string } = {}): Router {
  return pageRouter({ page: 'admin.html', title: 'admin dashboard', ...(options.dist ? { dist: options.dist } : {}) });
}
