import { createHmac } from 'node:crypto';

/**
 * The outside name of a customer: a keyed hash of their WhatsApp id, so no phone number appears in a workflow id,
 * search attribute, summary or log. Keyed (not a bare hash) because phone numbers are few enough to enumerate.
 */
export function customerRefFor(waId: string, secret: string): string {
  return createHmac('sha256', secret).update(waId.replace(/\D/g, '')).digest('hex').slice(0, 20);
}
