/**
 * The duka processes of `npm run chaos` by instance (`api#1`, `api#2`, `worker#1`, …, `temporal`), and the round robin
 * that spreads Meta's webhooks and the providers' callbacks over the live APIs, as a load balancer in front of them
 * would. Pure (no I/O): test/chaos/pool.test.ts.
 */

export type Role = 'worker' | 'api' | 'temporal';
export const ROLES: Role[] = ['worker', 'api', 'temporal'];

/** `api#2`; Temporal is one server, `temporal`. */
export const instanceId = (role: Role, n: number): string => (role === 'temporal' ? 'temporal' : `${role}#${n}`);

export function roleOf(id: string): Role {
  const role = id.split('#')[0] as Role;
  if (!ROLES.includes(role)) throw new Error(`not a chaos process instance: ${id}`);
  return role;
}

/** Every instance of a run: the workers, the APIs, then Temporal. */
export function instanceIds(counts: { apis: number; workers: number }): string[] {
  const numbered = (role: Role, count: number) => Array.from({ length: count }, (_, i) => instanceId(role, i + 1));
  return [...numbered('worker', counts.workers), ...numbered('api', counts.apis), instanceId('temporal', 1)];
}

/**
 * The index after `cursor` (cyclically) of the first instance `isUp` accepts; when none is up, simply the next one (a
 * delivery to it fails, and the sender retries as Meta and the providers do).
 */
export function nextLive(count: number, cursor: number, isUp: (index: number) => boolean): number {
  if (count <= 0) throw new Error('no instance to choose from');
  for (let step = 1; step <= count; step++) {
    const index = (((cursor + step) % count) + count) % count;
    if (isUp(index)) return index;
  }
  return (((cursor + 1) % count) + count) % count;
}

export interface ApiInstance {
  id: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
}

/**
 * The APIs behind one front address. duka is configured with the front as `PUBLIC_BASE_URL`, so every callback URL it
 * hands a provider names the front; each delivery (and each retry of it) to the front goes to the next live API.
 */
export class ApiPool {
  readonly front: string;
  private readonly apis: ApiInstance[];
  private readonly isUp: (id: string) => boolean;
  private cursor = -1;
  private readonly picks = new Map<string, number>();

  constructor(front: string, apis: ApiInstance[], isUp: (id: string) => boolean) {
    if (apis.length === 0) throw new Error('an API pool needs at least one API');
    this.front = front.replace(/\/$/, '');
    this.apis = apis;
    this.isUp = isUp;
  }

  /** The next live API (round robin), or the next one at all when none is up. */
  pick(): ApiInstance {
    this.cursor = nextLive(this.apis.length, this.cursor, (i) => this.isUp(this.apis[i]!.id));
    const api = this.apis[this.cursor]!;
    this.picks.set(api.id, (this.picks.get(api.id) ?? 0) + 1);
    return api;
  }

  /** A URL on the front, sent to the next live API instead (with the API it went to); any other URL as it is. */
  route(url: string): { url: string; api: string | null } {
    if (url !== this.front && !url.startsWith(`${this.front}/`) && !url.startsWith(`${this.front}?`)) return { url, api: null };
    const api = this.pick();
    return { url: api.url + url.slice(this.front.length), api: api.id };
  }

  /** Deliveries sent to each API so far (each try counts). */
  spread(): Record<string, number> {
    return Object.fromEntries(this.apis.map((a) => [a.id, this.picks.get(a.id) ?? 0]));
  }
}
