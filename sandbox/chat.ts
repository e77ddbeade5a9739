import type { ChatKey } from './events.ts';

/**
 * What each sandbox chat has shown: the customer's messages (raw Meta inbound objects) and duka's (Graph API request
 * bodies), in order, with their delivery status. In memory and bounded: the sandbox is for trying things out.
 */
export type Direction = 'in' | 'out';
/** `pending` → the webhook is on its way; `failed` → duka (or the Graph stand-in) refused it. */
export type EntryStatus = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

export interface ChatEntry {
  /** wamid. */
  id: string;
  direction: Direction;
  /** Unix ms. */
  at: number;
  message: Record<string, unknown>;
  status: EntryStatus;
  error?: string;
}

const MAX_ENTRIES = 300;
const MAX_CHATS = 1000;
const RANK: Record<EntryStatus, number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

export const chatId = (k: ChatKey) => `${k.phoneNumberId}:${k.customer}`;

export class ChatStore {
  private readonly chats = new Map<string, ChatEntry[]>();
  private readonly where = new Map<string, ChatKey>();

  history(key: ChatKey): ChatEntry[] {
    return (this.chats.get(chatId(key)) ?? []).map((e) => ({ ...e }));
  }

  add(key: ChatKey, entry: ChatEntry): void {
    const id = chatId(key);
    let list = this.chats.get(id);
    if (!list) {
      if (this.chats.size >= MAX_CHATS) {
        const oldest = this.chats.keys().next().value as string;
        for (const e of this.chats.get(oldest) ?? []) this.where.delete(e.id);
        this.chats.delete(oldest);
      }
      list = [];
      this.chats.set(id, list);
    }
    list.push(entry);
    this.where.set(entry.id, key);
    while (list.length > MAX_ENTRIES) this.where.delete(list.shift()!.id);
  }

  find(messageId: string): { key: ChatKey; entry: ChatEntry } | undefined {
    const key = this.where.get(messageId);
    const entry = key && this.chats.get(chatId(key))?.find((e) => e.id === messageId);
    return key && entry ? { key, entry } : undefined;
  }

  /** Moves an entry's status forward only (a late `delivered` never undoes `read`); returns whether it changed. */
  setStatus(messageId: string, status: EntryStatus, error?: string): { key: ChatKey; entry: ChatEntry } | undefined {
    const found = this.find(messageId);
    if (!found) return undefined;
    const { entry } = found;
    if (status !== 'failed' && RANK[status] <= RANK[entry.status]) return undefined;
    entry.status = status;
    if (error !== undefined) entry.error = error;
    return found;
  }

  /** A business read receipt marks that customer message and every earlier one read, as on WhatsApp. */
  markReadUpTo(messageId: string): { key: ChatKey; ids: string[] } | undefined {
    const key = this.where.get(messageId);
    const list = key && this.chats.get(chatId(key));
    if (!key || !list) return undefined;
    const index = list.findIndex((e) => e.id === messageId);
    const ids: string[] = [];
    for (const e of list.slice(0, index + 1)) {
      if (e.direction === 'in' && (e.status === 'sent' || e.status === 'delivered')) {
        e.status = 'read';
        ids.push(e.id);
      }
    }
    return { key, ids };
  }

  clear(key: ChatKey): void {
    for (const e of this.chats.get(chatId(key)) ?? []) this.where.delete(e.id);
    this.chats.delete(chatId(key));
  }
}
