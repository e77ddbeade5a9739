/**
 * `npm run fuzz`: hostile requests against every inbound route of duka's API, run as `npm run api` runs it (a child
 * process, SANDBOX on so the sandbox routes are there too), with PostgreSQL and Temporal. Forged, unsigned, replayed,
 * truncated, oversized, deeply nested, wrongly typed, unicode and control characters, injection-shaped values,
 * missing and wrong tokens, path tricks; and positive controls (genuine signed or authorised requests that must be
 * accepted, so the fuzzer is seen to reach real code). Prints accepted forgeries, 5xx, connection resets, workflows
 * started by forged input, failed controls and the API's RSS growth; exits 1 unless each is 0 and RSS stays bounded.
 *
 *   npm run fuzz -- [--count 10000] [--seed 1] [--database-url postgres://…] [--temporal-address host:port] [--keep]
 *
 * Without --database-url / --temporal-address it starts an embedded PostgreSQL and a Temporal dev server of its own.
 * Everything listens on 127.0.0.1 and is stopped at the end, on failure too.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { dukaDataConverter, failureText, parseCodecKeys } from '../lib/data-converter.ts';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../db/embedded.ts';
import { migrate, openOrm, type MikroORM } from '../db/orm.ts';
import { seedDemoShops } from '../db/seed.ts';
import { REPO_ROOT, startDevServer, type DevServer } from '../lib/temporal-binaries.ts';
import { SEARCH_ATTRIBUTES } from '../lib/search-attributes.ts';
import { signMetaPayload } from '../providers/whatsapp/signature.ts';
import { isolatedEnv, processSecrets } from '../test/helpers/process-env.ts';
import { freePort } from './proc.ts';
import { seededRandom, type Random } from './chaos/random.ts';
import { table } from './stats.ts';

const USAGE = 'usage: npm run fuzz -- [--count N (10000)] [--seed N] [--database-url URL] [--temporal-address HOST:PORT] [--rss-bound-mb N (192)] [--no-worker] [--keep]';

interface Settings {
  count: number;
  seed: number;
  databaseUrl: string | undefined;
  temporalAddress: string | undefined;
  rssBoundMb: number;
  /** Run duka's worker too, and count activities that keep failing on what the fuzzer sent. */
  worker: boolean;
  keep: boolean;
}

function readSettings(argv: string[]): Settings {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string' },
      seed: { type: 'string' },
      'database-url': { type: 'string' },
      'temporal-address': { type: 'string' },
      'rss-bound-mb': { type: 'string' },
      keep: { type: 'boolean' },
      worker: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    allowNegative: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, fallback: number) => {
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number\n${USAGE}`);
    return n;
  };
  return {
    count: int('count', values.count, 10_000),
    seed: int('seed', values.seed, Math.floor(Math.random() * 1_000_000)),
    databaseUrl: values['database-url'],
    temporalAddress: values['temporal-address'],
    rssBoundMb: int('rss-bound-mb', values['rss-bound-mb'], 192),
    worker: values.worker ?? true,
    keep: values.keep ?? false,
  };
}

// ---- what duka is given --------------------------------------------------------------------------------------------

const SECRETS = {
  ...processSecrets('fuzz'),
  RAZORPAY_WEBHOOK_SECRET: 'fuzz-razorpay-webhook-secret',
  PAYNOW_INTEGRATION_KEY: 'fuzz-paynow-key',
};
const SHOPS = [
  { id: 'nairobi', phoneNumberId: '100000000000001', retailerId: 'NBO-COFFEE-500', phone: '254712345678' },
  { id: 'harare', phoneNumberId: '100000000000002', retailerId: 'HRE-SOLAR-100', phone: '263771234567' },
  { id: 'pune', phoneNumberId: '100000000000003', retailerId: 'PNQ-CHAI-250', phone: '919812345678' },
];

// ---- requests ------------------------------------------------------------------------------------------------------

/** `forged`: must be refused (a 2xx/3xx is an accepted forgery); `hostile`: any answer but 5xx; `control`: must be 2xx. */
type Kind = 'forged' | 'hostile' | 'control';

interface Case {
  kind: Kind;
  family: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Source address on the loopback (admin guessing from one address must not lock out the controls' address). */
  from?: string;
}

/** The status of a request Node's own client refused to send. */
const NOT_SENT = -1;

interface Outcome {
  status: number | null;
  error?: string;
  ms: number;
  body: string;
}

const agents = new Map<string, http.Agent>();
function agentFor(from: string): http.Agent {
  let agent = agents.get(from);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: 4, localAddress: from });
    agents.set(from, agent);
  }
  return agent;
}

/** A pooled socket the server closed as idle just as it was reused is the client's race (Node's docs: retry once). */
async function send(port: number, c: Case): Promise<Outcome> {
  const first = await sendOnce(port, c);
  return first.error === 'ECONNRESET' && first.reusedSocket ? sendOnce(port, c) : first;
}

function sendOnce(port: number, c: Case): Promise<Outcome & { reusedSocket?: boolean }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const body = c.body === undefined ? undefined : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body, 'utf8');
    const headers: Record<string, string | number> = { ...c.headers };
    if (body) headers['content-length'] = body.length;
    let req: http.ClientRequest;
    try {
      req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, headers, agent: agentFor(c.from ?? '127.0.0.1'), timeout: 60_000 }, onResponse);
    } catch (err) {
      // Node's client will not send it (a character it refuses in the path or a header): nothing reached duka.
      resolve({ status: NOT_SENT, error: (err as Error).message, ms: 0, body: '' });
      return;
    }
    function onResponse(res: http.IncomingMessage) {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? null, ms: performance.now() - started, body: Buffer.concat(chunks).toString('utf8').slice(0, 4096) }));
      res.on('error', (err) => resolve({ status: res.statusCode ?? null, error: err.message, ms: performance.now() - started, body: '' }));
    }
    req.on('timeout', () => req.destroy(new Error('timed out after 60 s')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: null, error: err.code ?? err.message, ms: performance.now() - started, body: '', reusedSocket: req.reusedSocket }));
    req.end(body);
  });
}

// ---- hostile values ------------------------------------------------------------------------------------------------

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '%00',
  '\\u0000',
  "'; drop table orders; --",
  '" or 1=1 --',
  "' OR '1'='1",
  '$where: 1',
  '{"$gt": ""}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  '%s%s%s%n',
  '\r\nSet-Cookie: x=1',
  '\u202eevil',
  '\ud800',
  '🙂'.repeat(300),
  'ﷺ'.repeat(100),
  'A'.repeat(256),
  'B'.repeat(5_000),
  '\u0007\u0008\u001b[31m',
  '\t\n\r\v\f',
  '-1',
  '1e999',
  'NaN',
  'null',
  'true',
  '2026-13-45T99:99:99Z',
  '99999999999999999999',
  '__proto__',
  'constructor',
];

function nastyValue(r: Random): unknown {
  switch (r.int(0, 9)) {
    case 0:
      return r.pick([0, -1, -2147483649, 2147483648, Number.MAX_SAFE_INTEGER + 2, 1e308, -0, 0.5, 1e-9]);
    case 1:
      return r.pick([null, true, false]);
    case 2:
      return [];
    case 3:
      return {};
    case 4:
      return deepValue(r.int(20, 3000));
    case 5:
      return JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"polluted":1}}}') as unknown;
    case 6:
      return Array.from({ length: r.int(100, 2000) }, () => 'x');
    default:
      return r.pick(NASTY_STRINGS);
  }
}

/** Deep nesting is written as text by json(): JSON.stringify itself overflows the stack on it. */
const deepValue = (depth: number): string => `__DEEP_${depth}__`;
const deepText = (depth: number): string => `${'{"a":['.repeat(depth >> 1)}1${']}'.repeat(depth >> 1)}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A copy of `value` with one leaf (or one object) replaced, removed, or given a strange sibling. */
function mutate(value: Json, r: Random): Json {
  const copy = JSON.parse(JSON.stringify(value)) as Json;
  const paths: (string | number)[][] = [];
  const walk = (v: Json, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(copy, []);
  const path = r.pick(paths);
  if (path.length === 0) return r.chance(0.5) ? (nastyValue(r) as Json) : [copy];
  const parent = path.slice(0, -1).reduce<Json>((v, k) => (v as Record<string | number, Json>)[k]!, copy) as Record<string | number, Json>;
  const key = path[path.length - 1]!;
  const action = r.int(0, 9);
  if (action === 0 && !Array.isArray(parent)) delete parent[key];
  else if (action === 1 && !Array.isArray(parent)) parent[r.pick(NASTY_STRINGS) || 'k'] = nastyValue(r) as Json;
  else parent[key] = nastyValue(r) as Json;
  return copy;
}

/** JSON text, sometimes spoiled as text: truncated, doubled keys, trailing garbage, invalid UTF-8, a raw NUL. */
function spoil(text: string, r: Random): Buffer {
  switch (r.int(0, 12)) {
    case 0:
      return Buffer.from(text.slice(0, r.int(0, text.length)));
    case 1:
      return Buffer.from(`${text}${r.pick(['}', ']]', ',', 'garbage', '\u0000'])}`);
    case 2:
      return Buffer.concat([Buffer.from(text.slice(0, text.length >> 1)), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x00]), Buffer.from(text.slice(text.length >> 1))]);
    case 3:
      return Buffer.from(text.replace('{', '{"dup":1,"dup":2,'));
    case 4:
      return Buffer.from(`${'['.repeat(5000)}${text}${']'.repeat(5000)}`);
    default:
      return Buffer.from(text);
  }
}

const json = (value: unknown) => JSON.stringify(value).replace(/"__DEEP_(\d+)__"/g, (_, depth: string) => deepText(Number(depth)));
/** For a URL: a lone surrogate cannot be percent-encoded, so it goes as U+FFFD. */
function enc(value: unknown): string {
  const s = String(value);
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
  }
}
const jsonHeaders = { 'content-type': 'application/json' };

// ---- bodies of every route -----------------------------------------------------------------------------------------

let wamidSeq = 0;
function whatsappText(r: Random, shop = r.pick(SHOPS), from = shop.phone, text = 'hi'): Json {
  wamidSeq += 1;
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '1',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550000000', phone_number_id: shop.phoneNumberId },
              contacts: [{ profile: { name: 'Fuzz' }, wa_id: from }],
              messages: [{ from, id: `wamid.fuzz-${wamidSeq}-${r.int(0, 1e9)}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
            },
          },
        ],
      },
    ],
  };
}

function whatsappOther(r: Random): Json {
  const shop = r.pick(SHOPS);
  wamidSeq += 1;
  const id = `wamid.fuzz-${wamidSeq}`;
  const base = { from: shop.phone, id, timestamp: String(Math.floor(Date.now() / 1000)) };
  const message = r.pick<Json>([
    { ...base, type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'menu', title: 'Menu' } } },
    { ...base, type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'cat:x', title: 'X' } } },
    { ...base, type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow', response_json: deepText(r.pick([4, 5000])) } } },
    { ...base, type: 'order', order: { catalog_id: '1', product_items: [{ product_retailer_id: r.pick([shop.retailerId, 'X\u0000Y', 'Z'.repeat(300)]), quantity: r.pick([1, -1, 1e9, '2']), item_price: 100, currency: 'KES' }] } },
    { ...base, type: 'location', location: { latitude: r.pick([1, 1e308, 'x']), longitude: 2, name: 'n', address: 'a' } },
    { ...base, type: 'image', image: { caption: r.pick(NASTY_STRINGS) } },
    { ...base, type: 'button', button: { text: 'x', payload: 'y' } },
    { ...base, type: 'unknown_type' },
  ]);
  const status = { id: `wamid.out-${wamidSeq}`, status: r.pick(['sent', 'delivered', 'read', 'failed', 'x'.repeat(300)]), timestamp: r.pick(['1764000000', '99999999999999999999', 'yesterday']), recipient_id: shop.phone, errors: [{ code: r.pick([131047, 1e12, 'x']) }] };
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: shop.phoneNumberId }, messages: [message], statuses: [status] } }] }],
  };
}

function manyMessages(n: number): Json {
  const shop = SHOPS[0]!;
  const messages = Array.from({ length: n }, (_, i) => ({ from: `2547${String(10_000_000 + i).padStart(8, '0')}`, id: `wamid.batch-${Date.now()}-${i}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'hi' } }));
  return { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { phone_number_id: shop.phoneNumberId }, messages } }] }] };
}

const mpesaBody = (r: Random): Json => ({
  Body: { stkCallback: { MerchantRequestID: `m-${r.int(0, 1e6)}`, CheckoutRequestID: `ws_CO_${r.int(0, 1e9)}`, ResultCode: r.pick([0, 1032, 1]), ResultDesc: 'ok', CallbackMetadata: { Item: [{ Name: 'Amount', Value: 1500 }, { Name: 'MpesaReceiptNumber', Value: 'QK12AB' }, { Name: 'PhoneNumber', Value: 254712345678 }] } } },
});

const razorpayBody = (r: Random): Json => ({
  entity: 'event',
  event: r.pick(['payment_link.paid', 'payment.failed', 'payment.captured', 'payment_link.expired']),
  payload: {
    payment_link: { entity: { id: `plink_${r.int(0, 1e9)}`, reference_id: r.pick(['NBO-1001-1', 'PNQ-1001-1', `ref-${r.int(0, 1e6)}`]), amount: 18000, currency: 'INR', status: 'paid', notes: { reference: 'x' } } },
    payment: { entity: { id: `pay_${r.int(0, 1e9)}`, amount: 18000, currency: 'INR', status: 'captured', method: 'upi', notes: {} } },
  },
  created_at: Math.floor(Date.now() / 1000),
});

function paynowForm(r: Random): string {
  const fields: Record<string, string> = { reference: r.pick(['HRE-1001-1', `ref-${r.int(0, 1e6)}`]), paynowreference: String(r.int(0, 1e7)), amount: '10.00', status: r.pick(['Paid', 'Cancelled', 'Awaiting Delivery']), pollurl: 'https://www.paynow.co.zw/Interface/CheckPayment/?guid=x', hash: randomHex(r, 128) };
  if (r.chance(0.5)) fields[r.pick(['reference', 'status', 'amount', 'hash'])] = String(nastyValue(r));
  return Object.entries(fields)
    .map(([k, v]) => `${enc(k)}=${r.chance(0.1) ? v : enc(v)}`)
    .join('&');
}

function randomHex(r: Random, length: number): string {
  let s = '';
  while (s.length < length) s += Math.floor(r.next() * 16).toString(16);
  return s;
}

const orderBody = (r: Random, shop = r.pick(SHOPS)): Json => ({ shopId: shop.id, customer: { phone: shop.phone, name: 'Fuzz Customer' }, items: [{ retailerId: shop.retailerId, quantity: 1 }], fulfilment: { type: 'pickup' } });

const shopBody = (r: Random): Json => ({ name: `Fuzz ${r.int(0, 1e6)}`, phoneNumberId: `9${r.int(1e13, 9e13)}`, displayPhone: '254700000099', currency: 'KES', country: 'KE', timezone: 'Africa/Nairobi', languages: ['en'], paymentMethods: ['cash'] });
const productBody = (r: Random): Json => ({ retailerId: `FZ-${r.int(0, 1e6)}`, name: 'Fuzz product', price: 1000, stock: 5, presentations: [{ name: 'Big', price: 2000 }], modifierGroups: [{ name: 'Extras', minSelect: 0, maxSelect: 1, options: [{ name: 'Sugar', priceDelta: 0 }] }] });
const categoryBody = (r: Random): Json => ({ name: `Fuzz cat ${r.int(0, 1e6)}`, description: 'd', position: 1, active: true });
const promotionBody = (): Json => ({ title: 'Fuzz', percentOff: 10, startsAt: new Date().toISOString(), active: false });
const bookingBody = (r: Random): Json => ({ reference: `BK-${r.int(0, 1e6)}`, customerName: 'Fuzz', total: 1000 });

/** Admin routes with a body maker when they take one; `:shop` and `:id` are filled per request. */
const ADMIN_ROUTES: { method: string; path: string; body?: (r: Random) => Json }[] = [
  { method: 'GET', path: '/api/admin/orders' },
  { method: 'GET', path: '/api/admin/orders/:id' },
  { method: 'GET', path: '/api/admin/stats' },
  { method: 'GET', path: '/api/admin/audit' },
  { method: 'GET', path: '/api/admin/customers' },
  { method: 'POST', path: '/api/admin/orders/:id/status', body: () => ({ status: 'PREPARING' }) },
  { method: 'POST', path: '/api/admin/orders/:id/cancel', body: () => ({ reason: 'fuzz' }) },
  { method: 'POST', path: '/api/admin/orders/:id/refund', body: () => ({ reason: 'fuzz', amount: 100 }) },
  { method: 'POST', path: '/api/admin/orders/:id/mark-refunded', body: () => ({ note: 'fuzz' }) },
  { method: 'POST', path: '/api/admin/orders/:id/retry-payment', body: () => ({ method: 'mpesa' }) },
  { method: 'POST', path: '/api/admin/conversations/:shop/:id/handover', body: () => ({ minutes: 30 }) },
  { method: 'GET', path: '/api/admin/shops' },
  { method: 'POST', path: '/api/admin/shops', body: shopBody },
  { method: 'GET', path: '/api/admin/shops/:shop' },
  { method: 'PATCH', path: '/api/admin/shops/:shop', body: () => ({ deliveryFee: 500 }) },
  { method: 'GET', path: '/api/admin/shops/:shop/tokens' },
  { method: 'POST', path: '/api/admin/shops/:shop/tokens', body: () => ({}) },
  { method: 'DELETE', path: '/api/admin/shops/:shop/tokens/:id' },
  { method: 'GET', path: '/api/admin/shops/:shop/categories' },
  { method: 'POST', path: '/api/admin/shops/:shop/categories', body: categoryBody },
  { method: 'PATCH', path: '/api/admin/shops/:shop/categories/:id', body: categoryBody },
  { method: 'DELETE', path: '/api/admin/shops/:shop/categories/:id' },
  { method: 'GET', path: '/api/admin/shops/:shop/products' },
  { method: 'POST', path: '/api/admin/shops/:shop/products', body: productBody },
  { method: 'GET', path: '/api/admin/shops/:shop/products/:id' },
  { method: 'PATCH', path: '/api/admin/shops/:shop/products/:id', body: productBody },
  { method: 'DELETE', path: '/api/admin/shops/:shop/products/:id' },
  { method: 'GET', path: '/api/admin/shops/:shop/bookings' },
  { method: 'POST', path: '/api/admin/shops/:shop/bookings', body: bookingBody },
  { method: 'GET', path: '/api/admin/shops/:shop/bookings/:id' },
  { method: 'PATCH', path: '/api/admin/shops/:shop/bookings/:id', body: () => ({ paid: 100 }) },
  { method: 'GET', path: '/api/admin/shops/:shop/promotions' },
  { method: 'POST', path: '/api/admin/shops/:shop/promotions', body: promotionBody },
  { method: 'PATCH', path: '/api/admin/shops/:shop/promotions/:id', body: promotionBody },
  { method: 'DELETE', path: '/api/admin/shops/:shop/promotions/:id' },
  { method: 'GET', path: '/api/admin/shops/:shop/catalog/sync' },
  { method: 'GET', path: '/api/admin/shops/:shop/requests' },
  { method: 'POST', path: '/api/orders', body: orderBody },
];

const PUBLIC_GETS = ['/health', '/ready', '/metrics', '/api/openapi.json', '/admin', '/admin/', '/paid/:id', '/webhooks/whatsapp', '/sandbox', '/sandbox/api/shops', '/sandbox/api/chat', '/sandbox/api/conversation', '/sandbox/images/:id', '/sandbox/api/simulators'];
const PATH_TRICKS = [
  '/api/admin/../admin/orders',
  '//api/admin/orders',
  '/api/admin/%2e%2e/admin/orders',
  '/api/ADMIN/orders',
  '/api/admin/orders%2f..%2f..',
  '/webhooks/mpesa/../../api/admin/orders',
  '/webhooks/whatsapp/',
  '/webhooks//whatsapp',
  '/WEBHOOKS/WHATSAPP',
  '/webhooks/whatsapp;jsessionid=1',
  '/webhooks/whatsapp%00',
  '/sandbox/images/..%2f..%2f..%2fpackage.json',
  '/sandbox/images/%2e%2e%2f%2e%2e%2fREADME.md',
  '/admin/../../etc/passwd',
  '/admin/%2e%2e/%2e%2e/etc/passwd',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/paid/%E0%A4%A',
  '/paid/%ff%fe',
  `/paid/${'a'.repeat(8000)}`,
  '/api/admin/orders?limit=-1',
  '/api/admin/orders?limit=99999999999',
  '/api/admin/orders?cursor=%7B%7D',
  '/api/admin/orders?status[]=PAID&status[$ne]=x',
  '/api/admin/orders?shop=nairobi&shop=harare',
  '/api/admin/audit?before=yesterday',
  '/api/admin/audit?before=2026-13-45T99:00:00Z',
  '/api/admin/customers?shop=%27%3Bdrop',
  '/metrics?name[]=x',
  '/codec/decode',
  '/sandbox/api/events?phoneNumberId=%00',
  '/*',
  '/?',
  '/#',
];

function fill(path: string, r: Random): string {
  return path
    .replace(':shop', () => (r.chance(0.7) ? r.pick(SHOPS).id : enc((r.pick(NASTY_STRINGS)) || 'x')))
    .replace(':id', () => (r.chance(0.4) ? r.pick(['NBO-1001', 'nairobi-coffee', 'nairobi-pantry', '00000000-0000-4000-8000-000000000000']) : enc((r.pick(NASTY_STRINGS)) || 'x').slice(0, 2000)));
}

interface Context {
  r: Random;
  shopToken: string | undefined;
  /** Signed WhatsApp bodies already sent, for replays. */
  sent: { body: Buffer; signature: string }[];
  razorpaySent: { body: Buffer; signature: string }[];
}

const metaSign = (body: Buffer | string) => signMetaPayload(body, SECRETS.WHATSAPP_APP_SECRET);
const rzpSign = (body: Buffer | string, secret = SECRETS.RAZORPAY_WEBHOOK_SECRET) => createHmac('sha256', secret).update(body).digest('hex');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** One forged request: nothing about it is genuine, so it must be refused. */
function forged(ctx: Context): Case {
  const { r } = ctx;
  const family = r.pick(['whatsapp', 'whatsapp-verify', 'flows', 'mpesa', 'paynow', 'razorpay', 'admin', 'admin-shop-token', 'ghala']);
  switch (family) {
    case 'whatsapp': {
      const original = ctx.sent.length && r.chance(0.3) ? r.pick(ctx.sent) : { body: Buffer.from(json(whatsappText(r))), signature: '' };
      const tampered = r.chance(0.5) ? Buffer.from(json(mutate(JSON.parse(original.body.toString()) as Json, r))) : spoil(original.body.toString(), r);
      const signature = r.pick([
        original.signature || metaSign(original.body),
        '',
        'sha256=',
        `sha256=${randomHex(r, 64)}`,
        `sha1=${randomHex(r, 40)}`,
        signMetaPayload(tampered, 'wrong-secret'),
        `sha256=${metaSign(tampered).slice(7).toUpperCase()}x`,
        String(r.pick(NASTY_STRINGS)).replace(/[^\t\x20-\x7e]/g, ''),
      ]);
      // A tampered body under the original's signature (a replay with changes) or no signature at all.
      const body = tampered.equals(original.body) ? Buffer.concat([tampered, Buffer.from(' ')]) : tampered;
      return { kind: 'forged', family, method: 'POST', path: '/webhooks/whatsapp', headers: { ...jsonHeaders, ...(signature ? { 'x-hub-signature-256': signature } : {}) }, body };
    }
    case 'whatsapp-verify': {
      const q = new URLSearchParams({ 'hub.mode': r.pick(['subscribe', 'unsubscribe', '']), 'hub.verify_token': r.pick(['wrong', '', `${SECRETS.WHATSAPP_VERIFY_TOKEN}x`, SECRETS.WHATSAPP_VERIFY_TOKEN.slice(0, -1)]), 'hub.challenge': String(r.pick(NASTY_STRINGS)) });
      return { kind: 'forged', family, method: 'GET', path: `/webhooks/whatsapp?${q.toString()}` };
    }
    case 'flows': {
      const body = json(mutate({ encrypted_flow_data: randomBytes(64).toString('base64'), encrypted_aes_key: randomBytes(256).toString('base64'), initial_vector: randomBytes(16).toString('base64') }, r));
      return { kind: 'forged', family, method: 'POST', path: '/flows/whatsapp', headers: { ...jsonHeaders, ...(r.chance(0.5) ? { 'x-hub-signature-256': `sha256=${randomHex(r, 64)}` } : {}) }, body };
    }
    case 'mpesa': {
      const token = r.pick([randomHex(r, 64), '', 'x', String(r.pick(NASTY_STRINGS)), '..', '%2e%2e']);
      const path = token === '' ? '/webhooks/mpesa' : `/webhooks/mpesa/${enc(token).slice(0, 2000)}`;
      const body = r.chance(0.3) ? spoil(json(mpesaBody(r)), r) : json(mutate(mpesaBody(r), r));
      return { kind: 'forged', family, method: 'POST', path, headers: jsonHeaders, body };
    }
    case 'paynow':
      return { kind: 'forged', family, method: 'POST', path: '/webhooks/paynow', headers: { 'content-type': r.pick(['application/x-www-form-urlencoded', 'text/plain', 'application/json']) }, body: paynowForm(r) };
    case 'razorpay': {
      const body = r.chance(0.3) && ctx.razorpaySent.length ? Buffer.from(json(mutate(JSON.parse(r.pick(ctx.razorpaySent).body.toString()) as Json, r))) : Buffer.from(json(mutate(razorpayBody(r), r)));
      const signature = r.pick([undefined, '', randomHex(r, 64), rzpSign(body, 'wrong-secret'), ctx.razorpaySent.length ? r.pick(ctx.razorpaySent).signature : 'x']);
      return { kind: 'forged', family, method: 'POST', path: '/webhooks/razorpay', headers: { ...jsonHeaders, ...(signature !== undefined ? { 'x-razorpay-signature': signature } : {}), 'x-razorpay-event-id': `evt_${r.int(0, 1e9)}` }, body };
    }
    case 'ghala': {
      const body = json(mutate({ event: 'payment.succeeded', data: { reference: 'NBO-1001-1', amount: 1500 } }, r));
      return { kind: 'forged', family, method: 'POST', path: '/webhooks/ghala', headers: { ...jsonHeaders, 'x-ghala-signature': randomHex(r, 64), 'x-ghala-timestamp': String(Date.now()) }, body };
    }
    case 'admin-shop-token': {
      // A shop's own token acting on another shop, or creating a shop: 403.
      const other = r.pick(SHOPS.filter((s) => s.id !== 'nairobi'));
      const route = r.pick([
        { method: 'GET', path: `/api/admin/shops/${other.id}/products` },
        { method: 'POST', path: `/api/admin/shops/${other.id}/categories`, body: json(categoryBody(r)) },
        { method: 'PATCH', path: `/api/admin/shops/${other.id}`, body: json({ active: false }) },
        { method: 'POST', path: '/api/admin/shops', body: json(shopBody(r)) },
        { method: 'POST', path: '/api/orders', body: json(orderBody(r, other)) },
      ]);
      return { kind: 'forged', family, ...route, headers: { ...jsonHeaders, ...bearer(ctx.shopToken ?? 'none') } };
    }
    default: {
      const route = r.pick(ADMIN_ROUTES);
      const auth = r.pick<Record<string, string>>([
        {},
        { authorization: '' },
        { authorization: 'Bearer' },
        { authorization: `Basic ${Buffer.from(`admin:${SECRETS.ADMIN_TOKEN}`).toString('base64')}` },
        bearer(`${SECRETS.ADMIN_TOKEN}x`),
        bearer(SECRETS.ADMIN_TOKEN.slice(0, -1)),
        bearer(SECRETS.ADMIN_TOKEN.toUpperCase()),
        bearer(randomHex(r, 40)),
        { authorization: `Bearer ${SECRETS.ADMIN_TOKEN} extra` },
        { authorization: `Token ${SECRETS.ADMIN_TOKEN}` },
        { cookie: `token=${SECRETS.ADMIN_TOKEN}` },
        bearer(String(r.pick(NASTY_STRINGS)).replace(/[^\x21-\x7e]/g, '') || 'x'),
      ]);
      // Guesses come from other loopback addresses: they are rate limited there, not at the controls' address.
      return { kind: 'forged', family, method: route.method, path: fill(route.path, r), headers: { ...jsonHeaders, ...auth }, ...(route.body ? { body: json(route.body(r)) } : {}), from: `127.0.0.${r.int(2, 9)}` };
    }
  }
}

/**
 * One genuine-but-hostile request (signed by the right secret, or with the admin token): anything but a 5xx. Those
 * that may fail authentication come from other loopback addresses than the controls, as an attacker's would: failed
 * authentications are limited per client address.
 */
function hostile(ctx: Context): Case {
  const c = hostileCase(ctx);
  const authorised = c.headers?.authorization === `Bearer ${SECRETS.ADMIN_TOKEN}` && (c.family === 'admin' || c.family === 'headers');
  return authorised ? c : { ...c, from: `127.0.0.${ctx.r.int(10, 19)}` };
}

function hostileCase(ctx: Context): Case {
  const { r } = ctx;
  const family = r.pick(['whatsapp-signed', 'whatsapp-signed', 'whatsapp-replay', 'razorpay-signed', 'flows-signed', 'admin', 'admin', 'admin', 'public', 'path', 'codec', 'sandbox', 'method', 'headers', 'oversized']);
  switch (family) {
    case 'flows-signed': {
      // Signed with the app secret as Meta signs, but not encrypted to duka's key (or not even the right shape).
      const base: Json = { encrypted_flow_data: randomBytes(r.int(0, 200)).toString('base64'), encrypted_aes_key: randomBytes(256).toString('base64'), initial_vector: randomBytes(16).toString('base64') };
      const body = r.chance(0.7) ? Buffer.from(json(mutate(base, r))) : spoil(json(base), r);
      return { kind: 'hostile', family, method: 'POST', path: '/flows/whatsapp', headers: { ...jsonHeaders, 'x-hub-signature-256': metaSign(body) }, body };
    }
    case 'whatsapp-signed': {
      const base = r.chance(0.5) ? whatsappText(r, r.pick(SHOPS), r.pick(SHOPS).phone, String(r.pick(NASTY_STRINGS))) : whatsappOther(r);
      const body = r.chance(0.7) ? Buffer.from(json(r.chance(0.5) ? mutate(base, r) : base)) : spoil(json(base), r);
      return { kind: 'hostile', family, method: 'POST', path: '/webhooks/whatsapp', headers: { ...jsonHeaders, 'x-hub-signature-256': metaSign(body) }, body };
    }
    case 'whatsapp-replay': {
      // Meta redelivers: a genuine body again is a duplicate (200), never a second effect.
      const again = ctx.sent.length ? r.pick(ctx.sent) : { body: Buffer.from(json(whatsappText(r))), signature: '' };
      return { kind: 'hostile', family, method: 'POST', path: '/webhooks/whatsapp', headers: { ...jsonHeaders, 'x-hub-signature-256': again.signature || metaSign(again.body) }, body: again.body };
    }
    case 'razorpay-signed': {
      const body = r.chance(0.7) ? Buffer.from(json(mutate(razorpayBody(r), r))) : spoil(json(razorpayBody(r)), r);
      return { kind: 'hostile', family, method: 'POST', path: '/webhooks/razorpay', headers: { ...jsonHeaders, 'x-razorpay-signature': rzpSign(body), 'x-razorpay-event-id': String(r.pick(NASTY_STRINGS)).replace(/[^\x21-\x7e]/g, '') || 'e' }, body };
    }
    case 'admin': {
      const route = r.pick(ADMIN_ROUTES);
      const body = route.body ? (r.chance(0.8) ? Buffer.from(json(mutate(route.body(r), r))) : spoil(json(route.body(r)), r)) : undefined;
      const query = r.chance(0.3) ? `?${r.pick(['status', 'shop', 'limit', 'cursor', 'before', 'entity', 'attention'])}=${enc((r.pick(NASTY_STRINGS)))}` : '';
      const headers: Record<string, string> = { ...bearer(SECRETS.ADMIN_TOKEN), 'content-type': r.pick(['application/json', 'application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded']), 'idempotency-key': String(r.pick(NASTY_STRINGS)).replace(/[^\x21-\x7e]/g, '') || 'k' };
      return { kind: 'hostile', family, method: route.method, path: `${fill(route.path, r)}${query}`, headers, ...(body ? { body } : {}) };
    }
    case 'public':
      return { kind: 'hostile', family, method: 'GET', path: `${fill(r.pick(PUBLIC_GETS), r)}${r.chance(0.5) ? `?q=${enc((r.pick(NASTY_STRINGS)))}&hub.mode=subscribe` : ''}` };
    case 'path':
      return { kind: 'hostile', family, method: r.pick(['GET', 'POST']), path: r.pick(PATH_TRICKS), headers: r.chance(0.5) ? bearer(SECRETS.ADMIN_TOKEN) : {} };
    case 'codec': {
      const payloads = r.pick<Json>([{ payloads: [{ metadata: { encoding: Buffer.from('binary/encrypted').toString('base64') }, data: randomBytes(40).toString('base64') }] }, { payloads: 'x' }, { payloads: [{ metadata: { 'encryption-key-id': 'AAAA' }, data: '!!!' }] }]);
      return { kind: 'hostile', family, method: 'POST', path: r.pick(['/codec/decode', '/codec/encode']), headers: { ...jsonHeaders, origin: r.pick(['http://evil.example', 'null', 'http://localhost:8233']), 'x-namespace': 'default' }, body: json(mutate(payloads, r)) };
    }
    case 'sandbox': {
      const shop = r.pick(SHOPS);
      const route = r.pick([
        { method: 'POST', path: '/sandbox/api/send', body: json(mutate({ phoneNumberId: shop.phoneNumberId, from: shop.phone, name: 'Fuzz', message: { type: 'text', text: 'hi' } }, r)) },
        { method: 'GET', path: `/sandbox/api/chat?phoneNumberId=${enc((r.pick(NASTY_STRINGS)))}&from=${shop.phone}` },
        { method: 'DELETE', path: `/sandbox/api/chat?phoneNumberId=${shop.phoneNumberId}&from=${enc((r.pick(NASTY_STRINGS)))}` },
        { method: 'POST', path: `/sandbox/api/simulators/${r.pick(['mpesa', 'paynow', 'razorpay', 'omari', 'x'])}/behaviour`, body: json(mutate({ outcome: 'success' }, r)) },
        { method: 'POST', path: `/sandbox/api/simulators/mpesa/${enc((r.pick(NASTY_STRINGS))) || 'x'}/approve`, body: '{}' },
        { method: 'POST', path: `/sandbox/graph/v21.0/${shop.phoneNumberId}/messages`, body: json(mutate({ messaging_product: 'whatsapp', to: shop.phone, type: 'text', text: { body: 'x' } }, r)) },
        { method: 'POST', path: '/sandbox/mpesa/stkpush/v1/processrequest', body: json(mutate({ BusinessShortCode: '174379', Amount: 1 }, r)) },
        { method: 'POST', path: '/sandbox/interface/remotetransaction', body: paynowForm(r) },
        { method: 'POST', path: '/sandbox/v1/payment_links', body: json(mutate({ amount: 100, currency: 'INR' }, r)) },
        { method: 'POST', path: '/sandbox/request', body: json(mutate({ msisdn: '263771234567', amount: 1 }, r)) },
      ]);
      return { kind: 'hostile', family, method: route.method, path: route.path, headers: jsonHeaders, ...(route.body ? { body: route.body } : {}) };
    }
    case 'method':
      return { kind: 'hostile', family, method: r.pick(['PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD', 'TRACE', 'PROPFIND']), path: r.pick(['/webhooks/whatsapp', '/webhooks/mpesa/x', '/api/admin/orders', '/api/orders', '/paid/x', '/metrics', '/codec/decode', '/flows/whatsapp']) };
    case 'headers': {
      const headers: Record<string, string> = r.pick<Record<string, string>>([
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        { 'content-type': 'application/json', 'content-encoding': 'br, zstd, x-unknown' },
        { 'content-type': 'application/json; charset=klingon' },
        { 'x-request-id': String(r.pick(NASTY_STRINGS)).replace(/[^\t\x20-\x7e]/g, '') },
        { 'x-forwarded-for': '1.2.3.4, 127.0.0.1', forwarded: 'for=1.2.3.4' },
        { 'x-huge': 'h'.repeat(r.pick([1_000, 12_000, 20_000])) },
        { traceparent: '00-zzzz-yyyy-01', tracestate: 'x'.repeat(600) },
      ]);
      return { kind: 'hostile', family, method: 'POST', path: r.pick(['/webhooks/whatsapp', '/api/admin/shops/nairobi/categories', '/webhooks/razorpay', '/codec/decode']), headers: { ...bearer(SECRETS.ADMIN_TOKEN), ...headers }, body: json(categoryBody(r)) };
    }
    default: {
      const size = r.pick([1_100_000, 2_000_000]);
      return { kind: 'hostile', family, method: 'POST', path: r.pick(['/webhooks/whatsapp', '/webhooks/razorpay', '/webhooks/mpesa/x', '/api/admin/shops', '/codec/decode', '/sandbox/api/send', '/flows/whatsapp']), headers: { ...jsonHeaders, ...bearer(SECRETS.ADMIN_TOKEN) }, body: `{"a":"${'x'.repeat(size)}"}` };
    }
  }
}

/** Genuine requests that must be accepted: they show the fuzzer reaches the real code behind each door. */
function control(ctx: Context, i: number): Case {
  const { r } = ctx;
  switch (i % 7) {
    case 0: {
      const shop = r.pick(SHOPS);
      const body = Buffer.from(json(whatsappText(r, shop, shop.phone, 'hi')));
      const signature = metaSign(body);
      ctx.sent.push({ body, signature });
      return { kind: 'control', family: 'whatsapp', method: 'POST', path: '/webhooks/whatsapp', headers: { ...jsonHeaders, 'x-hub-signature-256': signature }, body };
    }
    case 1:
      return { kind: 'control', family: 'whatsapp-verify', method: 'GET', path: `/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${SECRETS.WHATSAPP_VERIFY_TOKEN}&hub.challenge=${r.int(1, 1e9)}` };
    case 2:
      return { kind: 'control', family: 'admin', method: 'GET', path: `/api/admin/orders?shop=${r.pick(SHOPS).id}`, headers: bearer(SECRETS.ADMIN_TOKEN) };
    case 3: {
      // A genuine event on the merchant account about no duka payment: verified, stored, 200.
      const body = Buffer.from(json({ entity: 'event', event: 'payment.captured', payload: { payment: { entity: { id: `pay_${r.int(0, 1e9)}`, amount: 100, currency: 'INR', status: 'captured', notes: {} } } }, created_at: Math.floor(Date.now() / 1000) }));
      const signature = rzpSign(body);
      ctx.razorpaySent.push({ body, signature });
      return { kind: 'control', family: 'razorpay', method: 'POST', path: '/webhooks/razorpay', headers: { ...jsonHeaders, 'x-razorpay-signature': signature, 'x-razorpay-event-id': `evt_ctl_${i}` }, body };
    }
    case 4:
      return { kind: 'control', family: 'shop-token', method: 'GET', path: '/api/admin/shops/nairobi/products', headers: bearer(ctx.shopToken ?? 'none') };
    case 5:
      return { kind: 'control', family: 'public', method: 'GET', path: r.pick(['/health', '/metrics', '/api/openapi.json', '/sandbox/api/shops']) };
    default:
      return { kind: 'control', family: 'admin-write', method: 'POST', path: '/api/admin/shops/nairobi/categories', headers: { ...jsonHeaders, ...bearer(SECRETS.ADMIN_TOKEN) }, body: json(categoryBody(r)) };
  }
}

// ---- the run -------------------------------------------------------------------------------------------------------

interface Tally {
  sent: number;
  byKind: Record<Kind, number>;
  acceptedForgeries: { c: Case; o: Outcome }[];
  serverErrors: { c: Case; o: Outcome }[];
  resets: { c: Case; o: Outcome }[];
  failedControls: { c: Case; o: Outcome }[];
  statuses: Map<string, number>;
  notSent: number;
}

function record(t: Tally, c: Case, o: Outcome): void {
  if (o.status === NOT_SENT) {
    t.notSent += 1;
    return;
  }
  t.sent += 1;
  t.byKind[c.kind] += 1;
  const key = `${c.kind} ${o.status ?? o.error}`;
  t.statuses.set(key, (t.statuses.get(key) ?? 0) + 1);
  if (o.status === null) t.resets.push({ c, o });
  else if (o.status >= 500) t.serverErrors.push({ c, o });
  else if (c.kind === 'forged' && o.status < 400) t.acceptedForgeries.push({ c, o });
  else if (c.kind === 'control' && (o.status < 200 || o.status >= 300)) t.failedControls.push({ c, o });
}

async function runCases(port: number, cases: () => Case | undefined, t: Tally, concurrency: number): Promise<void> {
  const lane = async () => {
    for (let c = cases(); c; c = cases()) record(t, c, await send(port, c));
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

async function rssOf(port: number): Promise<number> {
  const o = await send(port, { kind: 'control', family: 'rss', method: 'GET', path: '/metrics' });
  const line = /^duka_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(o.body) ?? /^process_resident_memory_bytes (\S+)$/m.exec(o.body);
  if (line) return Number(line[1]);
  throw new Error(`no resident memory in /metrics (status ${o.status})`);
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitReady(port: number, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the API exited (${child.exitCode}) before it was ready:\n${tailOf(logFile)}`);
    const o = await send(port, { kind: 'control', family: 'ready', method: 'GET', path: '/ready' });
    if (o.status === 200) return;
    if (Date.now() > deadline) throw new Error(`the API was not ready within ${timeoutMs / 1000} s (last: ${o.status ?? o.error})`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The worker is up once the SDK's own series appear on its metrics endpoint (after the workflow bundle is built). */
async function waitPolling(metricsPort: number, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}) before it polled:\n${tailOf(logFile)}`);
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text(), () => '');
    if (text.includes('temporal_worker_task_slots_available')) return;
    if (Date.now() > deadline) throw new Error(`the worker did not poll within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Running workflows of the run whose pending activity is on its 5th attempt or later: type, attempt, last failure. */
async function retryingActivities(client: Client, taskQueue: string): Promise<string[]> {
  const found: string[] = [];
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query: `TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"` })) ids.push(w.workflowId);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < ids.length; i = next++) {
      const d = await client.workflow.getHandle(ids[i]!).describe().catch(() => undefined);
      for (const a of d?.raw.pendingActivities ?? []) {
        if ((a.attempt ?? 0) >= 5) found.push(`${ids[i]} ${a.activityType?.name ?? '?'} attempt ${a.attempt}: ${(await failureText(a.lastFailure, client.options.loadedDataConverter.payloadCodecs[0])).slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  return found;
}

async function workflowCount(client: Client, taskQueue: string): Promise<number> {
  return (await client.workflow.count(`TaskQueue = "${taskQueue}"`)).count;
}

export interface FuzzResult {
  seed: number;
  sent: number;
  byKind: Record<Kind, number>;
  acceptedForgeries: number;
  serverErrors: number;
  connectionResets: number;
  /** The API process ended by itself during the run (a crash). */
  apiExits: number;
  workflowsStartedByForgedInput: number;
  controlsAccepted: number;
  controlsFailed: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssGrowthMb: number;
  rssBounded: boolean;
  batchOf1000Ms: number;
  /** Messages of that webhook still not handed off to Temporal after 3 minutes (deferred ones go by the re-driver). */
  batchNotHandedOff: number;
  batchHandedOffMs: number;
  /** Activities of the run's workflows on their 5th attempt or later: input that can never succeed must not retry forever. */
  activitiesRetrying: number;
  passed: boolean;
}

async function main(settings: Settings): Promise<FuzzResult> {
  const r = seededRandom(settings.seed);
  const dir = mkdtempSync(join(tmpdir(), 'duka-fuzz-'));
  chmodSync(dir, 0o755); // embedded PostgreSQL runs as the postgres user when we are root
  let pg: EmbeddedDatabase | undefined;
  let temporalServer: DevServer | undefined;
  let orm: MikroORM | undefined;
  let adminOrm: MikroORM | undefined;
  let api: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  let connection: Connection | undefined;
  let databaseName: string | undefined;
  const log = (line: string) => console.log(line);
  try {
    const started = performance.now();
    // The sandbox chat and the dashboard are served as `npm start` serves them: built (a no-op when up to date).
    execFileSync(process.execPath, ['scripts/build-sandbox.mjs'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    let databaseUrl: string;
    if (settings.databaseUrl) {
      databaseName = `duka_fuzz_${randomBytes(4).toString('hex')}`;
      adminOrm = await openOrm(settings.databaseUrl, { poolMax: 1 });
      await adminOrm.em.getConnection().execute(`create database ${databaseName}`);
      const u = new URL(settings.databaseUrl);
      u.pathname = `/${databaseName}`;
      databaseUrl = u.toString();
    } else {
      pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), database: 'duka' });
      databaseUrl = pg.url;
    }
    orm = await openOrm(databaseUrl, { poolMax: 2 });
    await migrate(orm);
    await seedDemoShops(orm.em.fork());

    const temporalAddress =
      settings.temporalAddress ??
      (temporalServer = await startDevServer({ port: await freePort(), uiPort: await freePort(), namespace: 'default', searchAttributes: SEARCH_ATTRIBUTES, startTimeoutMs: 60_000 })).address;
    const taskQueue = `fuzz-${randomBytes(4).toString('hex')}`;
    const port = await freePort();
    const logFile = join(dir, 'api.log');
    const out = openSync(logFile, 'a');
    const apiEnv = isolatedEnv({
        ...SECRETS,
        SANDBOX: 'on',
        NODE_ENV: 'production',
        TEMPORAL_LOG_LEVEL: 'ERROR',
        PORT: String(port),
        PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        DATABASE_URL: databaseUrl,
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_NAMESPACE: 'default',
        TEMPORAL_TASK_QUEUE: taskQueue,
        DUKA_DATA_DIR: dir,
        DUKA_PROCESS: 'fuzz-api',
    });
    api = spawn(process.execPath, ['bin/api.ts'], { cwd: REPO_ROOT, stdio: ['ignore', out, out], env: apiEnv });
    closeSync(out);
    await waitReady(port, api, logFile, 90_000);
    if (settings.worker) {
      const metricsPort = await freePort();
      const workerOut = openSync(join(dir, 'worker.log'), 'a');
      worker = spawn(process.execPath, ['bin/worker.ts'], { cwd: REPO_ROOT, stdio: ['ignore', workerOut, workerOut], env: { ...apiEnv, WORKER_METRICS_PORT: String(metricsPort), DUKA_PROCESS: 'fuzz-worker' } });
      closeSync(workerOut);
      await waitPolling(metricsPort, worker, join(dir, 'worker.log'), 180_000);
    }
    connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection, namespace: 'default', dataConverter: dukaDataConverter(parseCodecKeys(SECRETS.PAYLOAD_CODEC_KEY)) });

    // A shop token for nairobi, to show a shop's token stays inside its shop.
    const issued = await send(port, { kind: 'control', family: 'setup', method: 'POST', path: '/api/admin/shops/nairobi/tokens', headers: { ...jsonHeaders, ...bearer(SECRETS.ADMIN_TOKEN) }, body: '{}' });
    const shopToken = (JSON.parse(issued.body || '{}') as { token?: string }).token;
    log(`duka fuzz: ${settings.count} requests, seed ${settings.seed}; API ${port} (SANDBOX on), Temporal ${temporalAddress}, set-up ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const ctx: Context = { r, shopToken, sent: [], razorpaySent: [] };
    const tally: Tally = { sent: 0, byKind: { forged: 0, hostile: 0, control: 0 }, acceptedForgeries: [], serverErrors: [], resets: [], failedControls: [], statuses: new Map(), notSent: 0 };
    const controlsEvery = 20;
    let i = 0;

    // Warm-up (controls only), then the baseline memory.
    let warm = 0;
    await runCases(port, () => (warm < 60 ? control(ctx, warm++) : undefined), tally, 4);
    const rssBefore = await rssOf(port);

    // Phase 1: forged requests only (and controls), so every workflow that appears was started by forged input.
    const forgedCount = Math.floor(settings.count / 2);
    const workflowsBefore = await workflowCount(client, taskQueue);
    i = 0;
    await runCases(
      port,
      () => {
        if (i >= forgedCount) return undefined;
        i += 1;
        return forged(ctx);
      },
      tally,
      8,
    );
    // Signals and starts are synchronous with the answer; a moment for anything that would follow them.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const workflowsAfterForged = await workflowCount(client, taskQueue);

    // Phase 2: genuine-but-hostile requests with positive controls among them.
    i = 0;
    let controls = 0;
    const hostileCount = settings.count - forgedCount;
    await runCases(
      port,
      () => {
        if (i >= hostileCount) return undefined;
        i += 1;
        return i % controlsEvery === 0 ? control(ctx, controls++) : hostile(ctx);
      },
      tally,
      8,
    );

    // A signed webhook carrying 1,000 messages is answered in time (Meta's timeout is about 20 s).
    const batch = Buffer.from(json(manyMessages(1000)));
    const batchOutcome = await send(port, { kind: 'hostile', family: 'batch', method: 'POST', path: '/webhooks/whatsapp', headers: { ...jsonHeaders, 'x-hub-signature-256': metaSign(batch) }, body: batch });
    record(tally, { kind: 'hostile', family: 'batch-1000', method: 'POST', path: '/webhooks/whatsapp' }, batchOutcome);
    // What the webhook did not hand off in time was stored for the re-driver: every message must reach Temporal.
    const batchStarted = Date.now();
    const notHandedOff = async () =>
      Number((await orm!.em.getConnection().execute<{ n: string }[]>("select count(*) as n from message where wa_message_id like 'wamid.batch-%' and handed_off_at is null"))[0]!.n);
    let batchPending = await notHandedOff();
    while (batchPending > 0 && Date.now() - batchStarted < 180_000) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      batchPending = await notHandedOff();
    }
    const batchHandedOffMs = batchOutcome.ms + (Date.now() - batchStarted);

    // Controls once more at the end: the API still answers genuine requests after the storm.
    let tail = 0;
    await runCases(port, () => (tail < 14 ? control(ctx, tail++) : undefined), tally, 4);
    const rssAfter = await rssOf(port);
    // A step that fails on every try reaches its 5th attempt within about 15 s of backoff.
    if (settings.worker) await new Promise((resolve) => setTimeout(resolve, 20_000));
    const retrying = settings.worker ? await retryingActivities(client, taskQueue) : [];

    const workflowsStartedByForgedInput = workflowsAfterForged - workflowsBefore;
    const controlsTotal = tally.byKind.control;
    const rssGrowthMb = (rssAfter - rssBefore) / 1024 / 1024;
    const result: FuzzResult = {
      seed: settings.seed,
      sent: tally.sent,
      byKind: tally.byKind,
      acceptedForgeries: tally.acceptedForgeries.length,
      serverErrors: tally.serverErrors.length,
      connectionResets: tally.resets.length,
      apiExits: api.exitCode === null && api.signalCode === null ? 0 : 1,
      workflowsStartedByForgedInput,
      controlsAccepted: controlsTotal - tally.failedControls.length,
      controlsFailed: tally.failedControls.length,
      rssBeforeMb: Math.round(rssBefore / 1024 / 1024),
      rssAfterMb: Math.round(rssAfter / 1024 / 1024),
      rssGrowthMb: Math.round(rssGrowthMb),
      rssBounded: rssGrowthMb <= settings.rssBoundMb,
      batchOf1000Ms: Math.round(batchOutcome.ms),
      batchNotHandedOff: batchPending,
      activitiesRetrying: retrying.length,
      batchHandedOffMs: Math.round(batchHandedOffMs),
      passed: false,
    };
    result.passed = result.acceptedForgeries === 0 && result.serverErrors === 0 && result.connectionResets === 0 && result.apiExits === 0 && result.workflowsStartedByForgedInput === 0 && result.controlsFailed === 0 && result.controlsAccepted > 0 && result.rssBounded && result.batchNotHandedOff === 0 && result.activitiesRetrying === 0;

    log('');
    log(
      table(
        ['figure', 'value'],
        [
          ['requests sent', `${tally.sent} (forged ${tally.byKind.forged}, hostile ${tally.byKind.hostile}, controls ${tally.byKind.control})`],
          ['accepted forgeries', String(result.acceptedForgeries)],
          ['5xx answers', String(result.serverErrors)],
          ['connection resets', String(result.connectionResets)],
          ['API crashes', String(result.apiExits)],
          ['workflows started by forged input', String(result.workflowsStartedByForgedInput)],
          ['positive controls accepted', `${result.controlsAccepted} of ${controlsTotal}`],
          ['API RSS', `${result.rssBeforeMb} MB → ${result.rssAfterMb} MB (growth ${result.rssGrowthMb} MB, bound ${settings.rssBoundMb} MB)`],
          ['signed webhook of 1,000 messages', `${batchOutcome.status ?? batchOutcome.error} in ${(batchOutcome.ms / 1000).toFixed(1)} s; all handed off after ${(batchHandedOffMs / 1000).toFixed(1)} s`],
          ['  of them not handed off', String(batchPending)],
          ['activities retrying (attempt ≥ 5)', settings.worker ? String(retrying.length) : 'not run (--no-worker)'],
        ],
      ),
    );
    log('');
    log(`answers: ${[...tally.statuses].sort().map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    const show = (label: string, list: { c: Case; o: Outcome }[]) => {
      if (list.length === 0) return;
      log('');
      log(`${label}:`);
      for (const { c, o } of list.slice(0, 15)) {
        log(`  ${c.kind} ${c.family} ${c.method} ${c.path.slice(0, 120)} → ${o.status ?? o.error} ${o.body.slice(0, 200).replace(/\s+/g, ' ')}`);
      }
      if (list.length > 15) log(`  … and ${list.length - 15} more`);
    };
    show('accepted forgeries', tally.acceptedForgeries);
    show('5xx', tally.serverErrors);
    show('connection resets', tally.resets);
    show('failed controls', tally.failedControls);
    if (retrying.length) {
      log('');
      log('activities retrying:');
      for (const line of retrying.slice(0, 15)) log(`  ${line}`);
    }
    log('');
    log(result.passed ? 'fuzz: every figure is 0, RSS bounded, controls accepted' : `fuzz: FAILED (seed ${settings.seed}; the API's log: ${logFile})`);
    if (!result.passed) settings.keep = true;
    return result;
  } finally {
    for (const agent of agents.values()) agent.destroy();
    for (const child of [worker]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    }
    if (api && api.exitCode === null) {
      const exited = new Promise((resolve) => api!.once('exit', resolve));
      api.kill('SIGTERM');
      const killer = setTimeout(() => api!.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    await connection?.close().catch(() => undefined);
    await orm?.close().catch(() => undefined);
    if (adminOrm && databaseName) await adminOrm.em.getConnection().execute(`drop database if exists ${databaseName} with (force)`).catch(() => undefined);
    await adminOrm?.close().catch(() => undefined);
    await temporalServer?.stop().catch(() => undefined);
    await pg?.stop().catch(() => undefined);
    if (!settings.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`fuzz: work directory kept: ${dir}`);
  }
}

let settings: Settings;
try {
  settings = readSettings(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
let code = 1;
try {
  const result = await main(settings);
  if (process.env.DUKA_FUZZ_RESULT) console.log(`DUKA_FUZZ_RESULT ${JSON.stringify(result)}`);
  code = result.passed ? 0 : 1;
} catch (err) {
  console.error('fuzz failed:', err instanceof Error ? (err.stack ?? err.message) : err);
}
process.exit(code);
