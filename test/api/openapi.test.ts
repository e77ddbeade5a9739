import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { ADMIN_TOKEN, bearer, json, startApi, testConfig, type ApiHarness } from './support.ts';

/**
 * `GET /api/openapi.json` (issue 9, part 7): a valid OpenAPI 3.1 document, generated from the zod schemas the handlers
 * validate with, naming every mounted `/api` route (and nothing else), whose request schemas accept what the API
 * accepts and refuse what it refuses.
 */
let api: ApiHarness;
let doc: Record<string, unknown> & { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: object }> } }>> };
/** The document with its `$ref`s resolved, for compiling request schemas. */
let resolved: typeof doc;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Layer {
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every route the Express app has mounted, as `POST /api/admin/shops/:shopId/tokens`, read from its router stack. */
function mountedRoutes(stack: Layer[], prefix = ''): string[] {
  const join = (a: string, b: string) => `${a.replace(/\/$/, '')}${b === '/' ? '' : b}` || '/';
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = join(prefix, layer.route.path);
      return Object.keys(layer.route.methods).filter((m) => m !== '_all').map((m) => `${m.toUpperCase()} ${path}`);
    }
    if (layer.handle?.stack) return mountedRoutes(layer.handle.stack, typeof layer.rawPath === 'string' ? join(prefix, layer.rawPath) : prefix);
    return [];
  });
}

function documentedRoutes(): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
formats.default(ajv);
function bodySchema(method: string, path: string): ValidateFunction {
  const schema = resolved.paths[path]?.[method]?.requestBody?.content['application/json']?.schema;
  if (!schema) throw new Error(`no documented JSON body for ${method} ${path}`);
  return ajv.compile(schema);
}

beforeAll(async () => {
  api = await startApi({ config: testConfig({ CREDENTIALS_KEY: 'a1'.repeat(32) }) });
  const res = await fetch(`${api.url}/api/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await json(res)) as typeof doc;
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  if (!result.valid) throw new Error(`not a valid OpenAPI document: ${JSON.stringify(result.errors).slice(0, 2000)}`);
  resolved = validator.resolveRefs() as typeof doc;
});
afterAll(async () => {
  await api?.close();
});

describe('GET /api/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without a token, with bearer auth for the routes', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result).toEqual({ valid: true });
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc).toMatchObject({ components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } });
    expect(doc.paths['/api/openapi.json']?.get).toMatchObject({ security: [] });
    expect(doc.paths['/api/admin/shops/{shopId}']?.get).toMatchObject({
      parameters: [{ in: 'path', name: 'shopId', required: true }],
      responses: { 401: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    });
  });

  it('names every mounted /api route with its method, and no route that is not mounted', () => {
    const app = api.server.app as unknown as { router: { stack: Layer[] } };
    const mounted = mountedRoutes(app.router.stack).filter((r) => / \/api(\/|$)/.test(r));
    expect(mounted.length).toBeGreaterThan(35);
    expect(mounted).toContain('PATCH /api/admin/shops/:shopId/products/:productId');
    expect(documentedRoutes().sort()).toEqual([...new Set(mounted)].sort());
  });

  it('documents the query parameters the handlers read, with their constraints', () => {
    const orders = doc.paths['/api/admin/orders']?.get as unknown as { parameters: { name: string; in: string; schema: Record<string, unknown> }[] };
    expect(orders.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(['query:shop', 'query:status', 'query:attention', 'query:limit', 'query:cursor']);
    expect(orders.parameters.find((p) => p.name === 'limit')?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 });
  });
});

describe('request bodies: the documented schema accepts what the API accepts and refuses what it refuses', () => {
  const shop = {
    name: 'Mutare Solar',
    phoneNumberId: '100000000000077',
    displayPhone: '263771000077',
    currency: 'USD',
    country: 'ZW',
    timezone: 'Africa/Harare',
    languages: ['en'],
    paymentMethods: ['ecocash', 'cash'],
    deliveryFee: 500,
    pickupAvailable: false,
    menuExtras: [
      { kind: 'faq', title: 'Warranty', reply: 'Two years on every panel.' },
      { kind: 'request', title: 'Request installation', prompt: 'Your address and roof type?' },
    ],
    whatsapp: { accessToken: 'EAAG-openapi-test', businessAccountId: '300000000000077' },
    credentials: { ecocash: { integrationId: '4242', integrationKey: 'paynow-key-openapi-test' } },
  };
  const product = {
    retailerId: 'openapi-pizza',
    name: 'Pizza',
    price: 90000,
    stock: 1,
    imageUrl: 'https://example.test/pizza.jpg',
    presentations: [{ name: 'Small', price: 90000 }, { name: 'Large', price: 140000 }],
    modifierGroups: [{ name: 'Extras', minSelect: 0, maxSelect: 2, options: [{ name: 'Cheese', priceDelta: 15000 }, { name: 'Olives' }] }],
  };
  const { name: _name, ...shopWithoutName } = shop;

  const cases: { what: string; method: string; path: string; url: string; body: unknown; status: number }[] = [
    { what: 'a whole shop', method: 'post', path: '/api/admin/shops', url: '/api/admin/shops', body: shop, status: 201 },
    { what: 'a shop without a name', method: 'post', path: '/api/admin/shops', url: '/api/admin/shops', body: { ...shopWithoutName, phoneNumberId: '100000000000078' }, status: 400 },
    { what: 'a shop with a field duka does not know', method: 'post', path: '/api/admin/shops', url: '/api/admin/shops', body: { ...shop, phoneNumberId: '100000000000079', colour: 'red' }, status: 400 },
    { what: 'a negative delivery fee', method: 'patch', path: '/api/admin/shops/{shopId}', url: '/api/admin/shops/nairobi', body: { deliveryFee: -1 }, status: 400 },
    { what: 'a preparation time', method: 'patch', path: '/api/admin/shops/{shopId}', url: '/api/admin/shops/nairobi', body: { preparationMinutes: 25 }, status: 200 },
    { what: 'a category', method: 'post', path: '/api/admin/shops/{shopId}/categories', url: '/api/admin/shops/nairobi/categories', body: { name: 'Solar', position: 3 }, status: 201 },
    { what: 'a product with sizes, add-ons, a photo and stock', method: 'post', path: '/api/admin/shops/{shopId}/products', url: '/api/admin/shops/nairobi/products', body: product, status: 201 },
    { what: 'a price with cents', method: 'post', path: '/api/admin/shops/{shopId}/products', url: '/api/admin/shops/nairobi/products', body: { ...product, retailerId: 'openapi-2', price: 12.5 }, status: 400 },
    { what: 'a price as text', method: 'post', path: '/api/admin/shops/{shopId}/products', url: '/api/admin/shops/nairobi/products', body: { ...product, retailerId: 'openapi-3', price: '900' }, status: 400 },
    { what: 'a size without a price', method: 'post', path: '/api/admin/shops/{shopId}/products', url: '/api/admin/shops/nairobi/products', body: { ...product, retailerId: 'openapi-4', presentations: [{ name: 'Small' }] }, status: 400 },
    { what: 'a promotion', method: 'post', path: '/api/admin/shops/{shopId}/promotions', url: '/api/admin/shops/nairobi/promotions', body: { title: 'Ten off', percentOff: 10, endsAt: '2099-01-01T00:00:00Z' }, status: 201 },
    { what: '150 percent off', method: 'post', path: '/api/admin/shops/{shopId}/promotions', url: '/api/admin/shops/nairobi/promotions', body: { title: 'Too much', percentOff: 150 }, status: 400 },
    { what: 'an end date that is no date', method: 'post', path: '/api/admin/shops/{shopId}/promotions', url: '/api/admin/shops/nairobi/promotions', body: { title: 'Soon', amountOff: 100, endsAt: 'next week' }, status: 400 },
    { what: 'a booking', method: 'post', path: '/api/admin/shops/{shopId}/bookings', url: '/api/admin/shops/harare/bookings', body: { reference: 'BK-OPENAPI-1', total: 15000 }, status: 201 },
    { what: 'a booking reference with spaces', method: 'post', path: '/api/admin/shops/{shopId}/bookings', url: '/api/admin/shops/harare/bookings', body: { reference: 'BK OPENAPI', total: 15000 }, status: 400 },
    { what: 'a status that does not exist', method: 'post', path: '/api/admin/orders/{orderNumber}/status', url: '/api/admin/orders/NBO-404404/status', body: { status: 'SHIPPED' }, status: 400 },
    // Valid: it reaches the order lookup, and there is no such order.
    { what: 'a status for an order that is not there', method: 'post', path: '/api/admin/orders/{orderNumber}/status', url: '/api/admin/orders/NBO-404404/status', body: { status: 'PREPARING' }, status: 404 },
    // Valid: it reaches the workflow side, which this process does not have.
    { what: 'an order from a shop system', method: 'post', path: '/api/orders', url: '/api/orders', body: { shopId: 'nairobi', customer: { phone: '+254712345678' }, items: [{ retailerId: 'coffee', quantity: 2 }] }, status: 503 },
    { what: 'an order with no items', method: 'post', path: '/api/orders', url: '/api/orders', body: { shopId: 'nairobi', customer: { phone: '+254712345678' }, items: [] }, status: 400 },
  ];

  it.each(cases)('$what: $method $url → $status', async ({ method, path, url, body, status }) => {
    const validate = bodySchema(method, path);
    expect({ valid: validate(body), errors: status === 400 ? null : validate.errors }).toEqual({ valid: status !== 400, errors: null });
    const res = await fetch(`${api.url}${url}`, { method: method.toUpperCase(), headers: { ...bearer(ADMIN_TOKEN), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(status);
  });
});
