import { createHash } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';

/**
 * `message_intent`: one row per intent to tell a customer something, i.e. per scheduled `sendMessage` activity, however
 * many times Temporal retries it. It makes an outbound WhatsApp message go at most once: an attempt claims the row
 * before calling Meta, stores the wamid once Meta accepts, and a later attempt that finds the wamid returns it.
 *
 * States:
 * - `pending`  reserved, nothing sent yet;
 * - `sending`  a request is (or may have been) with Meta and its answer is not known yet;
 * - `sent`     Meta accepted it: `wa_message_id` is set (by the activity, or by a status webhook naming the intent);
 * - `failed`   Meta refused the last request, or it never left: nothing was sent, a later attempt may send;
 * - `given_up` not sent and no longer tried (`last_error` says why): the rows an operator looks at.
 */
export type IntentState = 'pending' | 'sending' | 'sent' | 'failed' | 'given_up';

export interface IntentRow {
  intent_key: string;
  shop_id: string;
  customer_ref: string;
  workflow_id: string;
  activity_id: string;
  state: IntentState;
  via: 'message' | 'template' | null;
  message_type: string | null;
  wa_message_id: string | null;
  attempt: number;
  /** Requests made to Meta for this intent (refused ones included). */
  requests: number;
  last_error: string | null;
  /** Milliseconds since the last claim (database clock); null when never claimed. */
  claimed_ms_ago: number | null;
}

export interface IntentIdentity {
  key: string;
  shopId: string;
  customerRef: string;
  workflowId: string;
  runId: string;
  activityId: string;
}

/** The form of every intent key; anything else in a status's `biz_opaque_callback_data` is not ours. */
export const INTENT_KEY = /^dk1\.[\w-]{43}$/;

/**
 * The same for every attempt of one scheduled activity and different for every other send (another activity, another
 * run). Hashed: it travels to Meta as `biz_opaque_callback_data` and the workflow id names the customer's reference.
 */
export function intentKeyFor(workflowId: string, runId: string, activityId: string): string {
  return `dk1.${createHash('sha256').update(JSON.stringify([workflowId, runId, activityId])).digest('base64url')}`;
}

const COLUMNS =
  'intent_key, shop_id, customer_ref, workflow_id, activity_id, state, via, message_type, wa_message_id, attempt, requests, last_error, ' +
  '(extract(epoch from (now() - claimed_at)) * 1000)::float8 as claimed_ms_ago';

/** Errors are stored for operators, capped (Meta's details can be long). Callers mask phone numbers first. */
const MAX_ERROR = 2000;

export function messageIntents(orm: MikroORM) {
  const sql = () => orm.em.getConnection();
  const one = async (query: string, params: unknown[]): Promise<IntentRow | undefined> => (await sql().execute<IntentRow[]>(query, params))[0];

  return {
    async read(key: string): Promise<IntentRow | undefined> {
      return one(`select ${COLUMNS} from message_intent where intent_key = ?`, [key]);
    },

    /** The row of this intent, created `pending` by the first attempt. */
    async reserve(intent: IntentIdentity): Promise<IntentRow> {
      // One round trip: the no-op update makes an existing row come back through `returning` too.
      const row = await one(
        'insert into message_intent (intent_key, shop_id, customer_ref, workflow_id, run_id, activity_id, state, attempt, requests, created_at, updated_at) ' +
          "values (?, ?, ?, ?, ?, ?, 'pending', 0, 0, now(), now()) on conflict (intent_key) do update set updated_at = message_intent.updated_at " +
          `returning ${COLUMNS}`,
        [intent.key, intent.shopId, intent.customerRef, intent.workflowId, intent.runId, intent.activityId],
      );
      if (!row) throw new Error(`message intent ${intent.key}: insert returned nothing`);
      return row;
    },

    /**
     * Takes the right to call Meta: only from `pending` or `failed`, so two attempts running at once (one that Temporal
     * timed out is still running) never both send. False when another attempt holds it or the intent is settled.
     */
    async claim(key: string, attempt: number, via: 'message' | 'template', messageType: string): Promise<boolean> {
      const rows = await sql().execute<{ intent_key: string }[]>(
        "update message_intent set state = 'sending', via = ?, message_type = ?, attempt = ?, requests = requests + 1, claimed_at = now(), updated_at = now() " +
          "where intent_key = ? and state in ('pending', 'failed') and wa_message_id is null returning intent_key",
        [via, messageType, attempt, key],
      );
      return rows.length === 1;
    },

    /** Meta accepted: the wamid settles the intent, whatever state an overlapping attempt left it in. */
    async accepted(key: string, waMessageId: string): Promise<void> {
      await sql().execute("update message_intent set state = 'sent', wa_message_id = ?, updated_at = now() where intent_key = ?", [waMessageId, key]);
    },

    /** Nothing was sent by this attempt's claim: free the intent for a later attempt (unless a newer claim holds it). */
    async failed(key: string, attempt: number, error: string): Promise<void> {
      await sql().execute(
        "update message_intent set state = 'failed', last_error = ?, updated_at = now() where intent_key = ? and state = 'sending' and attempt = ? and wa_message_id is null",
        [error.slice(0, MAX_ERROR), key, attempt],
      );
    },

    /** The answer was lost: the intent stays `sending` (it may have gone out) and the error is kept for operators. */
    async answerLost(key: string, error: string): Promise<void> {
      await sql().execute('update message_intent set last_error = ?, updated_at = now() where intent_key = ? and wa_message_id is null', [error.slice(0, MAX_ERROR), key]);
    },

    /** Stops trying. Returns the row: it may carry a wamid after all (a status that arrived meanwhile), then it was sent. */
    async giveUp(intent: IntentIdentity, attempt: number, error: string): Promise<IntentRow> {
      await sql().execute(
        'insert into message_intent (intent_key, shop_id, customer_ref, workflow_id, run_id, activity_id, state, attempt, requests, last_error, created_at, updated_at) ' +
          "values (?, ?, ?, ?, ?, ?, 'given_up', ?, 0, ?, now(), now()) " +
          "on conflict (intent_key) do update set state = 'given_up', attempt = excluded.attempt, last_error = excluded.last_error, updated_at = now() " +
          'where message_intent.wa_message_id is null',
        [intent.key, intent.shopId, intent.customerRef, intent.workflowId, intent.runId, intent.activityId, attempt, error.slice(0, MAX_ERROR)],
      );
      const row = await this.read(intent.key);
      if (!row) throw new Error(`message intent ${intent.key} vanished after giving up`);
      return row;
    },

    /**
     * A status webhook named this intent (`biz_opaque_callback_data`): Meta accepted the message with this wamid. Returns
     * what the outbound `message` row needs when this is news (the activity's own write did not happen).
     */
    async acceptedByStatus(key: string, waMessageId: string): Promise<Pick<IntentRow, 'shop_id' | 'customer_ref' | 'message_type'> | undefined> {
      const rows = await sql().execute<Pick<IntentRow, 'shop_id' | 'customer_ref' | 'message_type'>[]>(
        "update message_intent set state = 'sent', wa_message_id = ?, updated_at = now() where intent_key = ? and wa_message_id is null " +
          'returning shop_id, customer_ref, message_type',
        [waMessageId, key],
      );
      return rows[0];
    },
  };
}

export type MessageIntents = ReturnType<typeof messageIntents>;
