/** What the pages share: the shops this token sees, the one picked in the top bar, and navigation. */
export interface ShopInfo {
  id: string;
  name: string;
  active: boolean;
  phoneNumberId: string;
  displayPhone: string;
  currency: string;
  country: string;
  timezone: string;
  defaultLanguage: string;
  languages: string[];
  orderPrefix: string;
  paymentMethods: string[];
  deliveryFee: number;
  taxRateBasisPoints: number;
  taxInclusive: boolean;
  preparationMinutes: number;
  deliveryAvailable: boolean;
  pickupAvailable: boolean;
  whatsapp: { businessAccountId: string | null; accessTokenSet: boolean; appSecretSet: boolean };
  credentialsSet: string[];
  createdAt: string;
}

export interface Ctx {
  readonly shops: ShopInfo[];
  /** The shop picked in the top bar, or null for all shops (admin only). */
  readonly shop: ShopInfo | null;
  /** ADMIN_TOKEN (every shop, phone numbers, creating shops) rather than a shop's token. */
  readonly admin: boolean;
  go(hash: string): void;
  refresh(): void;
  reloadShops(): Promise<void>;
}

export interface View {
  node: Node;
  /** Refreshed every few seconds while the operator is not typing. */
  live?: boolean;
}

export type Page = (ctx: Ctx, params: string[]) => Promise<View>;
