import { call } from './api.ts';
import { METHODS, amountOf, checkbox, chip, field, h, input, onSubmit, outcome, select, table, toMajor, when } from './ui.ts';
import type { Page, ShopInfo } from './types.ts';

interface Token { id: string; name: string | null; prefix: string; createdAt: string; revokedAt: string | null }

const CURRENCIES = ['KES', 'USD', 'INR'];
const LANGUAGES = ['en', 'sw'];

/** Every shop this token sees (a shop token: its own). */
export const shopsPage: Page = async (ctx) => {
  await ctx.reloadShops();
  return {
    live: true,
    node: h(
      'div',
      {},
      h('div', { class: 'heading' }, h('h1', {}, 'Shops'), ctx.admin ? h('a', { class: 'button', href: '#/shops/new' }, '+ New shop') : null),
      table(
        'shops',
        ['Shop', 'WhatsApp', 'Currency', 'Payment methods', 'Status'],
        ctx.shops.map((s) => ({
          attrs: { 'data-shop': s.id },
          cells: [[h('a', { href: `#/shops/${encodeURIComponent(s.id)}` }, s.name), h('div', { class: 'muted' }, `${s.id} · ${s.orderPrefix}`)], `+${s.displayPhone.replace(/^\+/, '')}`, s.currency, s.paymentMethods.join(', '), s.active ? chip('ACTIVE', 'paid') : chip('INACTIVE', 'cancelled')],
        })),
        'No shops yet.',
      ),
    ),
  };
};

/** Create (admin) or edit a shop, and its API tokens: issued (shown once), listed by prefix, revoked. */
export const shopPage: Page = async (ctx, [shopId = 'new']) => {
  const s: ShopInfo | null = shopId === 'new' ? null : await call<ShopInfo>(`/shops/${encodeURIComponent(shopId)}`);
  const out = outcome();
  const cur = s?.currency ?? 'USD';
  const f = {
    name: input('name', s?.name, { required: true, maxlength: 100 }),
    phoneNumberId: input('phoneNumberId', s?.phoneNumberId, { required: true, inputmode: 'numeric' }),
    displayPhone: input('displayPhone', s?.displayPhone, { required: true, inputmode: 'tel' }),
    businessAccountId: input('businessAccountId', s?.whatsapp.businessAccountId, { inputmode: 'numeric' }),
    accessToken: input('accessToken', '', { type: 'password', autocomplete: 'off', placeholder: s?.whatsapp.accessTokenSet ? 'set: type to replace' : 'the environment\'s is used' }),
    currency: select('currency', CURRENCIES, cur),
    country: input('country', s?.country, { required: true, maxlength: 2, placeholder: 'KE' }),
    timezone: input('timezone', s?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone, { required: true }),
    deliveryFee: input('deliveryFee', s ? toMajor(s.deliveryFee, cur) : '0', { inputmode: 'decimal' }),
    tax: input('tax', s ? s.taxRateBasisPoints / 100 : 0, { type: 'number', min: 0, max: 100, step: 0.01 }),
    preparation: input('preparationMinutes', s?.preparationMinutes ?? 0, { type: 'number', min: 0 }),
    delivery: checkbox('deliveryAvailable', s?.deliveryAvailable ?? true),
    pickup: checkbox('pickupAvailable', s?.pickupAvailable ?? true),
    active: checkbox('active', s?.active ?? true),
  };
  const languages = LANGUAGES.map((l) => [l, checkbox(`lang-${l}`, s ? s.languages.includes(l) : l === 'en')] as const);
  const methods = METHODS.map((m) => [m, checkbox(`method-${m}`, s?.paymentMethods.includes(m) ?? false)] as const);
  const picked = (boxes: readonly (readonly [string, HTMLInputElement])[]) => boxes.filter(([, b]) => b.checked).map(([v]) => v);
  const body = () => {
    const currency = f.currency.value;
    const whatsapp = f.accessToken.value.trim() ? { whatsapp: { accessToken: f.accessToken.value.trim(), ...(f.businessAccountId.value.trim() && { businessAccountId: f.businessAccountId.value.trim() }) } } : {};
    return {
      name: f.name.value.trim(),
      phoneNumberId: f.phoneNumberId.value.trim(),
      displayPhone: f.displayPhone.value.trim(),
      currency,
      country: f.country.value.trim().toUpperCase(),
      timezone: f.timezone.value.trim(),
      languages: picked(languages),
      paymentMethods: picked(methods),
      deliveryFee: amountOf(f.deliveryFee, currency, 'Delivery fee'),
      taxRateBasisPoints: Math.round(Number(f.tax.value || 0) * 100),
      preparationMinutes: Number(f.preparation.value || 0),
      deliveryAvailable: f.delivery.checked,
      pickupAvailable: f.pickup.checked,
      ...(s && ctx.admin && f.active.checked !== s.active ? { active: f.active.checked } : {}),
      ...whatsapp,
    };
  };
  const form = h(
    'form',
    { class: 'card form', id: 'shop-form' },
    h('h1', {}, s ? `Shop · ${s.name}` : 'New shop'),
    s ? h('p', { class: 'muted' }, `${s.id} · orders ${s.orderPrefix}-… · payment credentials of its own: ${s.credentialsSet.join(', ') || 'none (the environment\'s)'}`) : null,
    h('div', { class: 'grid' }, field('Name', f.name), field('WhatsApp phone number id', f.phoneNumberId), field('Display number', f.displayPhone), field('Business account id', f.businessAccountId), field('WhatsApp access token', f.accessToken, 'write-only: never shown again'), field('Currency', f.currency), field('Country', f.country), field('Time zone', f.timezone), field(`Delivery fee`, f.deliveryFee), field('Tax %', f.tax), field('Preparation (minutes)', f.preparation)),
    h('fieldset', {}, h('legend', {}, 'Languages'), ...languages.map(([l, b]) => h('label', { class: 'inline' }, b, ` ${l}`))),
    h('fieldset', {}, h('legend', {}, 'Payment methods'), ...methods.map(([m, b]) => h('label', { class: 'inline' }, b, ` ${m}`))),
    h('label', { class: 'inline' }, f.delivery, ' Delivery'),
    h('label', { class: 'inline' }, f.pickup, ' Pickup'),
    s && ctx.admin ? h('label', { class: 'inline' }, f.active, ' Active (inactive: no WhatsApp message reaches it; nothing is deleted)') : null,
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, s ? 'Save shop' : 'Open shop'), h('a', { href: '#/shops' }, 'All shops')),
    out.el,
  );
  onSubmit(form, out, async () => {
    const saved = await call<ShopInfo>(s ? `/shops/${encodeURIComponent(s.id)}` : '/shops', { method: s ? 'PATCH' : 'POST', body: body() });
    await ctx.reloadShops();
    out.done(`Saved ${saved.name}.`);
    if (!s) ctx.go(`#/shops/${encodeURIComponent(saved.id)}`);
  });
  return { node: h('div', {}, h('p', {}, h('a', { href: '#/shops' }, '← All shops')), form, s ? await tokensCard(s) : null) };
};

async function tokensCard(s: ShopInfo): Promise<HTMLElement> {
  const path = `/shops/${encodeURIComponent(s.id)}/tokens`;
  const list = h('div', {});
  const shown = h('div', { id: 'new-token' });
  const out = outcome();
  const load = async () => {
    const { tokens } = await call<{ tokens: Token[] }>(path);
    list.replaceChildren(
      table(
        'tokens',
        ['Token', 'Name', 'Issued', 'Status', ''],
        tokens.map((t) => ({
          attrs: { 'data-token': t.id },
          cells: [h('code', {}, `${t.prefix}…`), t.name ?? '', when(t.createdAt), t.revokedAt ? chip('REVOKED', 'cancelled') : chip('ACTIVE', 'paid'), t.revokedAt ? '' : h('button', { type: 'button', class: 'small danger', 'data-action': 'revoke', onclick: () => void revoke(t) }, 'Revoke')],
        })),
        'No tokens issued.',
      ),
    );
  };
  const revoke = async (t: Token) => {
    if (!confirm(`Revoke ${t.prefix}…? Anything using it is refused from the next request.`)) return;
    try {
      await call(`${path}/${t.id}`, { method: 'DELETE' });
      out.done(`Revoked ${t.prefix}….`);
      await load();
    } catch (err) {
      out.refused(err);
    }
  };
  const name = input('token-name', '', { placeholder: 'e.g. till, Shopify', 'aria-label': 'Token name', maxlength: 100 });
  const issue = h('form', { class: 'inline-form' }, name, h('button', { type: 'submit', 'data-action': 'issue' }, 'Issue token'));
  onSubmit(issue, out, async () => {
    const t = await call<Token & { token: string }>(path, { method: 'POST', body: name.value.trim() ? { name: name.value.trim() } : {} });
    name.value = '';
    out.done(`Issued ${t.prefix}….`);
    shown.replaceChildren(h('div', { class: 'once' }, h('strong', {}, 'Copy this token now: it is shown only once.'), h('code', { class: 'token' }, t.token)));
    await load();
  });
  await load();
  return h('section', { class: 'card' }, h('h2', {}, 'API tokens'), h('p', { class: 'muted' }, `A token sees and changes only ${s.name}.`), shown, list, issue, out.el);
}
