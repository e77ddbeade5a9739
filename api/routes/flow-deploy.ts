import { Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../../lib/config.ts';
import { shopAccessToken } from '../../lib/credentials.ts';
import { tracedFetch } from '../../lib/tracing.ts';
import { saveShopFlow, shopFlows } from '../../db/whatsapp-flows.ts';
import { resolveFlowsKey } from '../../providers/whatsapp/flows.ts';
import {
  FlowApiError,
  FlowManagementClient,
  describeValidationError,
  flowDefinitions,
  type FlowDefinition,
  type FlowKind,
  type FlowValidationError,
} from '../../providers/whatsapp/flow-management.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requestLog } from '../context.ts';
import { audit } from '../audit.ts';
import { pathShop, ShopIdParam } from '../shop-scope.ts';
import { describeRoute } from '../openapi.ts';
import { FLOWS_PATH } from './flows.ts';

/**
 * `POST /api/admin/shops/:shopId/flows/deploy` (CONTRACT.md): creates (or finds by name) each committed Flow in the
 * shop's WhatsApp Business Account, sets the data endpoint, uploads the Flow JSON, publishes it when Meta found no
 * validation error, and uploads the endpoint's public key for the shop's number. Flow ids are kept per shop
 * (`whatsapp_flow`), so the conversation sends the customisation Flow and the payment form once they are published.
 */
export interface FlowDeployDeps {
  config: Config;
  orm: MikroORM;
  /** Tests pass the fake Graph API's fetch; production traces the calls. */
  fetch?: typeof fetch;
}

/** In the sandbox a demo shop has no WhatsApp Business Account of its own: the Graph stand-in's account serves them. */
export const SANDBOX_WABA_ID = '100000000000000';

const DeployBody = z.strictObject({
  /** Which Flows (default both). */
  flows: z.array(z.enum(['customise', 'payment'])).min(1).max(2).optional(),
  /** Upload the JSON but leave the flows in DRAFT (sent only with `mode: draft`). */
  publish: z.boolean().optional(),
});

export interface DeployedFlow {
  kind: FlowKind;
  name: string;
  flowId: string;
  status: string;
  /** One readable line per validation error Meta found (what, and where). */
  validationErrors: string[];
}

async function deployOne(client: FlowManagementClient, wabaId: string, token: string, def: FlowDefinition, known: string | undefined, existing: Map<string, string>, endpointUri: string, publish: boolean) {
  // The id duka kept, while Meta still lists it; else the flow of that name (a restored database, a new sandbox).
  let flowId = known && [...existing.values()].includes(known) ? known : existing.get(def.name);
  if (!flowId) {
    flowId = await client.createFlow(wabaId, { name: def.name, categories: def.categories, ...(def.usesEndpoint ? { endpointUri } : {}) }, token);
  } else if (def.usesEndpoint) {
    await client.updateMetadata(flowId, { endpointUri }, token);
  }
  const errors: FlowValidationError[] = await client.uploadFlowJson(flowId, def.json, token);
  if (errors.length === 0 && publish) {
    const before = await client.getFlow(flowId, token);
    if (before.status !== 'PUBLISHED') await client.publish(flowId, token);
  }
  const after = await client.getFlow(flowId, token);
  return { flowId, status: after.status, errors: errors.length ? errors : after.validationErrors };
}

export interface DeployOutcome {
  flows: DeployedFlow[];
  publicKeyUploaded: boolean;
}

/** Meta refused a call midway: what was deployed before it, and Meta's message. */
export class FlowDeployError extends Error {
  override name = 'FlowDeployError';
  readonly flows: DeployedFlow[];
  readonly publicKeyUploaded: boolean;
  constructor(message: string, done: DeployOutcome) {
    super(message);
    this.flows = done.flows;
    this.publicKeyUploaded = done.publicKeyUploaded;
  }
}

/**
 * Deploys the committed Flows of these kinds for one shop and records their ids and statuses (also what the sandbox
 * does for its shops at start). Throws HttpError for what the shop lacks, FlowDeployError when Meta refuses a call.
 */
export async function deployShopFlows(
  deps: { config: Config; orm: MikroORM; client: FlowManagementClient },
  shop: { id: string; phoneNumberId: string; businessAccountId?: string | null; credentials?: string | null },
  options: { kinds: FlowKind[]; publish: boolean },
): Promise<DeployOutcome> {
  const { config, orm, client } = deps;
  const wabaId = shop.businessAccountId ?? (config.sandbox ? SANDBOX_WABA_ID : undefined);
  if (!wabaId) throw new HttpError(409, 'no_business_account', `shop ${shop.id} has no WhatsApp Business Account id: set whatsapp.businessAccountId with PATCH /api/admin/shops/${shop.id}`);
  const key = await resolveFlowsKey({ flowsPrivateKey: config.whatsapp.flowsPrivateKey, sandbox: config.sandbox, dataDir: config.dataDir });
  if (!key) throw new HttpError(503, 'flows_not_configured', 'WHATSAPP_FLOWS_PRIVATE_KEY is not set');
  const token = shopAccessToken(shop, config.credentialsKey) ?? config.whatsapp.accessToken;
  const endpointUri = `${config.publicBaseUrl}${FLOWS_PATH}`;
  const kinds = new Set(options.kinds);
  const known = new Map((await shopFlows(orm, shop.id)).map((f) => [f.kind, f.flowId]));
  const done: DeployOutcome = { flows: [], publicKeyUploaded: false };
  try {
    await client.uploadPublicKey(shop.phoneNumberId, key.publicKeyPem, token);
    done.publicKeyUploaded = true;
    const existing = new Map((await client.listFlows(wabaId, token)).map((f) => [f.name, f.id]));
    for (const def of flowDefinitions().filter((d) => kinds.has(d.kind))) {
      const flow = await deployOne(client, wabaId, token, def, known.get(def.kind), existing, endpointUri, options.publish);
      await saveShopFlow(orm, { shopId: shop.id, kind: def.kind, flowId: flow.flowId, name: def.name, status: flow.status, validationErrors: flow.errors });
      done.flows.push({ kind: def.kind, name: def.name, flowId: flow.flowId, status: flow.status, validationErrors: flow.errors.map(describeValidationError) });
    }
  } catch (err) {
    if (err instanceof FlowApiError) throw new FlowDeployError(err.message, done);
    throw err;
  }
  return done;
}

export function flowDeployRouter(deps: FlowDeployDeps): Router {
  const { config, orm } = deps;
  const router = Router();
  const client = new FlowManagementClient({ graphUrl: config.whatsapp.graphUrl, apiVersion: config.whatsapp.apiVersion, fetch: deps.fetch ?? tracedFetch('meta-flows') });

  describeRoute({
    method: 'post',
    path: '/api/admin/shops/:shopId/flows/deploy',
    summary: 'Create or update and publish the shop\'s WhatsApp Flows',
    description:
      'From the committed Flow JSON (flows/customise-product.json, flows/payment-form.json), in the shop\'s WhatsApp Business Account with its own token (else the environment\'s); uploads the data endpoint\'s public key for its number. Answers each flow\'s id and status; Meta\'s validation errors come back as 422 with one readable line each.',
    params: { shopId: ShopIdParam },
    body: DeployBody,
    bodyOptional: true,
    responses: {
      200: 'every flow deployed: `{ flows: [{ kind, name, flowId, status, validationErrors }], publicKeyUploaded }`',
      404: 'no such shop',
      403: 'another shop\'s token',
      409: 'the shop has no WhatsApp Business Account id',
      422: 'Meta found errors in a Flow JSON (`flows[].validationErrors`); those flows stay in DRAFT',
      502: 'Meta refused a call (its message is in the error)',
      503: 'no Flows endpoint key is configured (WHATSAPP_FLOWS_PRIVATE_KEY)',
    },
  });
  router.post('/shops/:shopId/flows/deploy', async (req, res) => {
    const log = requestLog(res);
    const shop = await pathShop(res, orm, req.params.shopId);
    const body = parseInput(DeployBody, req.body ?? {}, 'body');
    let outcome: DeployOutcome;
    try {
      outcome = await deployShopFlows({ config, orm, client }, shop, { kinds: body.flows ?? ['customise', 'payment'], publish: body.publish ?? true });
    } catch (err) {
      if (!(err instanceof FlowDeployError)) throw err;
      log.warn({ shopId: shop.id, error: err.message }, 'whatsapp flows: deploy refused by Meta');
      throw new HttpError(502, 'meta_refused', err.message, { flows: err.flows, publicKeyUploaded: err.publicKeyUploaded });
    }
    const { flows, publicKeyUploaded } = outcome;
    if (flows.length) {
      const em = orm.em.fork();
      audit(res, em, { shopId: shop.id, entity: 'whatsapp_flows', entityId: shop.id, action: 'deploy', diff: Object.fromEntries(flows.map((f) => [f.kind, { from: null, to: `${f.flowId} ${f.status}` }])) });
      await em.flush();
    }
    log.info({ shopId: shop.id, flows: flows.map((f) => `${f.kind}:${f.status}`) }, 'whatsapp flows deployed');
    const invalid = flows.filter((f) => f.validationErrors.length > 0);
    if (invalid.length) {
      const lines = invalid.flatMap((f) => f.validationErrors.map((e) => `${f.kind}: ${e}`));
      throw new HttpError(422, 'flow_json_invalid', `Meta found ${lines.length} error(s) in the Flow JSON: ${lines.join('; ')}`, { flows, publicKeyUploaded });
    }
    res.json({ flows, publicKeyUploaded });
  });
  return router;
}
