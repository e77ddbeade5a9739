import type { Response } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Shop, type IShop } from '../db/entities.ts';
import { HttpError, parseInput } from './errors.ts';
import { scopeShop } from './auth.ts';

export const ShopIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'not a shop id');

/**
 * The shop named in a `/shops/:shopId/…` path, if this caller may use it: another shop's token gets 403, a shop that
 * does not exist 404.
 */
export async function pathShop(res: Response, orm: MikroORM, shopId: string): Promise<IShop> {
  const id = parseInput(ShopIdParam, shopId, 'shop id');
  scopeShop(res, id);
  const shop = await orm.em.fork().findOne(Shop, { id });
  if (!shop) throw new HttpError(404, 'not_found', `no shop ${id}`);
  return shop;
}

/** Optional ISO 8601 date-time with an offset; null clears it (PATCH). */
export const DateTimeInput = z.iso.datetime({ offset: true }).transform((s) => new Date(s));
