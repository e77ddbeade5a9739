import { createHash, randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Shop, ShopToken, type IShop, type IShopToken, type MenuExtra, type ShopProviderSettings } from '../../db/entities.ts';
import type { Config } from '../../lib/config.ts';
import { openSecrets, sealSecrets, type ShopSecrets } from '../../lib/credentials.ts';
import { PROVIDER_OF, type PaymentMethod } from '../../domain/payment-methods.ts';
import { CURRENCIES, isCurrencyCode } from '../../domain/money.ts';
import { LANGUAGES } from '../../domain/i18n.ts';
import { HttpError, parseInput } from '../errors.ts';
import { requireAdmin, requireCaller, requireShopAccess } from '../auth.ts';
import { audit, changes } from '../audit.ts';
import type { ShopDirectory } from '../shops.ts';
import { describeRoute } from '../openapi.ts';

/**
 * The back office's shops (CONTRACT.md § Back office): create, read, update, deactivate (`PATCH { "active": false }`:
 * nothing is deleted, orders and payments in flight still settle), and the shop's API tokens. Credentials are
 * write-only: sealed with `CREDENTIALS_KEY` (lib/credentials.ts), never answered, logged or audited by value; a
 * response says only which are set.
 */
export interface ShopRouteDeps {
  config: Config;
  orm: MikroORM;
  shops: ShopDirectory;
}

const PAYMENT_METHODS = Object.keys(PROVIDER_OF) as [PaymentMethod, ...PaymentMethod[]];
const PAID_PROVIDERS = ['mpesa', 'paynow', 'omari', 'razorpay', 'ghala'] as const;
type PaidProvider = (typeof PAID_PROVIDERS)[number];

const Secret = z.string().min(1).max(4096);
const Digits = z.string().regex(/^\d{1,32}$/, 'digits only');
const ShopIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'not a shop id');

/** Per provider, complete (a PATCH replaces a provider's credentials whole; null removes them). Base URLs are the environment's only. */
const ProviderCredentials = {
  mpesa: z.strictObject({ consumerKey: Secret, consumerSecret: Secret, shortcode: z.string().regex(/^\d{5,7}$/, 'a 5–7 digit shortcode'), passkey: Secret }),
  paynow: z.strictObject({ integrationId: Digits, integrationKey: Secret, authEmail: z.email().optional() }),
  omari: z.strictObject({ merchantKey: Secret }),
  razorpay: z.strictObject({ keyId: z.string().regex(/^rzp_(live|test)_\w+$/, 'a Razorpay key id (rzp_live_…)'), keySecret: Secret, webhookSecret: Secret }),
  ghala: z.strictObject({ apiKey: Secret, webhookSecret: Secret }),
} satisfies Record<PaidProvider, z.ZodType>;

/** Keyed by provider (`paynow`) or by a method it takes (`ecocash`). */
const CredentialsInput = z
  .record(z.string(), z.unknown())
  .transform((input, ctx) => {
    const out: Partial<Record<PaidProvider, Record<string, string> | null>> = {};
    for (const [key, value] of Object.entries(input)) {
      const provider = (PAID_PROVIDERS as readonly string[]).includes(key) ? (key as PaidProvider) : PROVIDER_OF[key as PaymentMethod];
      if (!provider || provider === 'cash') {
        ctx.addIssue({ code: 'custom', path: [key], message: `not a payment provider or method that takes credentials (${PAID_PROVIDERS.join(', ')})` });
        continue;
      }
      if (provider in out) {
        ctx.addIssue({ code: 'custom', path: [key], message: `credentials for ${provider} given twice` });
        continue;
      }
      if (value === null) {
        out[provider] = null;
        continue;
      }
      const parsed = ProviderCredentials[provider].safeParse(value);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: [key, ...issue.path.map(String)], message: issue.message });
        continue;
      }
      out[provider] = parsed.data as Record<string, string>;
    }
    return out;
  });

const MenuExtraInput = z.discriminatedUnion('kind', [
  z
    .strictObject({ kind: z.literal('faq'), title: z.string().trim().min(1).max(24), reply: z.string().trim().min(1).max(4096).optional(), url: z.url({ protocol: /^https$/ }).optional() })
    .refine((f) => f.reply !== undefined || f.url !== undefined, 'a FAQ entry has a reply, a url, or both'),
  z.strictObject({ kind: z.literal('request'), title: z.string().trim().min(1).max(24), prompt: z.string().trim().min(1).max(1024) }),
]);

const Timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'not an IANA time zone');

const Fields = {
  name: z.string().trim().min(1).max(100),
  phoneNumberId: z.string().regex(/^\d{5,32}$/, 'the WhatsApp phone number id (digits)'),
  displayPhone: z.string().regex(/^\+?\d{6,15}$/, 'a phone number in international form'),
  currency: z.string().refine(isCurrencyCode, `one of ${Object.keys(CURRENCIES).join(', ')}`),
  country: z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166 country code such as KE'),
  timezone: Timezone,
  defaultLanguage: z.enum(LANGUAGES),
  languages: z.array(z.enum(LANGUAGES)).min(1).refine((l) => new Set(l).size === l.length, 'each language once'),
  orderPrefix: z.string().regex(/^[A-Z]{2,5}$/, '2–5 capital letters'),
  paymentMethods: z.array(z.enum(PAYMENT_METHODS)).min(1).refine((m) => new Set(m).size === m.length, 'each method once'),
  deliveryFee: z.int().min(0).max(100_000_000),
  taxRateBasisPoints: z.int().min(0).max(10_000),
  taxInclusive: z.boolean(),
  preparationMinutes: z.int().min(0).max(7 * 24 * 60),
  deliveryAvailable: z.boolean(),
  pickupAvailable: z.boolean(),
  catalogId: Digits.nullable(),
  // The main menu is a WhatsApp list of at most ten rows, five of them duka's own.
  menuExtras: z.array(MenuExtraInput).max(5),
  active: z.boolean(),
  whatsapp: z.strictObject({ accessToken: Secret, appSecret: Secret.optional(), businessAccountId: Digits.optional() }).nullable(),
  credentials: CredentialsInput,
  shopify: z
    .strictObject({ shopDomain: z.string().regex(/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/, 'the shop\'s myshopify.com domain'), accessToken: Secret, apiVersion: z.string().regex(/^\d{4}-\d{2}$/).optional() })
    .nullable(),
};

const { name, phoneNumberId, displayPhone, currency, country, timezone, paymentMethods, ...optional } = Fields;
const CreateShop = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,39}$/, 'lower-case letters, digits and dashes (2–40)').optional(),
  name,
  phoneNumberId,
  displayPhone,
  currency,
  country,
  timezone,
  paymentMethods,
  ...Object.fromEntries(Object.entries(optional).map(([k, v]) => [k, v.optional()])),
}) as z.ZodType<CreateShopInput>;
const PatchShop = z
  .strictObject(Object.fromEntries(Object.entries(Fields).map(([k, v]) => [k, v.optional()])))
  .refine((p) => Object.keys(p).length > 0, 'nothing to change') as z.ZodType<PatchShopInput>;

type FieldValues = { [K in keyof typeof Fields]: z.output<(typeof Fields)[K]> };
type PatchShopInput = Partial<FieldValues>;
type CreateShopInput = PatchShopInput & Pick<FieldValues, 'name' | 'phoneNumberId' | 'displayPhone' | 'currency' | 'country' | 'timezone' | 'paymentMethods'> & { id?: string };

const TokenInput = z.strictObject({ name: z.string().trim().min(1).max(100).optional() });
const TokenIdParam = z.uuid();

// ---- views ----------------------------------------------------------------------------------------------------------

function readableSecrets(config: Config, shop: IShop): ShopSecrets | null {
  try {
    return openSecrets(config.credentialsKey, shop.id, shop.credentials);
  } catch {
    return null;
  }
}

/** The shop as the API answers it: which credentials are set, never their values. */
function shopView(config: Config, shop: IShop) {
  const secrets = readableSecrets(config, shop);
  return {
    id: shop.id,
    name: shop.name,
    active: shop.active,
    phoneNumberId: shop.phoneNumberId,
    displayPhone: shop.displayPhone,
    currency: shop.currency,
    country: shop.country,
    timezone: shop.timezone,
    defaultLanguage: shop.defaultLanguage,
    languages: shop.languages,
    orderPrefix: shop.orderPrefix,
    paymentMethods: shop.paymentMethods,
    deliveryFee: shop.deliveryFee,
    taxRateBasisPoints: shop.taxRateBasisPoints,
    taxInclusive: shop.taxInclusive,
    preparationMinutes: shop.preparationMinutes,
    deliveryAvailable: shop.deliveryAvailable,
    pickupAvailable: shop.pickupAvailable,
    catalogId: shop.catalogId ?? null,
    menuExtras: shop.menuExtras,
    whatsapp: {
      businessAccountId: shop.businessAccountId ?? null,
      accessTokenSet: Boolean(secrets?.whatsapp?.accessToken),
      appSecretSet: Boolean(secrets?.whatsapp?.appSecret),
    },
    /** Providers with the shop's own credentials; the others use the environment's (the demo shops). */
    credentialsSet: Object.keys(secrets?.payments ?? {}).sort(),
    /** False when the stored credentials cannot be opened with this CREDENTIALS_KEY. */
    credentialsReadable: secrets !== null,
    shopify: shop.shopify ? { shopDomain: shop.shopify.shopDomain, apiVersion: shop.shopify.apiVersion ?? null, accessTokenSet: Boolean(secrets?.shopify?.accessToken) } : null,
    createdAt: shop.createdAt.toISOString(),
    updatedAt: shop.updatedAt?.toISOString() ?? null,
  };
}

function tokenView(t: IShopToken) {
  return { id: t.id, name: t.name ?? null, prefix: t.prefix, createdAt: t.createdAt.toISOString(), revokedAt: t.revokedAt?.toISOString() ?? null };
}

// ---- helpers ----------------------------------------------------------------------------------------------------------

const conflict = (code: string, message: string) => new HttpError(409, code, message);

function credentialsKey(config: Config): Buffer {
  if (!config.credentialsKey) throw new HttpError(503, 'credentials_unavailable', 'CREDENTIALS_KEY is not set: credentials cannot be stored');
  return config.credentialsKey;
}

/** The shop's secrets after this change; undefined when the body touches none. */
function nextSecrets(config: Config, shop: { id: string; credentials?: string | null | undefined }, body: PatchShopInput): ShopSecrets | undefined {
  if (body.whatsapp === undefined && body.credentials === undefined && body.shopify === undefined) return undefined;
  const key = credentialsKey(config);
  let current: ShopSecrets;
  try {
    current = openSecrets(key, shop.id, shop.credentials);
  } catch {
    throw conflict('credentials_unreadable', 'the stored credentials cannot be opened with this CREDENTIALS_KEY; replace them all with a key that opens them');
  }
  const next: ShopSecrets = { ...current };
  if (body.whatsapp === null) delete next.whatsapp;
  else if (body.whatsapp) next.whatsapp = { accessToken: body.whatsapp.accessToken, ...(body.whatsapp.appSecret ? { appSecret: body.whatsapp.appSecret } : {}) };
  if (body.shopify === null) delete next.shopify;
  else if (body.shopify) next.shopify = { accessToken: body.shopify.accessToken };
  if (body.credentials) {
    const payments: Record<string, unknown> = { ...next.payments };
    for (const [provider, value] of Object.entries(body.credentials)) {
      if (value === null) delete payments[provider];
      else payments[provider] = value;
    }
    next.payments = payments as ShopProviderSettings;
    if (Object.keys(payments).length === 0) delete next.payments;
  }
  return next;
}

/** Names of what a change sets or removes, for the audit log: never a value. */
function secretsAudit(body: PatchShopInput): Record<string, unknown> {
  const touched: Record<string, string> = {};
  if (body.whatsapp !== undefined) touched.whatsapp = body.whatsapp === null ? 'removed' : `set (${Object.keys(body.whatsapp).filter((k) => k !== 'businessAccountId').join(', ')})`;
  if (body.shopify !== undefined) touched.shopify = body.shopify === null ? 'removed' : 'set (accessToken)';
  for (const [provider, value] of Object.entries(body.credentials ?? {})) touched[`credentials.${provider}`] = value === null ? 'removed' : 'set';
  return Object.keys(touched).length > 0 ? { secrets: touched } : {};
}

/** Plain (non-secret) columns a body sets. */
function plainFields(body: PatchShopInput): Partial<IShop> {
  const { whatsapp, credentials: _credentials, shopify, ...rest } = body;
  const fields: Record<string, unknown> = { ...rest };
  if (rest.menuExtras) fields.menuExtras = rest.menuExtras as MenuExtra[];
  if (whatsapp !== undefined) fields.businessAccountId = whatsapp?.businessAccountId ?? null;
  if (shopify !== undefined) fields.shopify = shopify ? { shopDomain: shopify.shopDomain, ...(shopify.apiVersion ? { apiVersion: shopify.apiVersion } : {}) } : null;
  return fields as Partial<IShop>;
}

/** Rules across fields, checked on the shop as it would be after the change. */
function checkShop(shop: Pick<IShop, 'languages' | 'defaultLanguage' | 'deliveryAvailable' | 'pickupAvailable'>): void {
  if (!shop.languages.includes(shop.defaultLanguage)) throw new HttpError(400, 'invalid_request', `invalid shop: defaultLanguage ${shop.defaultLanguage} is not one of languages (${shop.languages.join(', ')})`);
  if (!shop.deliveryAvailable && !shop.pickupAvailable) throw new HttpError(400, 'invalid_request', 'invalid shop: offer delivery, pickup or both');
}

async function assertFree(em: EntityManager, what: { phoneNumberId?: string | undefined; orderPrefix?: string | undefined }, except?: string): Promise<void> {
  const not = except ? { id: { $ne: except } } : {};
  if (what.phoneNumberId && (await em.count(Shop, { phoneNumberId: what.phoneNumberId, ...not })) > 0) {
    throw conflict('phone_number_taken', `another shop already has WhatsApp phone number id ${what.phoneNumberId}`);
  }
  if (what.orderPrefix && (await em.count(Shop, { orderPrefix: what.orderPrefix, ...not })) > 0) {
    throw conflict('order_prefix_taken', `another shop already numbers its orders ${what.orderPrefix}-…`);
  }
}

/** A unique constraint lost to a concurrent request: the same 409 the checks give. */
function uniqueConflict(err: unknown): HttpError | undefined {
  if (!(err instanceof UniqueConstraintViolationException)) return undefined;
  const m = err.message;
  if (m.includes('phone_number_id')) return conflict('phone_number_taken', 'another shop already has this WhatsApp phone number id');
  if (m.includes('order_prefix')) return conflict('order_prefix_taken', 'another shop already uses this order prefix');
  return conflict('shop_exists', 'a shop with this id already exists');
}

async function freeId(em: EntityManager, name: string): Promise<string> {
  const base = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'shop';
  const candidate = base.length >= 2 ? base : `shop-${base}`;
  if (!(await em.count(Shop, { id: candidate }))) return candidate;
  return `${candidate}-${randomBytes(3).toString('hex')}`;
}

async function freePrefix(em: EntityManager, id: string): Promise<string> {
  const letters = id.toUpperCase().replace(/[^A-Z]/g, '');
  const base = (letters.length >= 2 ? letters : `${letters}SHP`).slice(0, 3);
  for (const candidate of [base, ...Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ', (c) => `${base}${c}`)]) {
    if (!(await em.count(Shop, { orderPrefix: candidate }))) return candidate;
  }
  throw conflict('order_prefix_taken', 'no free order prefix could be derived: give orderPrefix');
}

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

// ---- routes -------------------------------------------------------------------------------------------------------

export function shopsRouter({ config, orm, shops }: ShopRouteDeps): Router {
  const router = Router();

  async function ownShop(res: Response, em: EntityManager, raw: string): Promise<IShop> {
    const id = parseInput(ShopIdParam, raw, 'shop id');
    requireShopAccess(res, id);
    const shop = await em.findOne(Shop, { id });
    if (!shop) throw new HttpError(404, 'not_found', `no shop ${id}`);
    return shop;
  }

  async function flushShop(em: EntityManager): Promise<void> {
    try {
      await em.flush();
    } catch (err) {
      throw uniqueConflict(err) ?? err;
    }
    shops.invalidate();
  }

  describeRoute({ method: 'get', path: '/api/admin/shops', summary: 'Shops (a shop token sees its own)', responses: { 200: 'the shops; credentials only as which are set' } });
  router.get('/shops', async (_req, res) => {
    const c = requireCaller(res);
    const em = orm.em.fork();
    const rows = await em.find(Shop, c.kind === 'admin' ? {} : { id: c.shopId }, { orderBy: { createdAt: 'asc', id: 'asc' } });
    res.json({ shops: rows.map((s) => shopView(config, s)) });
  });

  describeRoute({ method: 'post', path: '/api/admin/shops', summary: 'Open a shop (ADMIN_TOKEN only); credentials are write-only', body: CreateShop, responses: { 201: 'the shop', 403: 'a shop token', 409: 'id, phoneNumberId or orderPrefix already taken', 503: 'CREDENTIALS_KEY is not set' } });
  router.post('/shops', async (req, res) => {
    requireAdmin(res);
    const body = parseInput(CreateShop, req.body, 'shop');
    const em = orm.em.fork();
    const id = body.id ?? (await freeId(em, body.name));
    if (body.id && (await em.count(Shop, { id }))) throw conflict('shop_exists', `a shop with id ${id} already exists`);
    await assertFree(em, { phoneNumberId: body.phoneNumberId, orderPrefix: body.orderPrefix });
    const defaultLanguage = body.defaultLanguage ?? body.languages?.[0] ?? 'en';
    const fields = {
      ...plainFields(body),
      id,
      defaultLanguage,
      languages: body.languages ?? [defaultLanguage],
      orderPrefix: body.orderPrefix ?? (await freePrefix(em, id)),
      deliveryAvailable: body.deliveryAvailable ?? true,
      pickupAvailable: body.pickupAvailable ?? true,
    };
    checkShop(fields);
    const secrets = nextSecrets(config, { id }, body);
    const shop = em.create(Shop, {
      ...(fields as Omit<IShop, 'createdAt' | 'updatedAt'>),
      // Explicit: the entity's default is the column's SQL text '[]', which the ORM would store as a JSON string.
      menuExtras: (fields.menuExtras ?? []) as MenuExtra[],
      providerSettings: {},
      credentials: secrets ? sealSecrets(credentialsKey(config), id, secrets) : null,
    });
    const view = shopView(config, shop);
    audit(res, em, { shopId: id, entity: 'shop', entityId: id, action: 'create', diff: { ...changes({}, { ...view, createdAt: undefined, updatedAt: undefined }), ...secretsAudit(body) } });
    await flushShop(em);
    res.status(201).json(shopView(config, shop));
  });

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId', summary: 'One shop', params: { shopId: ShopIdParam }, responses: { 200: 'the shop', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId', async (req, res) => {
    const shop = await ownShop(res, orm.em.fork(), req.params.shopId);
    res.json(shopView(config, shop));
  });

  describeRoute({ method: 'patch', path: '/api/admin/shops/:shopId', summary: 'Change a shop; active: false deactivates it (ADMIN_TOKEN only); a credentials entry is replaced whole, null removes it', params: { shopId: ShopIdParam }, body: PatchShop, responses: { 200: 'the shop', 404: 'no such shop', 403: 'another shop\'s token', 409: 'phoneNumberId or orderPrefix taken, or credentials unreadable', 503: 'CREDENTIALS_KEY is not set' } });
  router.patch('/shops/:shopId', async (req, res) => {
    const em = orm.em.fork();
    const shop = await ownShop(res, em, req.params.shopId);
    const body = parseInput(PatchShop, req.body, 'shop');
    if (body.active !== undefined && body.active !== shop.active) requireAdmin(res);
    await assertFree(em, { phoneNumberId: body.phoneNumberId, orderPrefix: body.orderPrefix }, shop.id);
    const before = shopView(config, shop);
    const secrets = nextSecrets(config, shop, body);
    em.assign(shop, plainFields(body));
    checkShop(shop);
    if (secrets) shop.credentials = Object.keys(secrets).length > 0 ? sealSecrets(credentialsKey(config), shop.id, secrets) : null;
    const { updatedAt: _a, ...was } = before;
    const { updatedAt: _b, ...now } = shopView(config, shop);
    const diff = { ...changes(was, now), ...secretsAudit(body) };
    if (Object.keys(diff).length > 0) {
      shop.updatedAt = new Date();
      audit(res, em, { shopId: shop.id, entity: 'shop', entityId: shop.id, action: body.active === false && before.active ? 'deactivate' : 'update', diff });
    }
    await flushShop(em);
    res.json(shopView(config, shop));
  });

  describeRoute({ method: 'get', path: '/api/admin/shops/:shopId/tokens', summary: 'The shop\'s API tokens by prefix', params: { shopId: ShopIdParam }, responses: { 200: 'the tokens, never their values', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.get('/shops/:shopId/tokens', async (req, res) => {
    const em = orm.em.fork();
    const shop = await ownShop(res, em, req.params.shopId);
    const tokens = await em.find(ShopToken, { shop: shop.id }, { orderBy: { createdAt: 'desc', id: 'asc' } });
    res.json({ tokens: tokens.map(tokenView) });
  });

  describeRoute({ method: 'post', path: '/api/admin/shops/:shopId/tokens', summary: 'Issue a shop token', params: { shopId: ShopIdParam }, body: TokenInput, bodyOptional: true, responses: { 201: 'the token, shown this once', 404: 'no such shop', 403: 'another shop\'s token' } });
  router.post('/shops/:shopId/tokens', async (req, res) => {
    const em = orm.em.fork();
    const shop = await ownShop(res, em, req.params.shopId);
    const body = parseInput(TokenInput, req.body ?? {}, 'token');
    const token = `duka_${randomBytes(24).toString('base64url')}`;
    const row = em.create(ShopToken, { shop, name: body.name ?? null, prefix: token.slice(0, 12), tokenHash: hashToken(token) });
    audit(res, em, { shopId: shop.id, entity: 'shop_token', entityId: row.id, action: 'issue', diff: { prefix: row.prefix, name: row.name } });
    await em.flush();
    // The only time the token is shown: only its sha256 is kept.
    res.status(201).json({ ...tokenView(row), token });
  });

  describeRoute({ method: 'delete', path: '/api/admin/shops/:shopId/tokens/:tokenId', summary: 'Revoke a shop token (refused from the next request on)', params: { shopId: ShopIdParam, tokenId: TokenIdParam }, responses: { 200: 'the revoked token', 404: 'no such shop or token', 403: 'another shop\'s token' } });
  router.delete('/shops/:shopId/tokens/:tokenId', async (req, res) => {
    const em = orm.em.fork();
    const shop = await ownShop(res, em, req.params.shopId);
    const tokenId = TokenIdParam.safeParse(req.params.tokenId);
    const row = tokenId.success ? await em.findOne(ShopToken, { id: tokenId.data, shop: shop.id }) : null;
    if (!row) throw new HttpError(404, 'not_found', `no token ${req.params.tokenId} in shop ${shop.id}`);
    if (!row.revokedAt) {
      row.revokedAt = new Date();
      audit(res, em, { shopId: shop.id, entity: 'shop_token', entityId: row.id, action: 'revoke', diff: { prefix: row.prefix } });
      await em.flush();
    }
    res.json(tokenView(row));
  });

  return router;
}
