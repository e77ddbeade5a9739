import { randomInt } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { graphErrorBody, isObject, type GraphFailure } from './meta.ts';

/**
 * WhatsApp Flows management as the Graph API serves it (protocols.md §11): create a flow in a WABA, list them, update
 * its metadata, upload its Flow JSON (multipart, answered 200 with `validation_errors` as Meta does), publish, read
 * it, and the phone number's `whatsapp_business_encryption` public key. Shared by the test fake
 * (test/fakes/graph-flows.ts, composed into test/fakes/graph-api.ts) and the sandbox's Graph stand-in.
 *
 * The Flow JSON is checked for what §11.6 calls essential (version, screens, data examples, a Footer on terminal
 * screens, routing model and data_api_version together); Meta checks far more, which a fake cannot promise.
 */
export interface StandInFlow {
  id: string;
  wabaId: string;
  name: string;
  categories: string[];
  status: 'DRAFT' | 'PUBLISHED' | 'DEPRECATED';
  endpointUri?: string;
  flowJson?: string;
  validationErrors: Record<string, unknown>[];
}

export interface FlowManagementStandInOptions {
  /** Only this token is accepted; any non-empty Bearer token otherwise. */
  accessToken?: string;
}

type Json = Record<string, unknown>;

const error = (res: Response, failure: GraphFailure) => void res.status(failure.status).json(graphErrorBody(failure));

/** Meta's §11.3 shape for one problem at a JSON path. */
const problem = (message: string, path: string, kind = 'INVALID_PROPERTY_VALUE'): Json => ({
  error: kind,
  error_type: 'FLOW_JSON_ERROR',
  message,
  line_start: 1,
  line_end: 1,
  column_start: 1,
  column_end: 1,
  pointers: [{ line_start: 1, line_end: 1, column_start: 1, column_end: 1, path }],
});

/** The §11.6 essentials of a Flow JSON, as Meta's validation errors. */
export function validateFlowJson(text: string): Json[] {
  let flow: unknown;
  try {
    flow = JSON.parse(text);
  } catch (err) {
    return [problem(`Invalid JSON: ${(err as Error).message}`, '', 'INVALID_JSON')];
  }
  if (!isObject(flow)) return [problem('Flow JSON must be an object', '')];
  const errors: Json[] = [];
  if (typeof flow.version !== 'string') errors.push(problem("Missing required property 'version'.", 'version', 'MISSING_REQUIRED_PROPERTY'));
  if (!Array.isArray(flow.screens) || flow.screens.length === 0) return [...errors, problem("Missing required property 'screens'.", 'screens', 'MISSING_REQUIRED_PROPERTY')];
  if ('data_channel_uri' in flow) errors.push(problem("Property 'data_channel_uri' is not allowed from Flow JSON 3.0: set endpoint_uri through the API.", 'data_channel_uri', 'INVALID_PROPERTY'));
  if ((flow.routing_model !== undefined) !== (flow.data_api_version !== undefined)) {
    errors.push(problem('routing_model and data_api_version go together (endpoint flows).', flow.routing_model ? 'data_api_version' : 'routing_model', 'MISSING_REQUIRED_PROPERTY'));
  }
  const ids = new Set<string>();
  flow.screens.forEach((screen: unknown, i: number) => {
    const at = `screens [${i}]`;
    if (!isObject(screen) || typeof screen.id !== 'string') return void errors.push(problem("Missing required property 'id'.", at, 'MISSING_REQUIRED_PROPERTY'));
    if (screen.id === 'SUCCESS') errors.push(problem("'SUCCESS' is a reserved screen id.", `${at}.id`));
    ids.add(screen.id);
    for (const [name, prop] of Object.entries(isObject(screen.data) ? screen.data : {})) {
      if (!isObject(prop) || !('__example__' in prop)) errors.push(problem(`Property '${name}' needs an '__example__'.`, `${at}.data.${name}`, 'MISSING_REQUIRED_PROPERTY'));
    }
    const layout = isObject(screen.layout) ? screen.layout : undefined;
    const children = Array.isArray(layout?.children) ? (layout.children as unknown[]) : undefined;
    if (layout?.type !== 'SingleColumnLayout' || !children) return void errors.push(problem("layout must be a SingleColumnLayout with 'children'.", `${at}.layout`));
    if (children.length > 50) errors.push(problem('At most 50 components per screen.', `${at}.layout.children`));
    children.forEach((c, j) => {
      if (!isObject(c) || typeof c.type !== 'string') errors.push(problem("Invalid value found for property 'type'.", `${at}.layout.children [${j}].type`));
    });
    if (screen.terminal === true && !children.some((c) => isObject(c) && c.type === 'Footer')) errors.push(problem('A terminal screen must have a Footer.', `${at}.layout`, 'MISSING_FOOTER'));
  });
  if (isObject(flow.routing_model)) {
    for (const [from, to] of Object.entries(flow.routing_model)) {
      if (!ids.has(from)) errors.push(problem(`routing_model names an unknown screen '${from}'.`, `routing_model.${from}`));
      for (const next of Array.isArray(to) ? to : []) if (typeof next !== 'string' || !ids.has(next)) errors.push(problem(`routing_model names an unknown screen '${String(next)}'.`, `routing_model.${from}`));
    }
  }
  return errors;
}

export class FlowManagementStandIn {
  readonly flows = new Map<string, StandInFlow>();
  /** phone_number_id → the uploaded SPKI PEM. */
  readonly publicKeys = new Map<string, string>();
  readonly router: Router;
  private readonly failures: GraphFailure[] = [];
  /** Validation errors the next uploads report whatever their JSON (what Meta finds that the checks here cannot). */
  private readonly rejections: Json[][] = [];
  private readonly options: FlowManagementStandInOptions;

  constructor(options: FlowManagementStandInOptions = {}) {
    this.options = options;
    const r = express.Router();
    const json = express.json({ limit: '1mb' });
    // Multipart and form bodies are read with the platform's own parser (what a browser's FormData sends).
    const form = express.raw({ type: ['multipart/form-data', 'application/x-www-form-urlencoded'], limit: '11mb' });
    const auth = (req: Request, res: Response, next: NextFunction) => {
      const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
      if (!token || (this.options.accessToken !== undefined && token !== this.options.accessToken)) return error(res, { status: 401, code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
      const failure = this.failures.shift();
      if (failure) return error(res, failure);
      next();
    };
    const flowOf = (req: Request) => this.flows.get(String(req.params.flowId));

    r.post('/:version/:wabaId/flows', auth, json, form, async (req, res) => {
      const body = await fields(req);
      const name = typeof body.name === 'string' ? body.name : '';
      const categories = parseList(body.categories);
      if (!name || name.length > 200) return error(res, { status: 400, code: 100, message: "Invalid parameter: 'name' is required (at most 200 characters)" });
      if (!categories.length) return error(res, { status: 400, code: 100, message: "Invalid parameter: 'categories' is required" });
      if ([...this.flows.values()].some((f) => f.wabaId === req.params.wabaId && f.name === name)) {
        return error(res, { status: 400, code: 100, message: 'Invalid parameter', details: `A flow named "${name}" already exists in this WhatsApp Business Account` });
      }
      const flow: StandInFlow = { id: `${randomInt(1e9, 2 ** 47)}${randomInt(10, 99)}`, wabaId: String(req.params.wabaId), name, categories, status: 'DRAFT', validationErrors: [] };
      if (typeof body.endpoint_uri === 'string') flow.endpointUri = body.endpoint_uri;
      this.flows.set(flow.id, flow);
      res.json({ id: flow.id, success: true, validation_errors: [] });
    });
    r.get('/:version/:wabaId/flows', auth, (req, res) => {
      const data = [...this.flows.values()].filter((f) => f.wabaId === req.params.wabaId).map((f) => view(f));
      res.json({ data, paging: { cursors: { before: 'QVFI', after: 'QVFI' } } });
    });
    r.post('/:version/:flowId/assets', auth, form, async (req, res) => {
      const flow = flowOf(req);
      if (!flow) return error(res, { status: 400, code: 100, message: 'Unsupported post request. Object does not exist' });
      const body = await fields(req);
      const file = body.file;
      if (body.asset_type !== 'FLOW_JSON' || typeof file !== 'object' || file === null) return error(res, { status: 400, code: 100, message: "Invalid parameter: 'file' and asset_type=FLOW_JSON are required" });
      flow.flowJson = await (file as Blob).text();
      flow.validationErrors = this.rejections.shift() ?? validateFlowJson(flow.flowJson);
      // Current Meta pages: editing a published flow's JSON returns it to DRAFT (§11.4).
      if (flow.status === 'PUBLISHED') flow.status = 'DRAFT';
      res.json({ success: true, validation_errors: flow.validationErrors });
    });
    r.post('/:version/:flowId/publish', auth, (req, res) => {
      const flow = flowOf(req);
      if (!flow) return error(res, { status: 400, code: 100, message: 'Unsupported post request. Object does not exist' });
      if (!flow.flowJson || flow.validationErrors.length) return error(res, { status: 400, code: 139001, message: 'Flow can not be published', details: 'Publishing a flow with validation errors is not possible.' });
      const flowJson = JSON.parse(flow.flowJson) as Json;
      if (flowJson.data_api_version !== undefined && !flow.endpointUri) return error(res, { status: 400, code: 139001, message: 'Flow can not be published', details: 'endpoint_uri: You need to set the endpoint URI' });
      flow.status = 'PUBLISHED';
      res.json({ success: true });
    });
    r.post('/:version/:phoneNumberId/whatsapp_business_encryption', auth, form, async (req, res) => {
      const key = (await fields(req)).business_public_key;
      if (typeof key !== 'string' || !key.includes('BEGIN PUBLIC KEY')) return error(res, { status: 400, code: 100, message: "Invalid parameter: 'business_public_key' must be a PEM public key" });
      this.publicKeys.set(String(req.params.phoneNumberId), key);
      res.json({ success: true });
    });
    r.get('/:version/:phoneNumberId/whatsapp_business_encryption', auth, (req, res) => {
      const key = this.publicKeys.get(String(req.params.phoneNumberId));
      res.json({ data: key ? [{ business_public_key: key, business_public_key_signature_status: 'VALID' }] : [] });
    });
    // `/{flow_id}` shares its shape with other Graph objects (product sets): only known flow ids are answered here.
    r.get('/:version/:flowId', (req, res, next) => (flowOf(req) ? auth(req, res, () => res.json(view(flowOf(req)!))) : next()));
    r.post('/:version/:flowId', (req, res, next) => {
      const flow = flowOf(req);
      if (!flow) return next();
      auth(req, res, () =>
        json(req, res, () =>
          void form(req, res, async () => {
            const body = await fields(req);
            if (typeof body.endpoint_uri === 'string') flow.endpointUri = body.endpoint_uri;
            if (typeof body.name === 'string') flow.name = body.name;
            if (body.categories !== undefined) flow.categories = parseList(body.categories);
            res.json({ success: true });
          }),
        ),
      );
    });
    this.router = r;
  }

  /** The next n Flows management calls fail with this Graph error. */
  failNext(n: number, failure: GraphFailure): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** The next upload answers these validation errors (Meta's §11.3 shape), as Meta does: 200 and `success: true`. */
  rejectNextUpload(errors: Json[]): void {
    this.rejections.push(errors);
  }

  /** The published flow of this name, if any (what a customer's WhatsApp can open). */
  published(name: string): StandInFlow | undefined {
    return [...this.flows.values()].find((f) => f.name === name && f.status === 'PUBLISHED');
  }

  clear(): void {
    this.flows.clear();
    this.publicKeys.clear();
    this.failures.length = 0;
    this.rejections.length = 0;
  }
}

function view(f: StandInFlow): Json {
  return { id: f.id, name: f.name, status: f.status, categories: f.categories, validation_errors: f.validationErrors };
}

/** `categories` arrives as a JSON array, or as its text in form data (§11.2). */
function parseList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return value.split(',').map((s) => s.trim()).filter(Boolean);
  }
}

/** The fields of a JSON, multipart or url-encoded body. */
async function fields(req: Request): Promise<Record<string, unknown>> {
  if (Buffer.isBuffer(req.body)) {
    const parsed = await new Response(new Uint8Array(req.body), { headers: { 'content-type': req.get('content-type') ?? '' } }).formData().catch(() => undefined);
    const out: Record<string, unknown> = {};
    parsed?.forEach((value, key) => {
      out[key] = value;
    });
    return out;
  }
  return isObject(req.body) ? req.body : {};
}
