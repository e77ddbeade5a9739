import type { RequestHandler, Response } from 'express';

/**
 * Middleware for a simulated API behind `Authorization: Bearer <token>`: the request goes on when `accepts` takes its
 * token; otherwise `refuse` answers it in the provider's own error shape (`token` undefined: no Bearer header at all).
 */
export function requireBearer(accepts: (token: string) => boolean, refuse: (res: Response, token: string | undefined) => void): RequestHandler {
  return (req, res, next) => {
    const token = /^Bearer (\S+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (token !== undefined && accepts(token)) {
      next();
      return;
    }
    refuse(res, token);
  };
}
