import { z } from 'zod';
import type { EntityManager } from '@mikro-orm/postgresql';
import { HttpError } from './errors.ts';
import { decodeCursor, encodeCursor } from './read-model.ts';

/**
 * How every back-office list pages (`GET /api/admin/orders`, customers, a shop's bookings and promotions): newest first,
 * `limit` (1–200, default 50) rows a page, and `cursor`, the `nextCursor` of the page before (null on the last page).
 * A cursor is the last row's exact `created_at` and id (api/read-model.ts), so rows created in the same instant page
 * correctly.
 */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(300).optional(),
});

export type Cursor = { at: string; id: string };

/** The cursor a request names, if any; one this API did not give is a 400. */
export function cursorOf(cursor: string | undefined): Cursor | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (decoded === null) throw new HttpError(400, 'invalid_request', 'invalid query: cursor: not a cursor from this API');
  return decoded;
}

/**
 * One page of a table's rows of one shop, newest first: the keys are read in SQL (the cursor's time exactly as
 * PostgreSQL keeps it, microseconds, which a JavaScript Date would cut), then `load` reads those rows as entities; they
 * come back in page order with the cursor of the next page.
 */
export async function shopPage<T extends { id: string }>(
  em: EntityManager,
  table: 'booking' | 'promotion',
  shopId: string,
  query: z.infer<typeof PageQuery>,
  load: (ids: string[]) => Promise<T[]>,
): Promise<{ rows: T[]; nextCursor: string | null }> {
  const cursor = cursorOf(query.cursor);
  const keys = await em
    .getConnection()
    .execute<{ id: string; cursor_at: string }[]>(
      `select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at from ${table} where shop_id = ?` +
        `${cursor ? ' and (created_at, id) < (?::timestamptz, ?::uuid)' : ''} order by created_at desc, id desc limit ?`,
      [shopId, ...(cursor ? [cursor.at, cursor.id] : []), query.limit + 1],
    );
  const page = keys.slice(0, query.limit);
  const found = page.length ? await load(page.map((k) => k.id)) : [];
  const byId = new Map(found.map((row) => [row.id, row]));
  const last = page[page.length - 1];
  return {
    rows: page.map((k) => byId.get(k.id)).filter((row): row is T => row !== undefined),
    nextCursor: keys.length > query.limit && last ? encodeCursor(last.cursor_at, last.id) : null,
  };
}
