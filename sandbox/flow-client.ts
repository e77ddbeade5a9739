import { randomBytes } from 'node:crypto';
import express, { type Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../lib/config.ts';
import { HttpError } from '../api/errors.ts';
import { deployShopFlows } from '../api/routes/flow-deploy.ts';
import { FLOWS_PATH } from '../api/routes/flows.ts';
import { FlowManagementClient } from '../providers/whatsapp/flow-management.ts';
import { decryptFlowResponse, encryptFlowRequestForTest, resolveFlowsKey } from '../providers/whatsapp/flows.ts';
import { signMetaPayload } from '../providers/whatsapp/signature.ts';
import type { FlowManagementStandIn } from './flow-management.ts';
import { flowReply, type RawInboundMessage } from './meta.ts';

/**
 * The sandbox as WhatsApp's client for Flows: the page renders a Flow from the JSON the Graph stand-in holds (what
 * the deploy uploaded from flows/*.json) and talks to duka's real data endpoint through here, encrypted with the public
 * key uploaded for the shop's number and signed with the app secret exactly as Meta does (protocols.md §2); a finished
 * Flow becomes the `nfm_reply` webhook. At start the sandbox deploys every shop's Flows to its stand-in, whose flows
 * live in memory like its catalogs.
 */
export interface FlowClientDeps {
  config: Config;
  orm: MikroORM;
  flows: FlowManagementStandIn;
  fetch: typeof fetch;
  /** Posts a customer's message as a signed webhook and shows it in the chat (sandbox/index.ts). */
  deliver(phoneNumberId: string, from: string, raw: RawInboundMessage): Promise<unknown>;
  log(message: string, detail?: Record<string, unknown>): void;
}

const Id = z.string().min(1).max(200);
const ExchangeBody = z.object({ phoneNumberId: Id, payload: z.looseObject({ action: z.enum(['INIT', 'BACK', 'data_exchange', 'ping']), flow_token: z.string().max(400).optional() }) });
const CompleteBody = z.object({ phoneNumberId: Id, from: z.string().regex(/^\d{6,15}$/), contextId: Id.optional(), response: z.record(z.string(), z.unknown()) });

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

export function flowClientRouter(deps: FlowClientDeps): Router {
  const { config, flows } = deps;
  const router = express.Router();

  router.get('/:flowId', (req, res) => {
    const flow = flows.flows.get(req.params.flowId);
    if (!flow?.flowJson) throw new HttpError(404, 'not_found', `the Graph stand-in has no flow ${req.params.flowId}: deploy the shop's Flows (POST /api/admin/shops/:shopId/flows/deploy)`);
    res.json({ id: flow.id, name: flow.name, status: flow.status, flowJson: JSON.parse(flow.flowJson) as unknown });
  });

  router.post('/exchange', async (req, res) => {
    const body = parse(ExchangeBody, req.body);
    const publicKeyPem = flows.publicKeys.get(body.phoneNumberId) ?? (await resolveFlowsKey({ flowsPrivateKey: config.whatsapp.flowsPrivateKey, sandbox: true, dataDir: config.dataDir }))?.publicKeyPem;
    if (!publicKeyPem) throw new HttpError(409, 'no_public_key', 'no Flows public key was uploaded for this number');
    const aesKey = randomBytes(16);
    const iv = randomBytes(16);
    const raw = JSON.stringify(encryptFlowRequestForTest({ version: '3.0', ...body.payload }, publicKeyPem, { aesKey, iv }));
    const answer = await deps.fetch(`${config.publicBaseUrl}${FLOWS_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, config.whatsapp.appSecret) },
      body: raw,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await answer.text();
    let decrypted: unknown = null;
    if (answer.status === 200 || answer.status === 427) {
      try {
        decrypted = decryptFlowResponse(text, aesKey, iv);
      } catch {
        decrypted = null;
      }
    }
    res.json({ status: answer.status, answer: decrypted, ...(decrypted === null ? { body: text.slice(0, 500) } : {}) });
  });

  router.post('/complete', async (req, res) => {
    const body = parse(CompleteBody, req.body);
    res.json(await deps.deliver(body.phoneNumberId, body.from, flowReply(body.from, body.response, body.contextId ? { contextId: body.contextId } : {})));
  });

  return router;
}

/**
 * Deploys every shop's Flows to the stand-in once duka answers on its public URL (the stand-in is served by the same
 * process, which is not listening yet when the sandbox is built). Retries for about a minute, then says why not.
 */
export async function deploySandboxFlows(deps: Pick<FlowClientDeps, 'config' | 'orm' | 'fetch' | 'log'>, shops: () => Promise<{ id: string; phoneNumberId: string }[]>): Promise<void> {
  const client = new FlowManagementClient({ graphUrl: deps.config.whatsapp.graphUrl, apiVersion: deps.config.whatsapp.apiVersion, fetch: deps.fetch });
  let lastError = '';
  for (let attempt = 0; attempt < 30; attempt++) {
    await new Promise((r) => setTimeout(r, 2_000).unref());
    try {
      for (const shop of await shops()) await deployShopFlows({ config: deps.config, orm: deps.orm, client }, shop, { kinds: ['customise', 'payment'], publish: true });
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  deps.log('could not deploy the WhatsApp Flows to the Graph stand-in', { error: lastError });
}
