import { ApplicationFailure } from '@temporalio/common';
import { Booking, Category, Product, Shop, type IProduct, type IShop } from '../db/entities.ts';
import { priceLine, type CartLine, type CategoryView, type LineChoice, type LineRefusal, type ProductView, type ShopView } from '../domain/catalog.ts';
import type { CurrencyCode } from '../domain/money.ts';
import type { ActivityDeps } from './deps.ts';
import { hasRunningPromotions } from '../db/promotions.ts';

export function shopView(shop: IShop, hasBookings: boolean): ShopView {
  return {
    id: shop.id,
    name: shop.name,
    currency: shop.currency as CurrencyCode,
    country: shop.country,
    defaultLanguage: shop.defaultLanguage,
    paymentMethods: shop.paymentMethods,
    deliveryAvailable: shop.deliveryAvailable,
    pickupAvailable: shop.pickupAvailable,
    deliveryFee: shop.deliveryFee,
    taxRateBasisPoints: shop.taxRateBasisPoints,
    taxInclusive: shop.taxInclusive,
    ...(shop.catalogId ? { catalogId: shop.catalogId } : {}),
    hasBookings,
    preparationMinutes: shop.preparationMinutes,
    ...(Array.isArray(shop.menuExtras) && shop.menuExtras.length > 0 ? { menuExtras: shop.menuExtras } : {}),
  };
}

export function productView(p: IProduct, currency: CurrencyCode, base = ''): ProductView {
  const presentations = p.presentations.isInitialized() ? p.presentations.getItems() : [];
  const groups = p.modifierGroups.isInitialized() ? p.modifierGroups.getItems() : [];
  return {
    id: p.id,
    retailerId: p.retailerId,
    name: p.name,
    ...(p.description ? { description: p.description } : {}),
    price: p.price,
    currency,
    ...(p.imageUrl ? { imageUrl: p.imageUrl.startsWith('/') ? `${base}${p.imageUrl}` : p.imageUrl } : {}),
    available: p.available,
    // What a customer can still buy: units held by placed orders are not for sale (activities/stock.ts).
    stock: p.stock === null || p.stock === undefined ? null : Math.max(0, p.stock - (p.stockReserved ?? 0)),
    presentations: [...presentations].sort((a, b) => a.position - b.position).map((x) => ({ id: x.id, name: x.name, price: x.price })),
    groups: [...groups]
      .sort((a, b) => a.position - b.position)
      .map((g) => ({
        id: g.id,
        name: g.name,
        min: g.minSelect,
        max: g.maxSelect,
        options: (g.options.isInitialized() ? g.options.getItems() : [])
          .filter((o) => o.available)
          .sort((a, b) => a.position - b.position)
          .map((o) => ({ id: o.id, name: o.name, priceDelta: o.priceDelta })),
      })),
  };
}

const PRODUCT_POPULATE = ['presentations', 'modifierGroups', 'modifierGroups.options'] as const;

export function createCatalogActivities({ orm, config }: ActivityDeps) {
  const loadShop = async (shopId: string) => {
    const em = orm.em.fork();
    const shop = await em.findOne(Shop, { id: shopId });
    if (!shop) throw ApplicationFailure.nonRetryable(`unknown shop ${shopId}`, 'UnknownShop');
    return { em, shop };
  };
  const loadProducts = async (shopId: string, where: Record<string, unknown>) => {
    const { em, shop } = await loadShop(shopId);
    const products = await em.find(Product, { shop: shopId, ...where }, { populate: PRODUCT_POPULATE, orderBy: { position: 'asc' } });
    return products.map((p) => productView(p, shop.currency as CurrencyCode, config.publicBaseUrl));
  };

  return {
    async getShop(shopId: string): Promise<ShopView> {
      const { em, shop } = await loadShop(shopId);
      const bookings = await em.count(Booking, { shop: shopId });
      return { ...shopView(shop, bookings > 0), ...((await hasRunningPromotions(em, shopId)) && { hasPromotions: true }) };
    },

    async listCategories(shopId: string): Promise<CategoryView[]> {
      const em = orm.em.fork();
      const categories = await em.find(Category, { shop: shopId, active: true }, { orderBy: { position: 'asc' } });
      return categories.map((c) => ({ id: c.id, name: c.name, ...(c.description ? { description: c.description } : {}) }));
    },

    async listProducts(input: { shopId: string; categoryId: string }): Promise<ProductView[]> {
      // Sold out (nothing left that no placed order holds) leaves the list, as does a hidden category.
      const products = await loadProducts(input.shopId, { category: { id: input.categoryId, active: true }, available: true });
      return products.filter((p) => p.stock === null || p.stock > 0);
    },

    async getProduct(input: { shopId: string; productId: string }): Promise<ProductView | null> {
      const [product] = await loadProducts(input.shopId, { id: input.productId });
      return product ?? null;
    },

    /** Prices lines against the catalogue as it is now (prices, availability, stock). */
    async priceLines(input: { shopId: string; lines: { lineId: string; choice: LineChoice }[] }): Promise<(CartLine | LineRefusal)[]> {
      const ids = [...new Set(input.lines.map((l) => l.choice.productId))];
      const products = await loadProducts(input.shopId, { id: { $in: ids } });
      const byId = new Map(products.map((p) => [p.id, p]));
      return input.lines.map((l) => priceLine(byId.get(l.choice.productId), l.choice, l.lineId));
    },

    /** A native-catalog cart: items by retailer id, re-priced here; what cannot be sold is named back. */
    async resolveCatalogItems(input: { shopId: string; items: { retailerId: string; quantity: number }[] }): Promise<{ choices: LineChoice[]; unknown: string[] }> {
      const retailerIds = input.items.map((i) => i.retailerId);
      const products = await loadProducts(input.shopId, { retailerId: { $in: retailerIds } });
      const byRetailer = new Map(products.map((p) => [p.retailerId, p]));
      const choices: LineChoice[] = [];
      const unknown: string[] = [];
      for (const item of input.items) {
        const product = byRetailer.get(item.retailerId);
        // Products that need a size or options cannot come from the native catalog: say so rather than guess.
        if (!product || !product.available || product.presentations.length > 0 || product.groups.some((g) => g.min > 0)) {
          unknown.push(product?.name ?? item.retailerId);
          continue;
        }
        choices.push({ productId: product.id, optionIds: [], quantity: item.quantity });
      }
      return { choices, unknown };
    },
  };
}
