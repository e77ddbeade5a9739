/**
 * The custom search attributes operators see on order workflows (CONTRACT.md, "Temporal, as operators see it").
 * Pure data, no Temporal imports: read by the dev server launcher, the registration helper, the compose setup
 * check (test/ops) and workflow code alike. Names are the Temporal names; types are the Temporal CLI's type names.
 */
export type SearchAttributeKind = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export const SEARCH_ATTRIBUTES = {
  ShopId: 'Keyword',
  OrderNumber: 'Keyword',
  OrderStatus: 'Keyword',
  PaymentStatus: 'Keyword',
  PaymentProvider: 'Keyword',
  CustomerRef: 'Keyword',
  Attention: 'Keyword',
  OrderTotal: 'Double',
  LastCustomerMessageAt: 'Datetime',
} as const satisfies Record<string, SearchAttributeKind>;

export type SearchAttributeName = keyof typeof SEARCH_ATTRIBUTES;
export type SearchAttributeSpec = Readonly<Record<string, SearchAttributeKind>>;
