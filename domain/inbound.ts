/**
 * What a customer sent, normalised from Meta's webhook so that conversation workflows never see Graph API shapes.
 * Timestamps are Unix milliseconds.
 */
export interface OrderItem {
  retailerId: string;
  quantity: number;
  /** As sent by WhatsApp: never trust it for charging, re-price from the shop's catalog. */
  itemPrice?: number;
  currency?: string;
}

export type InboundContent =
  | { kind: 'text'; text: string }
  | { kind: 'button'; id: string; title: string }
  | { kind: 'list'; id: string; title: string; description?: string }
  | { kind: 'flow'; name: string; response: Record<string, unknown> }
  | { kind: 'order'; catalogId: string; note?: string; items: OrderItem[] }
  | { kind: 'location'; latitude: number; longitude: number; name?: string; address?: string }
  | { kind: 'template_button'; payload: string; text: string }
  | { kind: 'media'; mediaType: string; caption?: string }
  | { kind: 'unsupported'; type: string };

export type InboundKind = InboundContent['kind'];

/** The product a customer asked about when replying to a product message ("Is this available in 5kg?"). */
export interface ReferredProduct {
  catalogId: string;
  retailerId: string;
}

export interface InboundMessage {
  /** wamid: the de-duplication key, Meta redelivers webhooks. */
  id: string;
  phoneNumberId: string;
  from: string;
  contactName?: string;
  timestamp: number;
  /** wamid of the business message this one replies to. */
  contextId?: string;
  referredProduct?: ReferredProduct;
  content: InboundContent;
}

export interface StatusError {
  code: number;
  title: string;
  message?: string;
}

export interface StatusEvent {
  messageId: string;
  phoneNumberId: string;
  recipientId: string;
  /** sent | delivered | read | failed, kept open because Meta adds values. */
  status: string;
  timestamp: number;
  errors?: StatusError[];
}
