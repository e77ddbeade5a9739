import type { EntityManager } from '@mikro-orm/postgresql';
import { Booking, Category, ModifierGroup, ModifierOption, Presentation, Product, Shop } from './entities.ts';
import type { PaymentMethod } from '../providers/payments/types.ts';

interface ProductSeed {
  id: string;
  retailerId: string;
  name: string;
  description: string;
  price: number;
  category: string;
  stock?: number;
  presentations?: { id: string; name: string; price: number }[];
  groups?: { id: string; name: string; min: number; max: number; options: { id: string; name: string; delta: number }[] }[];
}

interface ShopSeed {
  id: string;
  name: string;
  phoneNumberId: string;
  displayPhone: string;
  currency: string;
  country: string;
  timezone: string;
  defaultLanguage: string;
  orderPrefix: string;
  paymentMethods: PaymentMethod[];
  taxRateBasisPoints: number;
  taxInclusive: boolean;
  deliveryFee: number;
  catalogId: string;
  categories: { id: string; name: string; description: string }[];
  products: ProductSeed[];
  bookings?: { reference: string; description: string; total: number }[];
}

/** The three demo shops of CONTRACT.md: three countries, three currencies, every payment method. Amounts in minor units. */
export const DEMO_SHOPS: ShopSeed[] = [
  {
    id: 'nairobi',
    name: 'Duka Nairobi',
    phoneNumberId: '100000000000001',
    displayPhone: '254700000001',
    currency: 'KES',
    country: 'KE',
    timezone: 'Africa/Nairobi',
    defaultLanguage: 'en',
    orderPrefix: 'NBO',
    paymentMethods: ['mpesa', 'cash'],
    taxRateBasisPoints: 1600,
    taxInclusive: true,
    deliveryFee: 20000,
    catalogId: '900000000000001',
    categories: [
      { id: 'nairobi-pantry', name: 'Coffee & Pantry', description: 'Coffee, honey and more' },
      { id: 'nairobi-care', name: 'Body Care', description: 'Handmade soaps' },
      { id: 'nairobi-pizza', name: 'Pizza', description: 'Made to order' },
    ],
    products: [
      { id: 'nairobi-coffee', retailerId: 'NBO-COFFEE-500', name: 'Premium Coffee', description: 'Kenyan AA, 500 g, roasted this week', price: 150000, category: 'nairobi-pantry', stock: 50 },
      { id: 'nairobi-honey', retailerId: 'NBO-HONEY-500', name: 'Organic Honey', description: 'Raw forest honey, 500 g jar', price: 80000, category: 'nairobi-pantry', stock: 30 },
      { id: 'nairobi-soap', retailerId: 'NBO-SOAP-1', name: 'Handmade Soap', description: 'Shea butter and lemongrass bar', price: 60000, category: 'nairobi-care', stock: 100 },
      {
        id: 'nairobi-pizza-margherita', retailerId: 'NBO-PIZZA-MARG', name: 'Margherita Pizza', description: 'Tomato, mozzarella, basil', price: 90000, category: 'nairobi-pizza',
        presentations: [
          { id: 'nairobi-pizza-small', name: 'Small', price: 90000 },
          { id: 'nairobi-pizza-medium', name: 'Medium', price: 120000 },
          { id: 'nairobi-pizza-large', name: 'Large', price: 150000 },
        ],
        groups: [
          { id: 'nairobi-pizza-crust', name: 'Crust', min: 1, max: 1, options: [{ id: 'crust-thin', name: 'Thin', delta: 0 }, { id: 'crust-thick', name: 'Thick', delta: 5000 }] },
          { id: 'nairobi-pizza-addons', name: 'Add-ons', min: 0, max: 3, options: [
            { id: 'addon-cheese', name: 'Extra cheese', delta: 15000 },
            { id: 'addon-mushroom', name: 'Mushrooms', delta: 10000 },
            { id: 'addon-olives', name: 'Olives', delta: 10000 },
            { id: 'addon-pepperoni', name: 'Pepperoni', delta: 20000 },
          ] },
        ],
      },
    ],
  },
  {
    id: 'harare',
    name: 'Duka Harare',
    phoneNumberId: '100000000000002',
    displayPhone: '263771000001',
    currency: 'USD',
    country: 'ZW',
    timezone: 'Africa/Harare',
    defaultLanguage: 'en',
    orderPrefix: 'HRE',
    paymentMethods: ['ecocash', 'onemoney', 'innbucks', 'omari', 'cash'],
    taxRateBasisPoints: 0,
    taxInclusive: true,
    deliveryFee: 200,
    catalogId: '900000000000002',
    categories: [
      { id: 'harare-groceries', name: 'Groceries', description: 'Everyday staples' },
      { id: 'harare-household', name: 'Household', description: 'Cleaning and home' },
    ],
    products: [
      { id: 'harare-maize', retailerId: 'SKU-MAIZE-10KG', name: 'Maize Meal 10kg', description: 'Roller meal, 10 kg', price: 799, category: 'harare-groceries', stock: 40 },
      { id: 'harare-oil', retailerId: 'SKU-OIL-2L', name: 'Cooking Oil 2L', description: 'Sunflower oil', price: 450, category: 'harare-groceries', stock: 60 },
      { id: 'harare-sugar', retailerId: 'SKU-SUGAR-2KG', name: 'Sugar 2kg', description: 'White sugar', price: 320, category: 'harare-groceries', stock: 80 },
      { id: 'harare-soap', retailerId: 'SKU-DISH-750', name: 'Dish Soap 750ml', description: 'Lemon', price: 275, category: 'harare-household', stock: 25 },
    ],
    bookings: [{ reference: 'BK-DEMO-0001', description: 'Victoria Falls day trip', total: 15000 }],
  },
  {
    id: 'pune',
    name: 'Duka Pune',
    phoneNumberId: '100000000000003',
    displayPhone: '912000000001',
    currency: 'INR',
    country: 'IN',
    timezone: 'Asia/Kolkata',
    defaultLanguage: 'en',
    orderPrefix: 'PNQ',
    paymentMethods: ['razorpay_link', 'cash'],
    taxRateBasisPoints: 500,
    taxInclusive: false,
    deliveryFee: 3000,
    catalogId: '900000000000003',
    categories: [
      { id: 'pune-snacks', name: 'Snacks', description: 'Street food favourites' },
      { id: 'pune-meals', name: 'Meals', description: 'Full plates' },
    ],
    products: [
      { id: 'pune-chai', retailerId: 'PNQ-CHAI', name: 'Masala Chai', description: 'Cutting chai, 150 ml', price: 4000, category: 'pune-snacks' },
      { id: 'pune-samosa', retailerId: 'PNQ-SAMOSA-2', name: 'Samosa (2 pcs)', description: 'With green chutney', price: 6000, category: 'pune-snacks' },
      { id: 'pune-vadapav', retailerId: 'PNQ-VADAPAV', name: 'Vada Pav', description: 'Spicy potato fritter in a bun', price: 3500, category: 'pune-snacks' },
      { id: 'pune-thali', retailerId: 'PNQ-THALI', name: 'Maharashtrian Thali', description: 'Bhakri, pithla, rice, dal, sweet', price: 18000, category: 'pune-meals', stock: 20 },
    ],
  },
];

/** Idempotent: creates what is missing and refreshes catalogue fields; never resets orders, stock sold or booking payments. */
export async function seedDemoShops(em: EntityManager): Promise<void> {
  for (const s of DEMO_SHOPS) {
    const { categories, products, bookings, ...shopFields } = s;
    const existing = await em.findOne(Shop, { id: s.id });
    if (existing) em.assign(existing, { ...shopFields, nextOrderNumber: existing.nextOrderNumber });
    else em.create(Shop, { ...shopFields, providerSettings: {} });
    await em.flush();
    const shop = await em.findOneOrFail(Shop, { id: s.id });
    for (const [position, c] of categories.entries()) {
      await em.upsert(Category, { ...c, shop, position });
    }
    for (const [position, ps] of products.entries()) {
      const { presentations = [], groups = [], category, stock, ...fields } = ps;
      const current = await em.findOne(Product, { id: ps.id });
      await em.upsert(Product, { ...fields, shop, category: em.getReference(Category, category), position, stock: current ? current.stock : (stock ?? null), available: true, imageUrl: `/sandbox/images/${ps.id}.svg` });
      const product = em.getReference(Product, ps.id);
      for (const [i, pr] of presentations.entries()) await em.upsert(Presentation, { ...pr, product, position: i });
      for (const [i, g] of groups.entries()) {
        await em.upsert(ModifierGroup, { id: g.id, name: g.name, minSelect: g.min, maxSelect: g.max, product, position: i });
        for (const [j, o] of g.options.entries()) {
          await em.upsert(ModifierOption, { id: `${g.id}-${o.id}`, name: o.name, priceDelta: o.delta, group: em.getReference(ModifierGroup, g.id), position: j, available: true });
        }
      }
    }
    for (const b of bookings ?? []) {
      const found = await em.findOne(Booking, { shop, reference: b.reference });
      if (!found) em.create(Booking, { ...b, shop, currency: s.currency, paid: 0 });
    }
    await em.flush();
  }
}
