import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import { logger } from '../lib/logger.ts';
import { conversationWorkflowId } from '../domain/ids.ts';
import { signalConversation, type HandOffPayload } from './hand-off.ts';
import { HANDED_OFF_SQL } from './routes/whatsapp.ts';
import type { ShopDirectory } from './shops.ts';

/**
 * Self-healing hand-off (issue 12). A WhatsApp webhook whose hand-off to Temporal failed was answered 503 but its
 * message is in the `message` table with what its conversation needs (`payload`). The re-driver hands every such row
 * to its conversation as soon as Temporal answers again, in arrival order per conversation, marks it handed off (which
 * clears the payload) and counts it; Meta's own redelivery later finds the row done and is skipped as a duplicate.
 *
 * One at a time across API processes: each pass runs in one transaction holding a PostgreSQL advisory lock, and the
 * rows it re-drives are locked `for update`, so a redelivery arriving meanwhile (its claim upserts the same row) waits
 * and then sees it handed off. A row is taken when its webhook gave up (`handoff_failed`), or when nothing has claimed
 * it for `staleMs` (a process that died between storing and handing off).
 */
export interface RedriverOptions {
  config: Config;
  orm: MikroORM;
  temporal: Client;
  shops: ShopDirectory;
  /** Between passes while nothing is pending or Temporal is still away. */
  intervalMs?: number;
  staleMs?: number;
  /** Rows per pass. */
  batch?: number;
  /** Told of each re-drive (metrics). */
  onRedrive?: (result: 'ok' | 'failed') => void;
}

export interface RedriveStats {
  redriven: number;
  failed: number;
  passes: number;
}

export interface Redriver {
  readonly stats: RedriveStats;
  /** One pass now; resolves with how many rows were handed off. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** pg_try_advisory_xact_lock key: 'duka' 'rdrv' as two int4s. */
const LOCK_SQL = "select pg_try_advisory_xact_lock(1685418849, 1919185526) as locked";
const PENDING_SQL =
  'select wa_message_id, shop_id, customer_ref, payload from message ' +
  "where handed_off_at is null and payload is not null and (status = 'handoff_failed' or coalesce(status_at, created_at) < clock_timestamp() - ? * interval '1 millisecond') " +
  'order by created_at, id limit ? for update skip locked';

interface PendingRow {
  wa_message_id: string;
  shop_id: string;
  customer_ref: string;
  payload: HandOffPayload | string;
}

export function startRedriver(options: RedriverOptions): Redriver {
  const { config, orm, temporal, shops } = options;
  const intervalMs = options.intervalMs ?? 5_000;
  const staleMs = options.staleMs ?? 60_000;
  const batch = options.batch ?? 500;
  const stats: RedriveStats = { redriven: 0, failed: 0, passes: 0 };
  const log = logger.child({ component: 'redrive' });

  /** Nothing is locked or tried while nothing waits, or while Temporal does not answer yet. */
  async function worthAPass(): Promise<boolean> {
    const pending = await orm.em.getConnection().execute<unknown[]>(`${PENDING_SQL.replace(/ for update skip locked$/, '')}`, [staleMs, 1]);
    if (pending.length === 0) return false;
    try {
      await temporal.connection.withDeadline(Date.now() + 2_000, () => temporal.workflowService.getSystemInfo({}));
      return true;
    } catch {
      return false;
    }
  }

  async function runOnce(): Promise<number> {
    stats.passes++;
    if (!(await worthAPass())) return 0;
    return orm.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const ctx = em.getTransactionContext();
      const [lock] = await conn.execute<{ locked: boolean }[]>(LOCK_SQL, [], 'all', ctx);
      if (!lock?.locked) return 0;
      const rows = await conn.execute<PendingRow[]>(PENDING_SQL, [staleMs, batch], 'all', ctx);
      if (rows.length === 0) return 0;
      const byConversation = new Map<string, PendingRow[]>();
      for (const row of rows) {
        const key = conversationWorkflowId(row.shop_id, row.customer_ref);
        const list = byConversation.get(key);
        if (list) list.push(row);
        else byConversation.set(key, [row]);
      }
      let done = 0;
      await Promise.all(
        [...byConversation.values()].map(async (list) => {
          // In order: a failure leaves this conversation's later messages for the next pass.
          for (const row of list) {
            const shop = await shops.get(row.shop_id);
            const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as HandOffPayload;
            try {
              await signalConversation(temporal, config, { shopId: row.shop_id, shopName: shop?.name ?? row.shop_id, customerRef: row.customer_ref }, payload);
            } catch (err) {
              stats.failed++;
              options.onRedrive?.('failed');
              log.debug({ err }, 'redrive: Temporal still unavailable');
              return;
            }
            await conn.execute(HANDED_OFF_SQL, [row.wa_message_id], 'run', ctx);
            stats.redriven++;
            done++;
            options.onRedrive?.('ok');
          }
        }),
      );
      if (done > 0) log.info({ redriven: done }, 'redrive: stored messages handed to their conversations');
      return done;
    });
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> = Promise.resolve();
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      current = runOnce()
        .then((n) => schedule(n >= batch ? 0 : intervalMs))
        .catch((err: unknown) => {
          log.warn({ err }, 'redrive pass failed');
          schedule(intervalMs);
        });
    }, ms);
    timer.unref();
  };
  schedule(intervalMs);

  return {
    stats,
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.catch(() => undefined);
    },
  };
}
