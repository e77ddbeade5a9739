export { orderWorkflow } from './order.ts';
export { conversationWorkflow } from './conversation.ts';
export { catalogSyncWorkflow } from './catalog-sync.ts';
