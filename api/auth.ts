import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { HttpError } from './errors.ts';
import { caller, setCaller, type Caller } from './context.ts';
import { sha256, type ShopDirectory } from './shops.ts';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

function unauthorized(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message);
}

/**
 * `Authorization: Bearer <token>`: `ADMIN_TOKEN` sees everything, a shop's token (its sha256 is `Shop.apiTokenHash`)
 * sees only that shop. Tokens are compared as sha256 digests in constant time, so neither content nor length leaks.
 */
export function bearerAuth(adminToken: string | undefined, shops: ShopDirectory): RequestHandler {
  const adminHash = adminToken ? sha256(adminToken) : null;
  return async (req, res, next) => {
    res.setHeader('WWW-Authenticate', 'Bearer realm="duka"');
    const header = req.get('authorization');
    if (!header) throw unauthorized('missing bearer token');
    const match = BEARER.exec(header);
    if (!match?.[1]) throw unauthorized('malformed Authorization header: use "Bearer <token>"');
    const token = match[1];
    const hash = sha256(token);
    if (adminHash && timingSafeEqual(adminHash, hash)) {
      setCaller(res, { kind: 'admin' });
    } else {
      const shop = await shops.byApiToken(token);
      if (!shop) throw unauthorized('invalid bearer token');
      setCaller(res, { kind: 'shop', shopId: shop.id });
    }
    res.removeHeader('WWW-Authenticate');
    next();
  };
}

export function requireCaller(res: Response): Caller {
  const c = caller(res);
  if (!c) throw unauthorized('missing bearer token');
  return c;
}

/**
 * The shop a request may look at: a shop token is pinned to its shop (asking for another is 403), an admin may
 * name one or none.
 */
export function scopeShop(res: Response, requested: string | undefined): string | undefined {
  const c = requireCaller(res);
  if (c.kind === 'admin') return requested;
  if (requested !== undefined && requested !== c.shopId) throw new HttpError(403, 'forbidden', 'this token may only access its own shop');
  return c.shopId;
}

/** Whether the caller may see a row of `shopId`. */
export function canSeeShop(res: Response, shopId: string): boolean {
  const c = requireCaller(res);
  return c.kind === 'admin' || c.shopId === shopId;
}
