import type { ActivityDeps } from './deps.ts';
import { createCatalogActivities } from './catalog.ts';
import { createCustomerActivities } from './customers.ts';
import { createMessagingActivities } from './messaging.ts';
import { createOrderActivities } from './orders.ts';
import { createPaymentActivities } from './payments.ts';
import { createStockActivities } from './stock.ts';
import { createPromotionActivities } from './promotions.ts';
import { createShopifyActivities } from './shopify.ts';
import { createCatalogSyncActivities } from './catalog-sync.ts';
import { createFlowActivities } from './flows.ts';

/** Every activity, built from its dependencies (real ones in the worker, test doubles of third parties in tests). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createCatalogActivities(deps),
    ...createCustomerActivities(deps),
    ...createMessagingActivities(deps),
    ...createOrderActivities(deps),
    ...createPaymentActivities(deps),
    ...createStockActivities(deps),
    ...createPromotionActivities(deps),
    ...createShopifyActivities(deps),
    ...createCatalogSyncActivities(deps),
    ...createFlowActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps };
