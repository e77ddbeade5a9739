import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { MikroORM } from '@mikro-orm/postgresql';
import { requestLog } from '../context.ts';
import { withinDeadline, withTimeout } from '../temporal.ts';

export const READY_TIMEOUT_MS = 2_000;

type Check = 'ok' | 'failed';

/** `/health`: the process runs. `/ready`: PostgreSQL and Temporal both answer within 2 s. */
export function healthRouter(deps: { orm: MikroORM; temporal: Client }): Router {
  const router = Router();

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/ready', async (_req, res) => {
    const log = requestLog(res);
    const check = async (name: string, fn: () => Promise<unknown>): Promise<[Check, string | undefined]> => {
      try {
        await fn();
        return ['ok', undefined];
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log.warn({ check: name, err: message }, 'readiness check failed');
        return ['failed', message];
      }
    };
    const [[database, dbError], [temporal, temporalError]] = await Promise.all([
      check('database', () => withTimeout(deps.orm.em.getConnection().execute('select 1'), READY_TIMEOUT_MS, 'PostgreSQL')),
      check('temporal', () => withinDeadline(deps.temporal, READY_TIMEOUT_MS, 'Temporal', () => deps.temporal.workflowService.getSystemInfo({}))),
    ]);
    const checks = { database, temporal };
    if (database === 'ok' && temporal === 'ok') {
      res.json({ status: 'ready', checks });
      return;
    }
    const failed = [database === 'failed' && `database: ${dbError}`, temporal === 'failed' && `temporal: ${temporalError}`].filter(Boolean);
    res.status(503).json({ error: { code: 'not_ready', message: `not ready: ${failed.join('; ')}` }, checks });
  });

  return router;
}
