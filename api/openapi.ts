import { Router } from 'express';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';

/**
 * `GET /api/openapi.json` (CONTRACT.md): an OpenAPI 3.1 document of every `/api` route, built by zod-openapi from the
 * very zod schemas the handlers pass to `parseInput`. Each route describes itself with `describeRoute` right beside its
 * `router.<method>(…)`; test/api/openapi.test.ts walks the Express router stack and fails on a route without an entry
 * or an entry without a route.
 */
export type RouteMethod = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface RouteDoc {
  method: RouteMethod;
  /** The whole path as Express matches it, `:name` for a parameter: `/api/admin/shops/:shopId`. */
  path: string;
  summary: string;
  description?: string;
  /** Schemas the handler checks its path parameters with; a parameter not named here is a plain string. */
  params?: Record<string, z.ZodType>;
  query?: z.ZodObject;
  /** The JSON body's schema. */
  body?: z.ZodType;
  /** An absent body counts as `{}` (actions whose fields are all optional). */
  bodyOptional?: boolean;
  /** Status → what it means. 400 (when there is input) and 401 (bearer auth) are added. */
  responses: Record<number, string>;
  /** `false`: answered without a bearer token. */
  auth?: false;
}

const routes = new Map<string, RouteDoc>();
export type OpenApiDocument = ReturnType<typeof createDocument>;
let cached: OpenApiDocument | undefined;

const PARAM = /:(\w+)/g;
const paramNames = (path: string) => Array.from(path.matchAll(PARAM), (m) => m[1]!);

/** Records a route for the document; the same route described again (another app in this process) replaces its entry. */
export function describeRoute(doc: RouteDoc): void {
  const names = paramNames(doc.path);
  const unknown = Object.keys(doc.params ?? {}).filter((p) => !names.includes(p));
  if (unknown.length > 0) throw new Error(`describeRoute ${doc.method} ${doc.path}: no path parameter ${unknown.join(', ')}`);
  routes.set(`${doc.method.toUpperCase()} ${doc.path}`, doc);
  cached = undefined;
}

/** Every described route as `GET /api/admin/shops/:shopId`. */
export function documentedRoutes(): string[] {
  return [...routes.keys()].sort();
}

const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .meta({ id: 'Error', description: 'Every refusal: a stable code and a message for people' });

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: ErrorBody } } });

/** The first fixed segment after the shop or the area: `shops`, `products`, `orders`, … */
function tagOf(path: string): string {
  const rest = path.replace(/^\/api\/(admin\/)?/, '').replace(/^shops\/:shopId\/(?=\w)/, '');
  return rest.split('/')[0] || 'api';
}

function operation(doc: RouteDoc): ZodOpenApiOperationObject {
  const names = paramNames(doc.path);
  const responses: ZodOpenApiResponsesObject = {};
  const statuses: Record<string, string> = {
    ...(doc.query || doc.body || names.length > 0 ? { 400: 'invalid input: what is wrong, by path' } : {}),
    ...(doc.auth === false ? {} : { 401: 'no bearer token, or one that is unknown or revoked' }),
    ...doc.responses,
  };
  for (const [status, description] of Object.entries(statuses)) {
    responses[status as `${1 | 2 | 3 | 4 | 5}${string}`] = Number(status) >= 400 ? errorResponse(description) : { description };
  }
  return {
    summary: doc.summary,
    ...(doc.description && { description: doc.description }),
    tags: [tagOf(doc.path)],
    ...(doc.auth === false && { security: [] }),
    requestParams: {
      ...(names.length > 0 && { path: z.object(Object.fromEntries(names.map((n) => [n, doc.params?.[n] ?? z.string()]))) }),
      ...(doc.query && { query: doc.query }),
    },
    ...(doc.body && { requestBody: { required: !doc.bodyOptional, content: { 'application/json': { schema: doc.body } } } }),
    responses,
  };
}

/** The document of every described route (built once per set of routes). */
export function openApiDocument(): OpenApiDocument {
  if (cached) return cached;
  const paths: ZodOpenApiPathsObject = {};
  for (const doc of [...routes.values()].sort((a, b) => a.path.localeCompare(b.path))) {
    const item = (paths[doc.path.replace(PARAM, '{$1}')] ??= {});
    item[doc.method] = operation(doc);
  }
  cached = createDocument({
    openapi: '3.1.0',
    info: {
      title: 'duka',
      version: '1',
      description: 'WhatsApp shop backend: orders, the back office and shop systems. Money is in minor units of the shop currency.',
    },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, or a shop token (sees and changes only its own shop)' },
      },
    },
    paths,
  });
  return cached;
}

/** Serves the document; open like `/health` (it describes the routes, it holds no data). */
export function openApiRouter(): Router {
  const router = Router();
  describeRoute({ method: 'get', path: '/api/openapi.json', summary: 'This document', auth: false, responses: { 200: 'OpenAPI 3.1 document of every /api route' } });
  router.get('/api/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  return router;
}
