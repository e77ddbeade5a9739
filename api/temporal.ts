import type { Client } from '@temporalio/client';

/** Rejects after `ms`; the underlying call gets a real gRPC deadline as well when the client supports one. */
export async function withinDeadline<T>(temporal: Client, ms: number, label: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  const call = typeof temporal.withDeadline === 'function' ? temporal.withDeadline(deadline, fn) : fn();
  return withTimeout(call, ms, label);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** By name as well as class: fakes in tests and a second copy of @temporalio/common must be recognised too. */
export function isWorkflowNotFound(err: unknown): boolean {
  return err instanceof Error && err.name === 'WorkflowNotFoundError';
}

export function isUpdateFailed(err: unknown): err is Error & { cause?: unknown } {
  return err instanceof Error && err.name === 'WorkflowUpdateFailedError';
}

export function failureMessage(err: Error & { cause?: unknown }): string {
  const cause = err.cause;
  return cause instanceof Error && cause.message ? cause.message : err.message;
}
