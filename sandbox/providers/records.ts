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
