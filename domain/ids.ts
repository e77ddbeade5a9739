/** Business-key workflow ids (CONTRACT.md). */
export const orderWorkflowId = (orderNumber: string) => `order:${orderNumber}`;
export const conversationWorkflowId = (shopId: string, customerRef: string) => `conversation:${shopId}:${customerRef}`;
