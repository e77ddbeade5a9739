import type { Request, Response } from 'express';

/**
 * Server-sent events to the sandbox pages. A client names the chat it shows (phone_number_id + customer); chat events
 * go only to the clients of that chat, simulator events (a phone prompt, an SMS) to every client, which pick their own.
 */
export interface ChatKey {
  phoneNumberId: string;
  customer: string;
}

export type SandboxEvent = { event: string; data: unknown; chat?: ChatKey };

interface Client {
  res: Response;
  chat: ChatKey | null;
}

const HEARTBEAT_MS = 15_000;
const MAX_CLIENTS = 200;

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor() {
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Holds the response open as an event stream until the page goes away or the hub closes. */
  subscribe(req: Request, res: Response, chat: ChatKey | null): void {
    if (this.clients.size >= MAX_CLIENTS) {
      res.status(503).json({ error: { code: 'unavailable', message: 'too many open sandbox pages' } });
      return;
    }
    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    const client: Client = { res, chat };
    this.clients.add(client);
    req.on('close', () => this.clients.delete(client));
  }

  publish(e: SandboxEvent): void {
    const frame = `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
    for (const c of this.clients) {
      if (e.chat && !(c.chat && c.chat.phoneNumberId === e.chat.phoneNumberId && c.chat.customer === e.chat.customer)) continue;
      c.res.write(frame);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
