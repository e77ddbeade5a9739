/**
 * What every simulator keeps of its payments: records by id, handed out as copies (a test cannot change the
 * simulator's state by accident), and listeners told of each new one (the sandbox page shows the prompt).
 */
export class SimulatedRecords<T> {
  private readonly byId = new Map<string, T>();
  private readonly listeners = new Set<(record: T) => void>();

  /** The live record, for the simulator itself. */
  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  live(): T[] {
    return [...this.byId.values()];
  }

  copies(): T[] {
    return this.live().map((r) => structuredClone(r));
  }

  copy(id: string): T | undefined {
    const record = this.byId.get(id);
    return record && structuredClone(record);
  }

  listen(listener: (record: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Keeps a new record and tells the listeners; one that throws does not undo what the provider already did. */
  add(id: string, record: T): void {
    this.byId.set(id, record);
    for (const listener of this.listeners) {
      try {
        listener(structuredClone(record));
      } catch {
        // A sandbox page listener failing must not undo the payment.
      }
    }
  }
}

/** How a simulator's callbacks and API misbehave when a test asks; each simulator adds its own. */
export interface CallbackBehaviour {
  /** No callback is sent (the API still answers status queries). */
  dropCallbacks?: boolean;
  /** Each callback is sent twice, as a provider's redelivery: the same event and body. */
  duplicateCallbacks?: boolean;
  callbackDelayMs?: number;
  /** Every endpoint answers 503, as during the provider's outage. */
  down?: boolean;
}

/** What became of one webhook (callback) POST: the HTTP status it was answered with, or why it got none. */
export interface WebhookOutcome {
  status?: number;
  error?: string;
}

/**
 * The webhooks a simulator has sent, each POSTed as providers do (10 s timeout, the answer's body discarded) and
 * kept with its outcome, in order, for tests and the sandbox page.
 */
export class WebhookDeliveries<D extends WebhookOutcome> {
  private readonly sent: D[] = [];
  private readonly post: typeof fetch;

  constructor(post: typeof fetch = fetch) {
    this.post = post;
  }

  /** POSTs `body` to `url` and notes on `delivery` the status (or the error) before keeping it; never throws. */
  async deliver(delivery: D, url: string, headers: Record<string, string>, body: string): Promise<D> {
    const post = this.post;
    try {
      const res = await post(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      delivery.status = res.status;
      await res.body?.cancel();
    } catch (err) {
      delivery.error = (err as Error).message;
    }
    this.sent.push(delivery);
    return delivery;
  }

  list(): D[] {
    return [...this.sent];
  }
}
