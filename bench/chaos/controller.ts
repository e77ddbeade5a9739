import type { ProviderCall } from './fakes.ts';
import type { JourneyHooks, MessageKind } from './journeys.ts';
import type { Random } from './random.ts';
import { roleOf, type Role } from './pool.ts';
import type { Supervisor } from './processes.ts';

/**
 * When to kill what, one process instance at a time. At random: every `killEverySeconds` on average, a role (worker,
 * API, Temporal) and one of its live instances. At the worst moments: right after duka accepted a message that changes
 * a cart (the update is on its way through a worker: one of them, as nothing outside tells which holds it), while a
 * provider call that starts or moves money is in flight or its answer is on the way back (the very worker that made
 * the call), and while a webhook is in an API's hands (the API it was sent to).
 */
export interface ChaosSettings {
  killEverySeconds: number;
  /** Chance that a worst moment (a cart update, a provider call) gets a kill. */
  worstRate: number;
  /** Chance that a cart message's webhook gets the API killed under it. */
  apiInFlightRate: number;
  /** No two kills closer than this (ms): each process gets the time to come back and work a little. */
  minGapMs: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const RANDOM_TARGETS: [Role, number][] = [
  ['worker', 0.45],
  ['api', 0.3],
  ['temporal', 0.25],
];

export class ChaosController implements JourneyHooks {
  private readonly supervisor: Supervisor;
  private readonly random: Random;
  private readonly settings: ChaosSettings;
  private active = false;
  private lastKillAt = 0;
  private loop: Promise<void> | undefined;

  constructor(supervisor: Supervisor, random: Random, settings: ChaosSettings) {
    this.supervisor = supervisor;
    this.random = random;
    this.settings = settings;
  }

  start(): void {
    this.active = true;
    this.loop = this.randomKills();
  }

  async stop(): Promise<void> {
    this.active = false;
    await this.loop;
  }

  /**
   * Kills `instance`, or one of `role`'s instances at random, unless the chaos is over, the last kill was too recent,
   * or the process is not (yet) up a second.
   */
  strike(role: Role, reason: string, instance?: string): boolean {
    if (!this.active || Date.now() - this.lastKillAt < this.settings.minGapMs) return false;
    const candidates = (instance !== undefined ? [instance] : this.supervisor.instances(role)).filter((id) => this.supervisor.upFor(id) >= 1_000);
    if (candidates.length === 0) return false;
    if (!this.supervisor.kill(this.random.pick(candidates), reason)) return false;
    this.lastKillAt = Date.now();
    return true;
  }

  private weighted(targets: [Role, number][]): Role {
    let roll = this.random.next() * targets.reduce((sum, [, w]) => sum + w, 0);
    for (const [role, weight] of targets) if ((roll -= weight) < 0) return role;
    return targets[0]![0];
  }

  private async randomKills(): Promise<void> {
    while (this.active) {
      const wait = this.settings.killEverySeconds * 1000 * this.random.between(0.5, 1.5);
      const until = Date.now() + wait;
      while (this.active && Date.now() < until) await sleep(Math.min(250, until - Date.now()));
      if (this.active) this.strike(this.weighted(RANDOM_TARGETS), 'at random');
    }
  }

  onProviderCall(call: ProviderCall): void {
    if (!this.random.chance(this.settings.worstRate / 2)) return;
    const reason = call.phase === 'arrived' ? `${call.provider} call in flight` : `${call.provider} answered, duka not told yet`;
    // The process that made the call (a worker's activity); any worker when the fakes could not tell.
    if (call.caller) this.strike(roleOf(call.caller), reason, call.caller);
    else this.strike('worker', reason);
  }

  webhookLeaving(kind: MessageKind, api: string | null): void {
    if (kind !== 'cart' || !this.random.chance(this.settings.apiInFlightRate)) return;
    void sleep(this.random.between(0, 40)).then(() => this.strike('api', 'webhook in flight', api ?? undefined));
  }

  cartUpdateAccepted(): void {
    if (!this.random.chance(this.settings.worstRate)) return;
    const role = this.weighted([['worker', 0.7], ['temporal', 0.15], ['api', 0.15]]);
    void sleep(this.random.between(0, 600)).then(() => this.strike(role, 'cart update in flight'));
  }
}
