import type { PromotionView } from '../domain/catalog.ts';
import { runningPromotions } from '../db/promotions.ts';
import type { ActivityDeps } from './deps.ts';

export function createPromotionActivities({ orm }: ActivityDeps) {
  return {
    /** The promotions an order's totals apply now (seed 001); read whenever the cart or fulfilment changes. */
    async activePromotions(input: { shopId: string }): Promise<PromotionView[]> {
      return runningPromotions(orm.em.fork(), input.shopId);
    },
  };
}
