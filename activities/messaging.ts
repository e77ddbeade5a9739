import { ApplicationFailure, Context, type Info } from '@temporalio/activity';
import { Customer, Message, Shop } from '../db/entities.ts';
import { intentKeyFor, messageIntents, type IntentIdentity, type IntentRow } from '../db/message-intents.ts';
import type { OutboundMessage } from '../domain/outbound.ts';
import { TEMPLATES, type Language, type TemplateKey } from '../domain/i18n.ts';
import { maskPhones } from '../lib/logger.ts';
import { shopAccessToken } from '../lib/credentials.ts';
import { WhatsAppApiError } from '../providers/whatsapp/client.ts';
import { UnsendableMessageError } from '../providers/whatsapp/messages.ts';
import type { ActivityDeps } from './deps.ts';
import { messagesFailed, messagesSent } from '../lib/metrics.ts';

const WINDOW_MS = 24 * 60 * 60 * 1000;

export interface SendInput {
  shopId: string;
  customerRef: string;
  message: OutboundMessage;
  /** What to send instead when the 24-hour customer-service window has closed. */
  template?: { key: TemplateKey; language: Language; params: string[] };
  /**
   * This send's own id within its workflow run, given by a workflow that sends as a local activity: a local activity
   * keeps its activity id across the retries run in the worker and across replay, but one retried after a workflow
   * timer (past `localRetryThreshold`) is scheduled again under a new one. Absent: the activity id keys the intent.
   */
  intentId?: string;
}

export interface SendResult {
  /** Meta's wamid; null when the message was given up (see `via`). */
  messageId: string | null;
  /** `given_up`: it kept failing (or its outcome stayed unknown) and is recorded in `message_intent` for an operator. */
  via: 'message' | 'template' | 'given_up';
}

export interface MessagingOptions {
  /**
   * The attempt after which a send that keeps failing is given up. Default 12: with the workflows' retry policies
   * (1 s doubling, capped at 1–2 min) attempt 12 comes 6–10 minutes after the first, up to about 16 with 30-second
   * timeouts. That rides out a Meta incident or a network blip, while a reply held longer than that is stale (the customer
   * has moved on or writes again) and every later message of the conversation waits behind it.
   */
  giveUpAfterAttempts?: number;
  /**
   * How long a send whose answer was lost waits for a status webhook naming it before it is given up — never sent
   * again. Meta posts `sent` within seconds of accepting a message; default 2 minutes leaves room for its webhook retries.
   */
  lostAnswerWindowMs?: number;
  /** How long one attempt watches for that status before handing back to Temporal's retry (default 10 s). */
  statusWaitPerAttemptMs?: number;
  statusPollMs?: number;
}

const DEFAULTS = { giveUpAfterAttempts: 12, lostAnswerWindowMs: 120_000, statusWaitPerAttemptMs: 10_000, statusPollMs: 250 } as const;

/** Where a message goes, and with whose Graph API token. */
interface Recipient {
  phoneNumberId: string;
  waId: string;
  accessToken: string | undefined;
}

const GIVEN_UP: SendResult = { messageId: null, via: 'given_up' };

/** Meta may have the message but we do not know: retryable, and never resolved by sending again. */
const outcomeUnknown = (why: string) => ApplicationFailure.retryable(`outcome of the send unknown: ${why}`, 'SendOutcomeUnknown');

function describe(err: unknown): string {
  return maskPhones(err instanceof Error ? err.message : String(err));
}

/** What Temporal would retry: anything but a non-retryable ApplicationFailure. */
function retryable(err: unknown): boolean {
  return !(err instanceof ApplicationFailure && err.nonRetryable);
}

/**
 * The intent of this send: workflow, run and activity id (or the workflow's own `intentId` for the send) are the same
 * on every retry of it and on replay.
 */
function intentOf(info: Info, input: SendInput): IntentIdentity {
  const workflowId = info.workflowExecution?.workflowId ?? `standalone:${info.activityRunId ?? info.taskQueue}`;
  const runId = info.workflowExecution?.runId ?? '';
  const activityId = input.intentId ?? info.activityId;
  return { key: intentKeyFor(workflowId, runId, activityId), shopId: input.shopId, customerRef: input.customerRef, workflowId, runId, activityId };
}

export function createMessagingActivities({ orm, whatsapp, config }: ActivityDeps, options: MessagingOptions = {}) {
  const settings = { ...DEFAULTS, ...options };
  const intents = messageIntents(orm);

  async function recordOutbound(waMessageId: string, shopId: string, customerRef: string, type: string): Promise<void> {
    const em = orm.em.fork();
    await em.upsert(Message, { waMessageId, direction: 'out', shop: em.getReference(Shop, shopId), customerRef, type, status: 'accepted' }, { onConflictAction: 'ignore' });
  }

  /** An intent Meta accepted: its wamid, with the outbound row in place for the statuses that follow. */
  async function settled(row: IntentRow & { wa_message_id: string }): Promise<SendResult> {
    await recordOutbound(row.wa_message_id, row.shop_id, row.customer_ref, row.message_type ?? 'unknown');
    return { messageId: row.wa_message_id, via: row.via ?? 'message' };
  }

  async function giveUp(intent: IntentIdentity, attempt: number, reason: string): Promise<SendResult> {
    const row = await intents.giveUp(intent, attempt, maskPhones(reason));
    if (row.wa_message_id) return settled({ ...row, wa_message_id: row.wa_message_id });
    Context.current().log.warn('whatsapp: outbound message given up, recorded in message_intent', {
      workflowId: intent.workflowId,
      activityId: intent.activityId,
      intent: intent.key,
      attempt,
      reason: maskPhones(reason),
    });
    messagesFailed.inc({ code: 'given_up' });
    return GIVEN_UP;
  }

  /**
   * A previous attempt claimed the send and never recorded its outcome: it crashed or timed out after its request may
   * have reached Meta, or it is still running. Watch the row for a while: that attempt may still finish, and a status
   * webhook naming the intent (`biz_opaque_callback_data`) writes the wamid when Meta accepted it.
   */
  async function awaitLostAnswer(row: IntentRow, info: Info): Promise<IntentRow> {
    const perAttempt = info.startToCloseTimeoutMs > 0 ? Math.min(settings.statusWaitPerAttemptMs, info.startToCloseTimeoutMs / 2) : settings.statusWaitPerAttemptMs;
    const until = Date.now() + perAttempt;
    let current = row;
    while (current.state === 'sending' && !current.wa_message_id && Date.now() < until && (current.claimed_ms_ago ?? 0) < settings.lostAnswerWindowMs) {
      await Context.current().sleep(settings.statusPollMs);
      current = (await intents.read(row.intent_key)) ?? current;
    }
    return current;
  }

  /** Calls Meta at most once per claim; the claim is what keeps two attempts from both sending. */
  async function deliver(intent: IntentIdentity, attempt: number, via: 'message' | 'template', to: Recipient, message: OutboundMessage): Promise<string> {
    const { phoneNumberId, waId, accessToken } = to;
    if (!(await intents.claim(intent.key, attempt, via, message.kind))) {
      // Another attempt of this same activity (one that Temporal timed out is still running) holds the send.
      throw outcomeUnknown('another attempt of this send is under way');
    }
    let messageId: string;
    try {
      ({ messageId } = await whatsapp.send(phoneNumberId, waId, message, { callbackData: intent.key, accessToken }));
    } catch (err) {
      messagesFailed.inc({ code: err instanceof WhatsAppApiError ? (err.maybeAccepted ? 'unknown_outcome' : String(err.code)) : err instanceof UnsendableMessageError ? 'unsendable' : 'none' });
      if (err instanceof WhatsAppApiError && err.maybeAccepted) {
        // No answer, but the request may have reached Meta: the intent stays `sending` for the next attempt to resolve.
        await intents.answerLost(intent.key, describe(err));
        throw outcomeUnknown(describe(err));
      }
      // Meta refused it (its own error answer), or it never left: nothing was sent, a later attempt may send.
      await intents.failed(intent.key, attempt, describe(err));
      // A message that cannot be built (no buttons, a non-http link) fails the same way every time: never retried.
      if (err instanceof UnsendableMessageError) throw ApplicationFailure.create({ message: err.message, type: 'UnsendableMessage', nonRetryable: true });
      if (err instanceof WhatsAppApiError && !err.retryable) {
        throw ApplicationFailure.create({
          message: `WhatsApp refused the message: ${err.message}`,
          type: err.outsideWindow ? 'OutsideCustomerServiceWindow' : 'WhatsAppRejected',
          nonRetryable: true,
          details: [{ code: err.code, httpStatus: err.httpStatus }],
        });
      }
      throw err;
    }
    await intents.accepted(intent.key, messageId);
    messagesSent.inc({ via });
    await recordOutbound(messageId, intent.shopId, intent.customerRef, message.kind);
    return messageId;
  }

  function templateMessage(t: NonNullable<SendInput['template']>): OutboundMessage {
    const spec = TEMPLATES[t.key];
    return { kind: 'template', name: spec.name, languageCode: spec.languages[t.language], bodyParams: t.params };
  }

  async function sendOnce(input: SendInput, intent: IntentIdentity, info: Info): Promise<SendResult> {
    const em = orm.em.fork();
    const customer = await em.findOne(Customer, { shop: input.shopId, ref: input.customerRef }, { populate: ['shop'] });
    if (!customer) throw ApplicationFailure.nonRetryable(`no customer ${input.customerRef} in shop ${input.shopId}`, 'UnknownCustomer');

    let row = await intents.reserve(intent);
    if (row.state === 'sending' && !row.wa_message_id) row = await awaitLostAnswer(row, info);
    if (row.wa_message_id) return settled({ ...row, wa_message_id: row.wa_message_id });
    if (row.state === 'given_up') return GIVEN_UP;
    if (row.state === 'sending') {
      // The ambiguous case. Only two things prove its outcome: a wamid (the attempt's own answer, or a status webhook
      // naming the intent, since every send carries the intent as biz_opaque_callback_data) or Meta's error answer
      // (recorded as `failed`). Neither came, so Meta may have the message: sending again could deliver it twice, so
      // this never sends. It waits (retryable failures) for the status that Meta posts within seconds of accepting,
      // and once lostAnswerWindowMs has passed without one it gives up: at most once beats at least once for a shop's
      // messages (a doubled receipt or payment prompt confuses; a missing one is recorded for an operator, and the
      // customer's next message reopens the conversation).
      if ((row.claimed_ms_ago ?? 0) >= settings.lostAnswerWindowMs) {
        return giveUp(intent, info.attempt, `Meta's answer was lost and no status named this message within ${Math.round(settings.lostAnswerWindowMs / 1000)} s: not sent again, it may or may not have reached the customer (last error: ${row.last_error ?? 'none'})`);
      }
      throw outcomeUnknown('waiting for a status webhook naming this message');
    }
    if (info.attempt > settings.giveUpAfterAttempts) {
      // Earlier attempts timed out without recording anything: the bound still holds.
      return giveUp(intent, info.attempt, `${info.attempt - 1} attempts without success (last error: ${row.last_error ?? 'none recorded'})`);
    }

    // The shop's own Graph API token when it has one; the environment's otherwise.
    const to: Recipient = { phoneNumberId: customer.shop.phoneNumberId, waId: customer.waId, accessToken: shopAccessToken(customer.shop, config.credentialsKey) };
    // The window opens with the customer's last message: the webhook's inbound row, or the last one registered.
    const lastInbound = await em.findOne(Message, { shop: input.shopId, customerRef: input.customerRef, direction: 'in' }, { orderBy: { createdAt: 'desc' }, fields: ['createdAt'] });
    const lastAt = Math.max(lastInbound?.createdAt.getTime() ?? 0, customer.lastMessageAt?.getTime() ?? 0);
    const windowOpen = Date.now() - lastAt < WINDOW_MS;
    if (!windowOpen && input.template) {
      return { messageId: await deliver(intent, info.attempt, 'template', to, templateMessage(input.template)), via: 'template' };
    }
    try {
      return { messageId: await deliver(intent, info.attempt, 'message', to, input.message), via: 'message' };
    } catch (err) {
      if (input.template && err instanceof ApplicationFailure && err.type === 'OutsideCustomerServiceWindow') {
        Context.current().log.info('customer-service window closed: sending the template', { customerRef: input.customerRef });
        return { messageId: await deliver(intent, info.attempt, 'template', to, templateMessage(input.template)), via: 'template' };
      }
      throw err;
    }
  }

  return {
    /**
     * Free-form while the customer wrote in the last 24 hours, the approved template otherwise (or when Meta says
     * 131047); a message with no template and a closed window is refused for the workflow to decide.
     *
     * At most once per intent (this scheduled activity, across its retries: see db/message-intents.ts), and bounded: a
     * send that keeps failing with retryable errors is given up at attempt `giveUpAfterAttempts` and answered
     * `{ messageId: null, via: 'given_up' }` instead of holding the conversation forever.
     */
    async sendMessage(input: SendInput): Promise<SendResult> {
      const { info } = Context.current();
      const intent = intentOf(info, input);
      try {
        return await sendOnce(input, intent, info);
      } catch (err) {
        if (!retryable(err) || info.attempt < settings.giveUpAfterAttempts) throw err;
        return giveUp(intent, info.attempt, describe(err));
      }
    },

    async markRead(input: { phoneNumberId: string; messageId: string }): Promise<void> {
      const shop = await orm.em.fork().findOne(Shop, { phoneNumberId: input.phoneNumberId }, { fields: ['id', 'credentials'] });
      try {
        await whatsapp.markAsRead(input.phoneNumberId, input.messageId, { accessToken: shop ? shopAccessToken(shop, config.credentialsKey) : undefined });
      } catch (err) {
        // A read receipt is a courtesy: a refused one must not hold the conversation up.
        if (err instanceof WhatsAppApiError && !err.retryable) return;
        throw err;
      }
    },
  };
}
