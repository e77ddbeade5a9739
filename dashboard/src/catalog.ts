import { call, query } from './api.ts';
import { amountOf, checkbox, chip, field, h, input, money, onSubmit, outcome, select, table, toMajor, when } from './ui.ts';
import type { Ctx, Page, ShopInfo, View } from './types.ts';

interface Category { id: string; name: string; description: string | null; position: number; active: boolean }
interface Option { id?: string; name: string; priceDelta: number; available?: boolean }
interface Group { id?: string; name: string; minSelect: number; maxSelect: number; options: Option[] }
interface Product {
  id: string;
  retailerId: string;
  name: string;
  description: string | null;
  price: number;
  currency: string;
  categoryId: string | null;
  imageUrl: string | null;
  available: boolean;
  stock: number | null;
  stockReserved: number;
  stockAvailable: number | null;
  position: number;
  presentations: { id?: string; name: string; price: number }[];
  modifierGroups: Group[];
}

/** GET /api/admin/shops/:shopId/catalog/sync (api/routes/catalog-sync.ts). */
interface SyncReport { status: string; total: number; synced: number; failed: number; pending: number; errors: { retailerId: string; message: string }[]; finishedAt: string | null; error: string | null }

const SYNC_TONE: Record<string, string> = { completed: 'paid', failed: 'cancelled', running: 'pending', pending: 'pending', never: 'expired', no_catalog: 'expired' };

/** The shop's Meta catalog: how many products WhatsApp has, which Meta refused and why, and a button to sync now. */
function syncSection(report: SyncReport | null, sync: () => void): HTMLElement {
  if (!report) return h('section', { class: 'card', 'data-catalog-sync': '' }, h('h2', {}, 'WhatsApp catalog'), h('p', { class: 'muted' }, 'The sync report did not load.'));
  return h(
    'section',
    { class: 'card', 'data-catalog-sync': report.status },
    h('h2', {}, 'WhatsApp catalog ', chip(report.status.toUpperCase(), SYNC_TONE[report.status] ?? 'pending')),
    report.status === 'no_catalog'
      ? h('p', { class: 'muted' }, 'This shop has no Meta catalog id: set catalogId on the shop to sync its products to WhatsApp.')
      : h(
          'p',
          {},
          `${report.synced} of ${report.total} products in WhatsApp's catalog`,
          report.failed ? ` · ${report.failed} failed` : '',
          report.pending ? ` · ${report.pending} waiting` : '',
          ` · last sync ${when(report.finishedAt)} `,
          h('button', { type: 'button', class: 'small', 'data-sync-now': '1', onclick: sync }, 'Sync now'),
        ),
    report.error ? h('p', { class: 'muted' }, `Meta: ${report.error}`) : null,
    report.errors.length
      ? table('catalog-errors', ['Retailer id', 'Why it is not in WhatsApp\'s catalog'], report.errors.map((e) => ({ attrs: { 'data-retailer-id': e.retailerId }, cells: [e.retailerId, e.message] })))
      : null,
  );
}

/** Catalog pages work on one shop: the one picked in the top bar, else the first this token sees. */
export function shopFor(ctx: Ctx): ShopInfo | null {
  return ctx.shop ?? ctx.shops[0] ?? null;
}
export const noShop: View = { node: h('p', { class: 'card muted' }, 'No shop yet: open one under Shops.') };
const base = (shop: ShopInfo) => `/shops/${encodeURIComponent(shop.id)}`;

function stockText(p: Product) {
  if (p.stock === null) return 'unlimited';
  return `${p.stockAvailable} left${p.stockReserved ? ` (${p.stockReserved} held by orders)` : ''}`;
}

/** Categories (add, show or hide) and products as cards with photo, price and stock. */
export const catalogPage: Page = async (ctx) => {
  const shop = shopFor(ctx);
  if (!shop) return noShop;
  const [{ categories }, { products }, report] = await Promise.all([
    call<{ categories: Category[] }>(`${base(shop)}/categories`),
    call<{ products: Product[] }>(`${base(shop)}/products${query({})}`),
    call<SyncReport>(`${base(shop)}/catalog/sync`).catch(() => null),
  ]);
  const out = outcome();
  const run = (work: () => Promise<unknown>, done: string) => {
    out.working();
    return work().then(() => (out.done(done), ctx.refresh()), (err: unknown) => out.refused(err));
  };
  const newName = input('category-name', '', { placeholder: 'New category', 'aria-label': 'New category name', required: true, maxlength: 200 });
  const addCategory = h('form', { class: 'inline-form' }, newName, h('button', { type: 'submit' }, 'Add category'));
  addCategory.addEventListener('submit', (e) => {
    e.preventDefault();
    void run(() => call(`${base(shop)}/categories`, { method: 'POST', body: { name: newName.value, position: categories.length } }), `Category ${newName.value} added.`);
  });
  const names = new Map(categories.map((c) => [c.id, c.name]));
  return {
    live: true,
    node: h(
      'div',
      {},
      h('div', { class: 'heading' }, h('h1', {}, `Catalog · ${shop.name}`), h('a', { class: 'button', href: '#/catalog/new' }, '+ New product')),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Categories'),
        table(
          'categories',
          ['Name', 'Products', 'Shown to customers', ''],
          categories.map((c) => ({
            attrs: { 'data-category': c.id },
            cells: [
              c.name,
              products.filter((p) => p.categoryId === c.id).length,
              c.active ? chip('SHOWN', 'paid') : chip('HIDDEN', 'cancelled'),
              h('button', { type: 'button', class: 'small', onclick: () => void run(() => call(`${base(shop)}/categories/${c.id}`, { method: 'PATCH', body: { active: !c.active } }), `${c.name} ${c.active ? 'hidden' : 'shown'}.`) }, c.active ? 'Hide' : 'Show'),
            ],
          })),
          'No categories yet.',
        ),
        addCategory,
        out.el,
      ),
      syncSection(report, () => void run(() => call(`${base(shop)}/catalog/sync`, { method: 'POST', body: {} }), 'Catalog sync asked for: every product is sent again.')),
      h(
        'section',
        { class: 'products' },
        ...products.map((p) =>
          h(
            'a',
            { class: `card product${p.available ? '' : ' off'}`, href: `#/catalog/${encodeURIComponent(p.id)}`, 'data-product': p.retailerId },
            p.imageUrl ? h('img', { src: p.imageUrl, alt: p.name, loading: 'lazy' }) : h('div', { class: 'noimg' }, 'no photo'),
            h('strong', {}, p.name),
            h('span', { class: 'price' }, money(p.price, p.currency), p.presentations.length ? h('span', { class: 'muted' }, ` · ${p.presentations.length} sizes`) : null),
            h('span', { class: 'muted' }, `${names.get(p.categoryId ?? '') ?? 'no category'} · ${p.retailerId}`),
            h('span', { class: 'stock' }, `Stock: ${stockText(p)}`),
            p.stockAvailable === 0 ? chip('SOLD_OUT', 'cancelled') : null,
            p.available ? null : chip('UNAVAILABLE', 'expired'),
          ),
        ),
        products.length ? null : h('p', { class: 'muted' }, 'No products yet.'),
      ),
    ),
  };
};

/** A repeatable row of inputs (sizes, add-on options) with a remove button. */
function rows<T>(container: HTMLElement, make: (value?: T) => HTMLElement, values: T[]) {
  const add = (value?: T) => {
    const row = make(value);
    row.append(h('button', { type: 'button', class: 'small danger', 'aria-label': 'Remove', onclick: () => row.remove() }, '✕'));
    container.append(row);
  };
  values.forEach((v) => add(v));
  return add;
}

/** Create or edit one product: price, photo, stock, availability, sizes and add-on groups. */
export const productPage: Page = async (ctx, [productId = 'new']) => {
  const shop = shopFor(ctx);
  if (!shop) return noShop;
  const cur = shop.currency;
  const [{ categories }, product] = await Promise.all([
    call<{ categories: Category[] }>(`${base(shop)}/categories`),
    productId === 'new' ? Promise.resolve(null) : call<Product>(`${base(shop)}/products/${encodeURIComponent(productId)}`),
  ]);
  const p = product;
  const out = outcome();
  const f = {
    retailerId: input('retailerId', p?.retailerId, { required: true, maxlength: 100 }),
    name: input('name', p?.name, { required: true, maxlength: 200 }),
    description: h('textarea', { name: 'description', rows: 2, maxlength: 4000 }, p?.description ?? ''),
    category: select('categoryId', [['', '— none —'], ...categories.map((c): [string, string] => [c.id, c.name])], p?.categoryId ?? ''),
    price: input('price', p ? toMajor(p.price, cur) : '', { required: true, inputmode: 'decimal' }),
    imageUrl: input('imageUrl', p?.imageUrl, { placeholder: 'https://… or /path', maxlength: 1000 }),
    stock: input('stock', p?.stock, { type: 'number', min: 0, step: 1, placeholder: 'unlimited' }),
    available: checkbox('available', p?.available ?? true),
    position: input('position', p?.position ?? 0, { type: 'number', min: 0, step: 1 }),
  };
  // Always in place (a fixed box), so the form does not jump when a photo appears.
  const preview = h('img', { class: 'preview', alt: 'photo preview', ...(p?.imageUrl && { src: p.imageUrl }) });
  f.imageUrl.addEventListener('input', () => (f.imageUrl.value.trim() ? (preview.src = f.imageUrl.value.trim()) : preview.removeAttribute('src')));

  const sizes = h('div', { class: 'repeat', id: 'sizes' });
  const addSize = rows<{ id?: string; name: string; price: number }>(sizes, (s) => h('div', { class: 'row', 'data-id': s?.id ?? '' }, input('size-name', s?.name, { placeholder: 'Size', 'aria-label': 'Size name' }), input('size-price', s ? toMajor(s.price, cur) : '', { placeholder: `Price (${cur})`, inputmode: 'decimal', 'aria-label': 'Size price' })), p?.presentations ?? []);

  const groups = h('div', { class: 'groups', id: 'addons' });
  const addGroup = (g?: Group) => {
    const options = h('div', { class: 'repeat' });
    const box = h(
      'fieldset',
      { class: 'group', 'data-id': g?.id ?? '' },
      h('legend', {}, 'Add-on group'),
      h('div', { class: 'row' }, input('group-name', g?.name, { placeholder: 'e.g. Extras', 'aria-label': 'Group name' }), input('group-min', g?.minSelect ?? 0, { type: 'number', min: 0, max: 10, 'aria-label': 'Least to choose' }), input('group-max', g?.maxSelect ?? 1, { type: 'number', min: 1, max: 10, 'aria-label': 'Most to choose' })),
      options,
    );
    const addOption = rows<Option>(options, (o) => h('div', { class: 'row option', 'data-id': o?.id ?? '' }, input('option-name', o?.name, { placeholder: 'Option', 'aria-label': 'Option name' }), input('option-price', o ? toMajor(o.priceDelta, cur) : '0', { inputmode: 'decimal', 'aria-label': `Extra price (${cur})` })), g?.options ?? [{ name: '', priceDelta: 0 }]);
    box.append(h('button', { type: 'button', class: 'small', onclick: () => addOption() }, '+ option'), h('button', { type: 'button', class: 'small danger', onclick: () => box.remove() }, 'Remove group'));
    groups.append(box);
  };
  (p?.modifierGroups ?? []).forEach(addGroup);

  const value = (root: Element, name: string) => (root.querySelector(`[name="${name}"]`) as HTMLInputElement).value.trim();
  const money$ = (root: Element, name: string, label: string) => amountOf(root.querySelector(`[name="${name}"]`) as HTMLInputElement, cur, label);
  const idOf = (el: Element) => ((el as HTMLElement).dataset.id ? { id: (el as HTMLElement).dataset.id! } : {});
  function body() {
    return {
      retailerId: f.retailerId.value.trim(),
      name: f.name.value.trim(),
      description: f.description.value.trim() || null,
      categoryId: f.category.value || null,
      price: amountOf(f.price, cur, 'Price'),
      imageUrl: f.imageUrl.value.trim() || null,
      stock: f.stock.value.trim() === '' ? null : Number(f.stock.value),
      available: f.available.checked,
      position: Number(f.position.value || 0),
      presentations: Array.from(sizes.children).map((r) => ({ ...idOf(r), name: value(r, 'size-name'), price: money$(r, 'size-price', 'Size price') })),
      modifierGroups: Array.from(groups.children).map((g) => ({
        ...idOf(g),
        name: value(g, 'group-name'),
        minSelect: Number(value(g, 'group-min')),
        maxSelect: Number(value(g, 'group-max')),
        options: Array.from(g.querySelectorAll('.option')).map((o) => ({ ...idOf(o), name: value(o, 'option-name'), priceDelta: money$(o, 'option-price', 'Option price') })),
      })),
    };
  }
  const form = h(
    'form',
    { class: 'card form', id: 'product-form' },
    h('h1', {}, p ? `Edit ${p.name}` : `New product · ${shop.name}`),
    p ? h('p', { class: 'muted' }, `Stock: ${stockText(p)}`) : null,
    h('div', { class: 'grid' }, field('Retailer id (SKU)', f.retailerId), field('Name', f.name), field(`Price (${cur})`, f.price), field('Category', f.category), field('Stock', f.stock, 'empty = unlimited'), field('Position', f.position)),
    field('Description', f.description),
    field('Photo URL', f.imageUrl),
    preview,
    h('label', { class: 'inline' }, f.available, ' Available to customers'),
    h('h2', {}, 'Sizes'),
    h('p', { class: 'muted' }, 'Each size has its own price (leave none for one price).'),
    sizes,
    h('button', { type: 'button', class: 'small', onclick: () => addSize() }, '+ size'),
    h('h2', {}, 'Add-ons'),
    groups,
    h('button', { type: 'button', class: 'small', onclick: () => addGroup() }, '+ add-on group'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, p ? 'Save product' : 'Create product'), h('a', { href: '#/catalog' }, 'Back to catalog')),
    out.el,
  );
  onSubmit(form, out, async () => {
    const saved = await call<Product>(p ? `${base(shop)}/products/${p.id}` : `${base(shop)}/products`, { method: p ? 'PATCH' : 'POST', body: body() });
    out.done(`Saved ${saved.name}.`);
    ctx.go('#/catalog');
  });
  if (p) {
    form.append(
      h('button', {
        type: 'button',
        class: 'danger',
        'data-action': 'delete',
        onclick: () => {
          if (!confirm(`Delete ${p.name}? Orders keep their own copy.`)) return;
          call(`${base(shop)}/products/${p.id}`, { method: 'DELETE' }).then(() => ctx.go('#/catalog'), (err: unknown) => out.refused(err));
        },
      }, 'Delete product'),
    );
  }
  return { node: form };
};
