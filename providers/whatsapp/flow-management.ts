import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readGraphAnswer } from './graph-answer.ts';

/**
 * WhatsApp Flows management (protocols.md §11): create a flow, replace its Flow JSON, set its endpoint, publish it,
 * and upload the data endpoint's public key for a phone number. Like the other Graph clients it never retries; the
 * caller (an operator's deploy request) sees Meta's answer.
 */
export interface FlowManagementOptions {
  graphUrl: string;
  apiVersion: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** One of §11.3's validation errors, as Meta lists them after an upload. */
export interface FlowValidationError {
  error: string;
  error_type?: string;
  message: string;
  line_start?: number;
  line_end?: number;
  column_start?: number;
  column_end?: number;
  pointers?: { path?: string }[];
}

export interface FlowObject {
  id: string;
  name: string;
  status: string;
  validationErrors: FlowValidationError[];
}

export class FlowApiError extends Error {
  override name = 'FlowApiError';
  /** 0 when no answer arrived. */
  readonly httpStatus: number;
  readonly code: number;
  constructor(message: string, fields: { httpStatus: number; code: number }) {
    super(message);
    this.httpStatus = fields.httpStatus;
    this.code = fields.code;
  }
}

// ---- the committed Flows -------------------------------------------------------------------------------------------

export type FlowKind = 'customise' | 'payment';

export interface FlowDefinition {
  kind: FlowKind;
  /** Unique per WABA (§11.2): found again by this name when duka lost its id. */
  name: string;
  categories: string[];
  /** The committed Flow JSON, exactly as uploaded. */
  json: string;
  /** Endpoint flows get duka's `POST /flows/whatsapp` as `endpoint_uri`. */
  usesEndpoint: boolean;
  /** The first screen, for a flow sent with `flow_action: navigate`. */
  firstScreen: string;
}

const FLOWS_DIR = new URL('../../flows/', import.meta.url);

function committed(file: string): string {
  return readFileSync(fileURLToPath(new URL(file, FLOWS_DIR)), 'utf8');
}

let definitions: FlowDefinition[] | undefined;

/** The Flows in `flows/` (read once): product customisation (endpoint-powered) and the payment form (navigate only). */
export function flowDefinitions(): FlowDefinition[] {
  definitions ??= [
    { kind: 'customise', name: 'duka: customise a product', categories: ['SHOPPING'], json: committed('customise-product.json'), usesEndpoint: true, firstScreen: 'CUSTOMISE' },
    { kind: 'payment', name: 'duka: payment details', categories: ['SHOPPING'], json: committed('payment-form.json'), usesEndpoint: false, firstScreen: 'PAYMENT' },
  ];
  return definitions;
}

// ---- the client ----------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function validationErrorsOf(json: Json): FlowValidationError[] {
  const list = Array.isArray(json.validation_errors) ? json.validation_errors : [];
  return list.filter(isObject).map((e) => ({ ...e, error: str(e.error) ?? 'UNKNOWN', message: str(e.message) ?? JSON.stringify(e) }) as FlowValidationError);
}

/** One line per error, as an operator reads it: what, where (JSON path or line:column). */
export function describeValidationError(e: FlowValidationError): string {
  const path = e.pointers?.map((p) => p.path).filter(Boolean).join(', ');
  const where = path || (e.line_start !== undefined ? `line ${e.line_start}${e.column_start !== undefined ? `:${e.column_start}` : ''}` : '');
  return `${e.error}: ${e.message}${where ? ` (at ${where})` : ''}`;
}

export class FlowManagementClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: FlowManagementOptions) {
    this.baseUrl = `${options.graphUrl.replace(/\/$/, '')}/${options.apiVersion}`;
    this.fetchImpl = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? 20_000;
  }

  /** Every flow of the WABA (default fields), following `paging.cursors.after`. */
  async listFlows(wabaId: string, accessToken: string): Promise<FlowObject[]> {
    const flows: FlowObject[] = [];
    let after: string | undefined;
    for (let page = 0; page < 50; page++) {
      const json = await this.call('GET', `/${encodeURIComponent(wabaId)}/flows${after ? `?after=${encodeURIComponent(after)}` : ''}`, accessToken);
      for (const f of Array.isArray(json.data) ? json.data.filter(isObject) : []) flows.push(this.flowOf(f));
      const paging = isObject(json.paging) ? json.paging : {};
      after = isObject(paging.cursors) ? str(paging.cursors.after) : undefined;
      if (!after || !str(paging.next)) break;
    }
    return flows;
  }

  async createFlow(wabaId: string, flow: { name: string; categories: string[]; endpointUri?: string }, accessToken: string): Promise<string> {
    const json = await this.call('POST', `/${encodeURIComponent(wabaId)}/flows`, accessToken, {
      name: flow.name,
      categories: flow.categories,
      ...(flow.endpointUri ? { endpoint_uri: flow.endpointUri } : {}),
    });
    const id = str(json.id);
    if (!id) throw new FlowApiError('Meta created a flow but answered no id', { httpStatus: 200, code: 0 });
    return id;
  }

  async updateMetadata(flowId: string, fields: { endpointUri?: string; categories?: string[] }, accessToken: string): Promise<void> {
    await this.call('POST', `/${encodeURIComponent(flowId)}`, accessToken, {
      ...(fields.endpointUri ? { endpoint_uri: fields.endpointUri } : {}),
      ...(fields.categories ? { categories: fields.categories } : {}),
    });
  }

  /** Replaces the Flow JSON (§11.2, multipart). Meta answers 200 with the validation errors, if any (§11.3). */
  async uploadFlowJson(flowId: string, flowJson: string, accessToken: string): Promise<FlowValidationError[]> {
    const form = new FormData();
    form.set('file', new Blob([flowJson], { type: 'application/json' }), 'flow.json');
    form.set('name', 'flow.json');
    form.set('asset_type', 'FLOW_JSON');
    return validationErrorsOf(await this.call('POST', `/${encodeURIComponent(flowId)}/assets`, accessToken, form));
  }

  async publish(flowId: string, accessToken: string): Promise<void> {
    await this.call('POST', `/${encodeURIComponent(flowId)}/publish`, accessToken);
  }

  async getFlow(flowId: string, accessToken: string): Promise<FlowObject> {
    return this.flowOf(await this.call('GET', `/${encodeURIComponent(flowId)}?fields=id,name,status,categories,validation_errors`, accessToken));
  }

  /** The data endpoint's public key (SPKI PEM) for this number (§2.1, §11.2). */
  async uploadPublicKey(phoneNumberId: string, publicKeyPem: string, accessToken: string): Promise<void> {
    await this.call('POST', `/${encodeURIComponent(phoneNumberId)}/whatsapp_business_encryption`, accessToken, new URLSearchParams({ business_public_key: publicKeyPem }));
  }

  private flowOf(json: Json): FlowObject {
    return { id: str(json.id) ?? '', name: str(json.name) ?? '', status: str(json.status) ?? 'UNKNOWN', validationErrors: validationErrorsOf(json) };
  }

  private async call(method: 'GET' | 'POST', path: string, accessToken: string, body?: Json | FormData | URLSearchParams): Promise<Json> {
    const isJson = body !== undefined && !(body instanceof FormData) && !(body instanceof URLSearchParams);
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', ...(isJson ? { 'content-type': 'application/json' } : {}) },
        ...(body === undefined ? {} : { body: isJson ? JSON.stringify(body) : (body as FormData | URLSearchParams) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new FlowApiError(`Meta Flows API unreachable: ${(err as Error).message}`, { httpStatus: 0, code: 0 });
    }
    const answer = await readGraphAnswer(response);
    if (answer.ok) return answer.json;
    const { code, message, details } = answer;
    throw new FlowApiError(`Meta Flows API ${response.status}${code ? ` (#${code})` : ''}: ${message}${details ? ` – ${details}` : ''}`, { httpStatus: response.status, code });
  }
}
