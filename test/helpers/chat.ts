import { randomBytes } from 'node:crypto';
import { buttonReply, listReply, locationMessage, orderMessage, textMessage, type RawInboundMessage } from '../fakes/graph-api.ts';
import type { RecordedSend } from '../fakes/graph-api.ts';
import type { Duka } from './duka.ts';

/** What a customer sees of one message: its text and the ids they can tap. */
export interface Seen {
  text: string;
  ids: string[];
  raw: RecordedSend;
}

export function describeSend(s: RecordedSend): Seen {
  const b = s.body as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (b.type === 'text') return { text: b.text.body, ids: [], raw: s };
  if (b.type === 'template') return { text: `[template ${b.template.name}] ${JSON.stringify(b.template.components ?? [])}`, ids: [], raw: s };
  if (b.type === 'interactive') {
    const i = b.interactive;
    const ids: string[] =
      i.type === 'button'
        ? i.action.buttons.map((x: { reply: { id: string } }) => x.reply.id)
        : i.type === 'list'
          ? i.action.sections.flatMap((sec: { rows: { id: string }[] }) => sec.rows.map((r) => r.id))
          : i.type === 'cta_url'
            ? [i.action.parameters.url]
            : [];
    return { text: i.body?.text ?? '', ids, raw: s };
  }
  return { text: JSON.stringify(b), ids: [], raw: s };
}

/**
 * A simulated customer on WhatsApp: sends what Meta would deliver and waits for what duka answers, in order.
 * Each `send*` resolves with the messages duka sent in reply (at least `expect` of them).
 */
export class Customer {
  private seen = 0;
  readonly duka: Duka;
  readonly phoneNumberId: string;
  readonly waId: string;
  readonly name: string;

  constructor(duka: Duka, phoneNumberId: string, waId: string, name = 'Test Customer') {
    this.duka = duka;
    this.phoneNumberId = phoneNumberId;
    this.waId = waId;
    this.name = name;
    this.seen = duka.graph.sent.filter((s) => s.to === waId).length;
  }

  private id() {
    return `wamid.${randomBytes(8).toString('hex')}`;
  }

  async raw(message: RawInboundMessage, expect = 1, timeoutMs = 30_000): Promise<Seen[]> {
    const res = await this.duka.deliver(this.phoneNumberId, [message], { name: this.name });
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
    return this.next(expect, timeoutMs);
  }

  async next(expect = 1, timeoutMs = 30_000): Promise<Seen[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mine = this.duka.graph.sent.filter((s) => s.to === this.waId);
      if (mine.length >= this.seen + expect) {
        // Let a burst finish so the caller sees every message of this turn.
        await new Promise((r) => setTimeout(r, 300));
        const all = this.duka.graph.sent.filter((s) => s.to === this.waId);
        const fresh = all.slice(this.seen);
        this.seen = all.length;
        return fresh.map(describeSend);
      }
      if (Date.now() > deadline) {
        const got = mine.slice(this.seen).map((s) => describeSend(s).text);
        throw new Error(`expected ${expect} message(s), got ${got.length}: ${JSON.stringify(got)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  say(text: string, expect = 1) {
    return this.raw(textMessage(this.waId, text, this.id()), expect);
  }
  tap(id: string, title = id, expect = 1) {
    return this.raw(buttonReply(this.waId, id, title.slice(0, 20), this.id()), expect);
  }
  pick(id: string, title = id, expect = 1) {
    return this.raw(listReply(this.waId, id, title.slice(0, 24), undefined, this.id()), expect);
  }
  share(latitude: number, longitude: number, expect = 1) {
    return this.raw(locationMessage(this.waId, latitude, longitude, { name: 'Home' }, this.id()), expect);
  }
  sendCart(catalogId: string, items: { retailerId: string; quantity: number | string; itemPrice?: number | string; currency?: string }[], expect = 1) {
    return this.raw(orderMessage(this.waId, catalogId, items, undefined, this.id()), expect);
  }
}
