import type { ActivityDeps } from './deps.ts';
import { Product } from '../db/entities.ts';
import { catalogChanged } from '../lib/catalog-sync.ts';

/** One order line to hold stock for. */
export interface StockLine {
  lineId: string;
  productId: string;
  name: string;
  quantity: number;
}

export type ReserveResult = { ok: true } | { ok: false; productId: string; name: string; available: number };

type Row = { order_number: string; line_id: string; product_id: string; quantity: number; state: 'reserved' | 'committed' | 'released' };

/**
 * Stock that never oversells (issue 9 part 3). Each change is one conditional statement on the product row, which
 * PostgreSQL serialises: of two orders racing for the last unit exactly one matches `stock - stock_reserved >= n`.
 * `stock_reservation` (order number + line) records where each line's units stand, so a retried activity finds its
 * own earlier work and never reserves, takes or gives back twice. Every call makes the order's rows reach one state:
 * - reserve: units held (`stock_reserved += n`), all lines or none;
 * - commit: units taken when the order is paid or confirmed (`stock -= n`, and the hold ends);
 * - release: units given back when the order is cancelled, expires or its payment fails (a hold ends; units already
 *   taken return to the shelf, e.g. a paid order cancelled by the shop).
 */
export function createStockActivities({ orm, temporal, config }: ActivityDeps) {
  /**
   * A product whose stock runs out (or comes back) leaves (or rejoins) the shop's WhatsApp catalog: its catalog sync is
   * asked for when one of these products now has none left, or had none before `gained` units came back.
   */
  async function catalogFollows(productIds: string[], gained: (productId: string) => number = () => 0): Promise<void> {
    if (!productIds.length) return;
    const products = await orm.em.fork().find(Product, { id: { $in: [...new Set(productIds)] }, stock: { $ne: null } }, { populate: ['shop'] });
    const crossed = products.find((p) => {
      const left = p.stock! - p.stockReserved;
      return left <= 0 || left - gained(p.id) <= 0;
    });
    if (crossed) await catalogChanged({ orm, temporal, taskQueue: config.temporal.taskQueue }, crossed.shop);
  }
  const transaction = <T>(body: (run: <R = Row>(sql: string, params: unknown[]) => Promise<R[]>) => Promise<T>) =>
    orm.em.fork().transactional(async (em) => {
      const connection = em.getConnection();
      const ctx = em.getTransactionContext();
      return body((sql, params) => connection.execute(sql, params, 'all', ctx));
    });

  return {
    async reserveStock(input: { shopId: string; orderNumber: string; lines: StockLine[] }): Promise<ReserveResult> {
      try {
        await transaction(async (run) => {
          for (const line of input.lines) {
            // A line already held (a retry of this very call) changes nothing; a released one is held again.
            const [claimed] = await run(
              `insert into stock_reservation (order_number, line_id, shop_id, product_id, quantity, state) values (?, ?, ?, ?, ?, 'reserved')
               on conflict (order_number, line_id) do update set state = 'reserved', product_id = excluded.product_id, quantity = excluded.quantity, updated_at = now()
               where stock_reservation.state = 'released' returning line_id`,
              [input.orderNumber, line.lineId, input.shopId, line.productId, line.quantity],
            );
            if (!claimed) continue;
            const held = await run(
              'update product set stock_reserved = stock_reserved + ? where id = ? and shop_id = ? and available and (stock is null or stock - stock_reserved >= ?) returning id',
              [line.quantity, line.productId, input.shopId, line.quantity],
            );
            if (held.length > 0) continue;
            const [left] = await run<{ available: number }>('select greatest(coalesce(stock - stock_reserved, 0), 0)::int as available from product where id = ? and available', [line.productId]);
            // All lines or none: the transaction rolls back what this call held for the lines before.
            throw new Refused({ ok: false, productId: line.productId, name: line.name, available: left?.available ?? 0 });
          }
        });
        await catalogFollows(input.lines.map((l) => l.productId));
        return { ok: true };
      } catch (err) {
        if (err instanceof Refused) return err.result;
        throw err;
      }
    },

    async commitStock(input: { orderNumber: string }): Promise<{ taken: number }> {
      return transaction(async (run) => {
        const rows = await run(`select * from stock_reservation where order_number = ? and state <> 'committed' order by line_id for update`, [input.orderNumber]);
        for (const r of rows) {
          const fromHold = r.state === 'reserved' ? r.quantity : 0;
          await run('update product set stock = stock - ?, stock_reserved = stock_reserved - ? where id = ?', [r.quantity, fromHold, r.product_id]);
        }
        await run(`update stock_reservation set state = 'committed', updated_at = now() where order_number = ? and state <> 'committed'`, [input.orderNumber]);
        return { taken: rows.reduce((n, r) => n + r.quantity, 0) };
      });
    },

    async releaseStock(input: { orderNumber: string }): Promise<{ released: number }> {
      const released = await transaction(async (run) => {
        const rows = await run(`select * from stock_reservation where order_number = ? and state <> 'released' order by line_id for update`, [input.orderNumber]);
        for (const r of rows) {
          if (r.state === 'reserved') await run('update product set stock_reserved = stock_reserved - ? where id = ?', [r.quantity, r.product_id]);
          else await run('update product set stock = stock + ? where id = ?', [r.quantity, r.product_id]);
        }
        await run(`update stock_reservation set state = 'released', updated_at = now() where order_number = ? and state <> 'released'`, [input.orderNumber]);
        return rows;
      });
      await catalogFollows(released.map((r) => r.product_id), (id) => released.filter((r) => r.product_id === id).reduce((n, r) => n + r.quantity, 0));
      return { released: released.reduce((n, r) => n + r.quantity, 0) };
    },
  };
}

class Refused extends Error {
  readonly result: ReserveResult;
  constructor(result: ReserveResult) {
    super('refused');
    this.result = result;
  }
}
