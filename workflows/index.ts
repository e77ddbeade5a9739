export { orderWorkflow } from './order.ts';
export { conversationWorkflow } from './conversation.ts';
