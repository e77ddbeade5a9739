import express, { Router } from 'express';
import { z } from 'zod';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ConfigError, type Config } from '../../lib/config.ts';
import type { Logger } from '../../lib/logger.ts';
import { Product } from '../../db/entities.ts';
import { productView } from '../../activities/catalog.ts';
import { isRefusal, priceLine, type ProductView } from '../../domain/catalog.ts';
import { formatMoney, isCurrencyCode, type CurrencyCode } from '../../domain/money.ts';
import { verifyMetaSignature } from '../../providers/whatsapp/signature.ts';
import {
  FlowCryptoError,
  FlowRequestError,
  decryptFlowRequest,
  encryptFlowResponse,
  flowErrorNotification,
  parseFlowsPrivateKey,
  publicKeyPemOf,
  checkFlowToken,
  resolveFlowsKey,
  type FlowRequest,
  type FlowsKey,
  type FlowTokenClaims,
} from '../../providers/whatsapp/flows.ts';
import { HttpError } from '../errors.ts';
import { requestLog } from '../context.ts';
import { BODY_LIMIT } from '../limits.ts';
import { parseUntrustedJson } from '../../lib/untrusted-json.ts';

/**
 * `POST /flows/whatsapp`: the WhatsApp Flows data endpoint (protocols.md §2) for one flow, product customisation.
 *
 * The customer opens a flow sent with `flow_action: data_exchange` and a flow token minted by `mintFlowToken`
 * (`<shopId>:<productId>:<nonce>:<mac>`). Screens (the Flow JSON must use these ids and data keys):
 *
 * - `CUSTOMISE` (INIT, BACK, or a refused choice): `product_id`, `product_name`, `product_description`, `price_from`,
 *   `has_sizes`, `sizes` [{ id, title, description }], and for each slot n = 1…4 `group_n_visible`, `group_n_id`,
 *   `group_n_name`, `group_n_label`, `group_n_required`, `group_n_min`, `group_n_max`,
 *   `group_n_options` [{ id, title, description? }]; `error_message` (snackbar) when a choice was refused.
 *   Its data_exchange payload: `presentation_id` (string) and the picked option ids as `group_n` (string or string[])
 *   and/or `option_ids` (string[]).
 * - `SUMMARY` (price breakdown): `product_name`, `item_name`, `lines` [{ id, label, amount, display }], `breakdown`
 *   (one line per row, for a TextBody), `total`, `total_amount` (minor units), `currency`, `note`, and the choice to
 *   echo back on confirm: `presentation_id`, `option_ids`. Its data_exchange payload: `presentation_id`, `option_ids`.
 * - `SUCCESS` (confirm): `extension_message_response.params` = `{ flow_token, productId, presentationId?, optionIds }`,
 *   which reaches the conversation in the `nfm_reply` webhook. Everything is re-priced from the database each time.
 *
 * HTTP: 432 bad `X-Hub-Signature-256`, 400 malformed (JSON error), 421 cannot decrypt, 427 flow token forged or the
 * product gone (encrypted `{ error_msg }`, as Meta's example does), 503 no key configured, else 200 with the
 * encrypted answer as text/plain.
 */

export const FLOWS_PATH = '/flows/whatsapp';
export const PRODUCT_FLOW_SCREENS = { customise: 'CUSTOMISE', summary: 'SUMMARY', success: 'SUCCESS' } as const;
/** The Flow JSON is static, so modifier groups are laid out in this many fixed slots. */
export const MAX_GROUP_SLOTS = 4;

export interface FlowsRouteDeps {
  config: Config;
  orm: MikroORM;
  /** For a `WHATSAPP_FLOWS_PRIVATE_KEY` encrypted with a passphrase (Meta's keyGenerator.js does that). */
  passphrase?: string;
}

type Reply = { status: 200 | 427; body: Record<string, unknown> };

const EMPTY = Buffer.alloc(0);
const PRODUCT_POPULATE = ['shop', 'presentations', 'modifierGroups', 'modifierGroups.options'] as const;

const Id = z.string().min(1).max(200);
const IdList = z.union([Id, z.array(Id).max(50)]);
const ChoiceSchema = z.looseObject({
  // A flow without a size picked may send "" rather than omit the field.
  presentation_id: z.union([Id, z.literal('')]).nullish(),
  option_ids: IdList.nullish(),
  ...Object.fromEntries(Array.from({ length: MAX_GROUP_SLOTS }, (_, i) => [`group_${i + 1}`, z.union([IdList, z.literal('')]).nullish()])),
});

interface Choice {
  presentationId: string | undefined;
  optionIds: string[];
}

function parseChoice(data: Record<string, unknown> | undefined): Choice {
  const parsed = ChoiceSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, 'invalid_request', `invalid flow data: ${issue?.path.map(String).join('.') ?? ''} ${issue?.message ?? ''}`.trim());
  }
  const record = parsed.data as Record<string, unknown>;
  const ids: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v) ids.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') ids.push(x);
  };
  add(record.option_ids);
  for (let i = 1; i <= MAX_GROUP_SLOTS; i++) add(record[`group_${i}`]);
  return { presentationId: parsed.data.presentation_id || undefined, optionIds: [...new Set(ids)] };
}

interface Loaded {
  product: ProductView;
  currency: string;
  taxInclusive: boolean;
  taxRateBasisPoints: number;
}

export function flowsRouter(deps: FlowsRouteDeps): Router {
  const { config, orm } = deps;
  const router = Router();
  // Tokens minted under an earlier CUSTOMER_REF_SECRET still open until they expire.
  const tokenSecrets = config.customerRefSecrets.length > 0 ? config.customerRefSecrets : [config.customerRefSecret];
  const images = new FlowImages(config.publicBaseUrl);

  // A configured key is checked now: a broken secret should stop startup, not the first customer. The sandbox key is
  // read or generated on first use, so apps that never see a Flows request never touch the data dir.
  let key: Promise<FlowsKey | undefined> | undefined;
  if (config.whatsapp.flowsPrivateKey) {
    try {
      const privateKey = parseFlowsPrivateKey(config.whatsapp.flowsPrivateKey, deps.passphrase);
      key = Promise.resolve({ privateKey, publicKeyPem: publicKeyPemOf(privateKey), source: 'config' });
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  WHATSAPP_FLOWS_PRIVATE_KEY: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const endpointKey = async (log: Logger): Promise<FlowsKey> => {
    key ??= resolveFlowsKey({ flowsPrivateKey: undefined, sandbox: config.sandbox, dataDir: config.dataDir });
    let resolved: FlowsKey | undefined;
    try {
      resolved = await key;
    } catch (err) {
      key = undefined;
      log.error({ err }, 'whatsapp flows: cannot load or create the sandbox key');
      throw new HttpError(503, 'unavailable', 'WhatsApp Flows key is not available');
    }
    if (!resolved) throw new HttpError(503, 'flows_not_configured', 'WHATSAPP_FLOWS_PRIVATE_KEY is not set');
    if (resolved.source === 'sandbox-generated') log.info({ dataDir: config.dataDir }, 'whatsapp flows: generated a sandbox key pair');
    return resolved;
  };

  async function load(claims: FlowTokenClaims, log: Logger): Promise<Loaded | undefined> {
    try {
      const em = orm.em.fork();
      const product = await em.findOne(Product, { id: claims.subject, shop: claims.shopId }, { populate: PRODUCT_POPULATE });
      if (!product) return undefined;
      const { currency, taxInclusive, taxRateBasisPoints } = product.shop;
      return {
        // productView only needs the currency for its `currency` field; money() formats unknown codes itself.
        product: productView(product, currency as CurrencyCode, config.publicBaseUrl),
        currency,
        taxInclusive,
        taxRateBasisPoints,
      };
    } catch (err) {
      log.warn({ err }, 'whatsapp flows: catalogue lookup failed');
      throw new HttpError(503, 'unavailable', 'catalogue is unavailable; retry later');
    }
  }

  async function answer(req: FlowRequest, log: Logger): Promise<Reply> {
    const version = req.version ?? '3.0';
    const ok = (body: Record<string, unknown>): Reply => ({ status: 200, body: { version, ...body } });
    const gone = (message: string): Reply => ({ status: 427, body: { error_msg: message } });

    if (req.action === 'ping') return ok({ data: { status: 'active' } });

    const notice = flowErrorNotification(req);
    if (notice) {
      log.warn({ screen: req.screen, error: notice.error, errorMessage: notice.errorMessage }, 'whatsapp flows: client reported an error in our last response');
      return ok({ data: { acknowledged: true } });
    }

    const token = req.flow_token ?? '';
    const checked = checkFlowToken(token, tokenSecrets);
    if (!checked.ok || checked.claims.kind !== 'product') {
      log.warn({ action: req.action, screen: req.screen, reason: checked.ok ? 'not a product token' : checked.reason }, 'whatsapp flows: flow token refused');
      return gone(!checked.ok && checked.reason === 'expired' ? 'This form has expired. Please tap Add to cart in the chat again.' : 'This link is no longer valid. Please ask the shop to send it again.');
    }
    const claims = checked.claims;
    const loaded = await load(claims, log);
    if (!loaded || !loaded.product.available) return gone('Sorry, this item is no longer available.');
    const { product } = loaded;
    if (product.groups.length > MAX_GROUP_SLOTS) {
      log.warn({ productId: product.id, groups: product.groups.length }, 'whatsapp flows: product has more modifier groups than the flow has slots');
      return gone('Sorry, this item cannot be customised here. Please order it in the chat.');
    }
    const customise = async (errorMessage?: string) => {
      const image = await images.of(product.imageUrl, log);
      return ok({ screen: PRODUCT_FLOW_SCREENS.customise, data: { ...customiseData(loaded), has_image: image !== undefined, product_image: image ?? BLANK_PNG, ...(errorMessage ? { error_message: errorMessage } : {}) } });
    };

    if (req.action === 'INIT' || req.action === 'BACK') return customise();

    const screen = req.screen ?? '';
    if (screen !== PRODUCT_FLOW_SCREENS.customise && screen !== PRODUCT_FLOW_SCREENS.summary) {
      throw new HttpError(400, 'unknown_screen', `no data_exchange for screen ${JSON.stringify(screen.slice(0, 40))}`);
    }
    const choice = parseChoice(req.data);
    const line = priceLine(product, { productId: product.id, presentationId: choice.presentationId, optionIds: choice.optionIds, quantity: 1 }, 'flow');
    if (isRefusal(line)) {
      if (line.reason === 'bad_options') return customise(line.detail);
      return gone(line.reason === 'out_of_stock' ? `Sorry, ${product.name} is sold out.` : 'Sorry, this item is no longer available.');
    }
    const optionIds = product.groups.flatMap((g) => g.options.filter((o) => choice.optionIds.includes(o.id)).map((o) => o.id));
    const presentationId = product.presentations.length > 0 ? choice.presentationId : undefined;

    if (screen === PRODUCT_FLOW_SCREENS.customise) {
      return ok({ screen: PRODUCT_FLOW_SCREENS.summary, data: summaryData(loaded, presentationId, optionIds, line.name, line.unitPrice) });
    }
    log.info({ shopId: claims.shopId, productId: product.id }, 'whatsapp flows: customisation confirmed');
    return ok({
      screen: PRODUCT_FLOW_SCREENS.success,
      data: {
        extension_message_response: {
          params: { flow_token: token, productId: product.id, ...(presentationId ? { presentationId } : {}), optionIds },
        },
      },
    });
  }

  router.post(FLOWS_PATH, express.raw({ type: () => true, limit: BODY_LIMIT }), async (req, res) => {
    const log = requestLog(res);
    const raw = Buffer.isBuffer(req.body) ? req.body : EMPTY;
    // §2.2: Meta signs endpoint requests with the app secret; a mismatch is 432, before any RSA work.
    if (!verifyMetaSignature(raw, req.get('x-hub-signature-256'), config.whatsapp.appSecret)) {
      log.warn({ bytes: raw.length }, 'whatsapp flows: bad signature');
      throw new HttpError(432, 'invalid_signature', 'X-Hub-Signature-256 does not match the body');
    }
    let body: unknown;
    try {
      body = parseUntrustedJson(raw);
    } catch (err) {
      throw new HttpError(400, 'invalid_json', `Flows request body: ${(err as Error).message}`);
    }
    const { privateKey } = await endpointKey(log);
    let decrypted;
    try {
      decrypted = decryptFlowRequest(body, privateKey);
    } catch (err) {
      if (err instanceof FlowRequestError) throw new HttpError(400, 'invalid_request', err.message);
      if (err instanceof FlowCryptoError) {
        log.warn({ reason: err.message }, 'whatsapp flows: cannot decrypt (client will re-fetch the public key)');
        throw new HttpError(421, 'decryption_failed', 'request cannot be decrypted with the current key');
      }
      throw err;
    }
    const reply = await answer(decrypted.payload, log);
    res.status(reply.status).type('text/plain').send(encryptFlowResponse(reply.body, decrypted.aesKey, decrypted.iv));
  });

  return router;
}

// ---- screen data ----------------------------------------------------------------------------------------------------

function money(amount: number, currency: string): string {
  return isCurrencyCode(currency) ? formatMoney({ amount, currency }) : `${currency} ${amount}`;
}

function signed(amount: number, currency: string): string {
  return `${amount < 0 ? '−' : '+'}${money(Math.abs(amount), currency)}`;
}

function groupLabel(name: string, min: number, max: number): string {
  if (min === max) return `${name} (choose ${min})`;
  if (min === 0) return `${name} (up to ${max})`;
  return `${name} (choose ${min}–${max})`;
}

function customiseData({ product, currency }: Loaded): Record<string, unknown> {
  const prices = product.presentations.length > 0 ? product.presentations.map((p) => p.price) : [product.price];
  const data: Record<string, unknown> = {
    product_id: product.id,
    product_name: product.name,
    product_description: product.description ?? '',
    price_from: money(Math.min(...prices), currency),
    has_sizes: product.presentations.length > 0,
    sizes: product.presentations.map((p) => ({ id: p.id, title: p.name, description: money(p.price, currency) })),
    // The first size, as the shop lists them (seed 002: "Default selection"); '' when there are none (null is invalid).
    default_size: product.presentations[0]?.id ?? '',
  };
  for (let i = 0; i < MAX_GROUP_SLOTS; i++) {
    const g = product.groups[i];
    const n = i + 1;
    data[`group_${n}_visible`] = g !== undefined;
    data[`group_${n}_id`] = g?.id ?? '';
    data[`group_${n}_name`] = g?.name ?? '';
    data[`group_${n}_label`] = g ? groupLabel(g.name, g.min, g.max) : '';
    data[`group_${n}_required`] = (g?.min ?? 0) > 0;
    data[`group_${n}_min`] = g?.min ?? 0;
    data[`group_${n}_max`] = g?.max ?? 0;
    data[`group_${n}_options`] = (g?.options ?? []).map((o) => ({ id: o.id, title: o.name, ...(o.priceDelta !== 0 ? { description: signed(o.priceDelta, currency) } : {}) }));
  }
  return data;
}

function summaryData(loaded: Loaded, presentationId: string | undefined, optionIds: string[], itemName: string, total: number): Record<string, unknown> {
  const { product, currency } = loaded;
  const presentation = product.presentations.find((p) => p.id === presentationId);
  const lines: { id: string; label: string; amount: number; display: string }[] = [
    { id: presentation?.id ?? product.id, label: presentation ? `${product.name} (${presentation.name})` : product.name, amount: presentation?.price ?? product.price, display: money(presentation?.price ?? product.price, currency) },
  ];
  for (const g of product.groups) {
    for (const o of g.options) {
      if (optionIds.includes(o.id)) lines.push({ id: o.id, label: `${g.name}: ${o.name}`, amount: o.priceDelta, display: signed(o.priceDelta, currency) });
    }
  }
  const note =
    loaded.taxRateBasisPoints === 0 ? 'Delivery, if any, is added at checkout.'
    : loaded.taxInclusive ? 'Price includes tax. Delivery, if any, is added at checkout.'
    : 'Tax and delivery, if any, are added at checkout.';
  return {
    product_name: product.name,
    item_name: itemName,
    lines,
    breakdown: [...lines.map((l) => `${l.label}: ${l.display}`), `Total: ${money(total, currency)}`].join('\n'),
    total: money(total, currency),
    total_amount: total,
    currency,
    note,
    presentation_id: presentationId ?? '',
    option_ids: optionIds,
  };
}

// ---- product image ---------------------------------------------------------------------------------------------------

/** A 1×1 transparent PNG: Flow JSON rejects null and empty strings, so a hidden Image still needs a valid source. */
const BLANK_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
/** Meta's Image component takes base64 and advises at most 300 KB; larger photos are left out rather than refused. */
const MAX_IMAGE_BYTES = 300 * 1024;
const IMAGE_TIMEOUT_MS = 2_000;
const IMAGE_TTL_MS = 5 * 60_000;
const IMAGE_CACHE = 200;

/**
 * The product photo for the Flow's Image component, as base64 (the component has no URL form). The endpoint must
 * answer within 10 s (§2.1), so a photo is fetched with a short timeout and kept a few minutes, failures too.
 */
class FlowImages {
  private readonly cache = new Map<string, { at: number; data: string | undefined }>();
  private readonly publicBaseUrl: string;
  constructor(publicBaseUrl: string) {
    this.publicBaseUrl = publicBaseUrl;
  }

  async of(imageUrl: string | undefined, log: Logger): Promise<string | undefined> {
    if (!imageUrl) return undefined;
    const url = imageUrl.startsWith('/') ? `${this.publicBaseUrl}${imageUrl}` : imageUrl;
    const hit = this.cache.get(url);
    if (hit && Date.now() - hit.at < IMAGE_TTL_MS) return hit.data;
    let data: string | undefined;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(IMAGE_TIMEOUT_MS) });
      const type = res.headers.get('content-type') ?? '';
      const body = res.ok && /^image\/(png|jpe?g|webp)/.test(type) ? Buffer.from(await res.arrayBuffer()) : undefined;
      if (!res.ok || !body) await res.body?.cancel();
      data = body && body.length <= MAX_IMAGE_BYTES ? body.toString('base64') : undefined;
    } catch (err) {
      log.info({ error: (err as Error).message }, 'whatsapp flows: product image not fetched; the flow opens without it');
    }
    if (this.cache.size >= IMAGE_CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(url, { at: Date.now(), data });
    return data;
  }
}
