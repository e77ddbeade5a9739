/** What the sandbox server sends the page (see sandbox/index.ts, chat.ts, simulators.ts). */
export type { ChatEntry, EntryStatus } from '../../chat.ts';
export type { Prompt, ProviderName, Toggles } from '../../simulators.ts';
export type { OrderView } from '../../../workflows/definitions.ts';

export interface Product {
  id: string;
  retailerId: string;
  name: string;
  description: string | null;
  price: number;
  imageUrl: string | null;
  available: boolean;
  customisable: boolean;
}

export interface ShopInfo {
  id: string;
  name: string;
  phoneNumberId: string;
  displayPhone: string;
  country: string;
  currency: string;
  language: string;
  catalogId: string | null;
  paymentMethods: string[];
  products: Product[];
}

export type Json = Record<string, unknown>;

/** What the page asks the server to send as the customer (sandbox/index.ts validates it). */
export type Outgoing =
  | { type: 'text'; text: string }
  | { type: 'button_reply'; id: string; title: string; contextId?: string }
  | { type: 'list_reply'; id: string; title: string; description?: string; contextId?: string }
  | { type: 'location'; latitude: number; longitude: number; name?: string; address?: string }
  | { type: 'order'; catalogId: string; items: { retailerId: string; quantity: number; itemPrice?: number; currency?: string }[]; note?: string };
