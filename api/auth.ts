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
 * `Authorization: Bearer <token>`: `ADMIN_TOKEN` sees everything, a shop's token (issued into `shop_token`, or the
 * legacy `Shop.apiTokenHash`) sees only that shop. The admin token is compared as a sha256 digest in constant time;
 * shop tokens are looked up by digest on every request, so a revoked one is refused at once.
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
      const owner = await shops.byApiToken(token);
      if (!owner) throw unauthorized('invalid bearer token');
      setCaller(res, { kind: 'shop', shopId: owner.shopId, tokenId: owner.tokenId });
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

/** Only `ADMIN_TOKEN` (creating shops, deactivating one, reading every shop's audit): a shop token gets 403. */
export function requireAdmin(res: Response): void {
  if (requireCaller(res).kind !== 'admin') throw new HttpError(403, 'forbidden', 'this needs the admin token');
}

/** A route under `/shops/:shopId`: a shop token may act only on its own shop (403 otherwise). */
export function requireShopAccess(res: Response, shopId: string): void {
  if (!canSeeShop(res, shopId)) throw new HttpError(403, 'forbidden', 'this token may only access its own shop');
}

/** Who acted, as the audit log names it: `admin` or `token:<id>` (`token:legacy` for the old single shop token). */
export function actorOf(res: Response): string {
  const c = requireCaller(res);
  return c.kind === 'admin' ? 'admin' : `token:${c.tokenId}`;
}
