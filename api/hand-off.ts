import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config.ts';
import { durationMs } from '../domain/duration.ts';
import { conversationWorkflowId } from '../domain/ids.ts';
import type { InboundMessage } from '../domain/inbound.ts';
import { handoverSignal, inboundSignal, type ConversationInput } from '../workflows/definitions.ts';
import { SA } from '../workflows/search-attributes.ts';

/** How long the bot stays quiet once shop staff answer a customer themselves (HANDOVER_SILENCE). */
export const handoverMinutes = (config: Config) => Math.max(1, Math.round(durationMs(config.timing.handoverSilence) / 60_000));

/** What a stored inbound row hands to its conversation: a customer's message, or a staff reply (echo). */
export type HandOffPayload = { kind: 'inbound'; message: InboundMessage } | { kind: 'echo' };

export interface ConversationTarget {
  shopId: string;
  shopName: string;
  customerRef: string;
}

/**
 * The one call that hands a WhatsApp event to its conversation (signalWithStart), shared by the webhook and by the
 * re-driver (api/redrive.ts) so both start the workflow the same way.
 */
export async function signalConversation(temporal: Client, config: Config, target: ConversationTarget, payload: HandOffPayload): Promise<void> {
  const common = {
    workflowId: conversationWorkflowId(target.shopId, target.customerRef),
    taskQueue: config.temporal.taskQueue,
    args: [{ shopId: target.shopId, customerRef: target.customerRef } satisfies ConversationInput] as [ConversationInput],
    staticSummary: `Conversation · ${target.shopName}`,
    typedSearchAttributes: [
      { key: SA.shopId, value: target.shopId },
      { key: SA.customerRef, value: target.customerRef },
    ],
  };
  if (payload.kind === 'inbound') {
    await temporal.workflow.signalWithStart('conversationWorkflow', { ...common, signal: inboundSignal, signalArgs: [payload.message] });
  } else {
    await temporal.workflow.signalWithStart('conversationWorkflow', { ...common, signal: handoverSignal, signalArgs: [{ minutes: handoverMinutes(config) }] });
  }
}

export interface HandOffPlan {
  /** Conversations handed off at once. */
  concurrency: number;
  /** After this long no further message is handed off by the request: the rest are deferred. */
  budgetMs: number;
}

/**
 * Hands off each conversation's messages in order, a few conversations at a time, for as long as the webhook may take:
 * a conversation (or the rest of one) not reached in `budgetMs` is deferred — stored in one go for the re-driver, which
 * hands it off in arrival order within seconds — so a webhook carrying a thousand messages is still answered before
 * Meta gives up on it. Rejects with the first failure once every conversation has stopped (nothing is deferred then).
 */
export async function handOffInTime<T>(conversations: T[][], plan: HandOffPlan, handOff: (unit: T) => Promise<void>, deferAll: (units: T[]) => Promise<void>): Promise<void> {
  const deadline = Date.now() + plan.budgetMs;
  let next = 0;
  const failures: unknown[] = [];
  const deferred: T[] = [];
  const lane = async () => {
    for (let i = next++; i < conversations.length; i = next++) {
      for (const unit of conversations[i]!) {
        if (failures.length > 0) return;
        if (Date.now() >= deadline) {
          deferred.push(unit);
          continue;
        }
        try {
          await handOff(unit);
        } catch (err) {
          failures.push(err);
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.concurrency, conversations.length)) }, lane));
  if (failures.length > 0) throw failures[0];
  if (deferred.length > 0) await deferAll(deferred);
}
