import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { logger as dukaLogger, type Logger } from './logger.ts';

/** Fields never written: a task token completes or fails an activity on the holder's behalf. */
const DROPPED = new Set(['taskToken', 'base64TaskToken']);

const ORDER_WORKFLOW = /^order:(.+)$/;

/**
 * The fields that tie a line to an order: its workflow id and, for `order:<number>`, the order number. Lines of
 * conversations carry their id (`conversation:<shop>:<customerRef>`, no phone number in it).
 */
export function orderFields(workflowId: string | undefined): { workflowId?: string; orderNumber?: string } {
  if (!workflowId) return {};
  const orderNumber = ORDER_WORKFLOW.exec(workflowId)?.[1];
  return orderNumber ? { workflowId, orderNumber } : { workflowId };
}

const RANK: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
const LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's logger (Runtime.install): the worker's own lines, the workflow `log` sink, activities'
 * `log`/`Context.current().log` and the forwarded core lines all go through duka's pino logger, so they get its phone
 * masking; task tokens are dropped and order lines carry the order number.
 */
export class SdkLogger implements TemporalLogger {
  private readonly minRank: number;
  private readonly target: Logger;
  /** `minLevel`: the SDK is chatty below WARN (`TEMPORAL_LOG_LEVEL` lowers it); duka's LOG_LEVEL still applies on top. */
  constructor(minLevel: LogLevel = 'WARN', target: Logger = dukaLogger) {
    this.minRank = RANK.indexOf(minLevel);
    this.target = target;
  }

  log(level: LogLevel, message: string, meta: LogMetadata = {}): void {
    if (RANK.indexOf(level) < this.minRank) return;
    const fields: Record<string, unknown> = { sdk: true };
    for (const [key, value] of Object.entries(meta)) if (!DROPPED.has(key)) fields[key] = value;
    if (fields.error instanceof Error) {
      fields.err = fields.error;
      delete fields.error;
    }
    Object.assign(fields, orderFields(typeof meta.workflowId === 'string' ? meta.workflowId : undefined));
    this.target[LEVEL[level] ?? 'info'](fields, message);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
