/**
 * The Graph API's WhatsApp Flows management endpoints for tests (protocols.md §11): the same stand-in the sandbox
 * serves, composed into the fake Graph API (test/fakes/graph-api.ts) under its base URL, so the production client
 * (providers/whatsapp/flow-management.ts) runs over real HTTP.
 */
export { FlowManagementStandIn, validateFlowJson, type StandInFlow } from '../../sandbox/flow-management.ts';
