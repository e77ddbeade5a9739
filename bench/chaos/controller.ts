import type { ProviderCall } from './fakes.ts';
import type { JourneyHooks, MessageKind } from './journeys.ts';
import type { Random } from './random.ts';
import type { Role, Supervisor } from './processes.ts';

/**
 * When to kill what. At random: every `killEverySeconds` on average, one of the three processes. At the worst
 * moments: right after duka accepted a message that changes a cart (the update is on its way through the worker),
 * while a provider call that starts or moves money is in flight or its answer is on the way back, and while a
 * webhook is in the API's hands.
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

  /** Kills `role` unless the chaos is over, the last kill was too recent, or the process is not (yet) up. */
  strike(role: Role, reason: string): boolean {
    if (!this.active || Date.now() - this.lastKillAt < this.settings.minGapMs || this.supervisor.upFor(role) < 1_000) return false;
    if (!this.supervisor.kill(role, reason)) return false;
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
    this.strike('worker', call.phase === 'arrived' ? `${call.provider} call in flight` : `${call.provider} answered, duka not told yet`);
  }

  webhookLeaving(kind: MessageKind): void {
    if (kind !== 'cart' || !this.random.chance(this.settings.apiInFlightRate)) return;
    void sleep(this.random.between(0, 40)).then(() => this.strike('api', 'webhook in flight'));
  }

  cartUpdateAccepted(): void {
    if (!this.random.chance(this.settings.worstRate)) return;
    const role = this.weighted([['worker', 0.7], ['temporal', 0.15], ['api', 0.15]]);
    void sleep(this.random.between(0, 600)).then(() => this.strike(role, 'cart update in flight'));
  }
}
