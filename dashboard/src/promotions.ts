import { call, query } from './api.ts';
import { LIST_LIMIT, amountOf, checkbox, chip, field, h, input, money, moreThanShown, onSubmit, outcome, select, table, when } from './ui.ts';
import { noShop, shopFor } from './catalog.ts';
import type { Page } from './types.ts';

interface Promotion { id: string; title: string; description: string | null; percentOff: number | null; amountOff: number | null; productIds: string[]; categoryIds: string[]; startsAt: string | null; endsAt: string | null; active: boolean; running: boolean }
interface Named { id: string; name: string }

/** `datetime-local` text (the browser's time zone) → ISO 8601 with an offset, or undefined when empty. */
const isoOf = (value: string) => (value ? new Date(value).toISOString() : undefined);

/** Promotions: percentage or amount off some products or categories (none: everything), between optional dates. */
export const promotionsPage: Page = async (ctx) => {
  const shop = shopFor(ctx);
  if (!shop) return noShop;
  const base = `/shops/${encodeURIComponent(shop.id)}`;
  const [{ promotions, nextCursor }, { products }, { categories }] = await Promise.all([
    call<{ promotions: Promotion[]; nextCursor: string | null }>(`${base}/promotions${query({ limit: LIST_LIMIT })}`),
    call<{ products: Named[] }>(`${base}/products`),
    call<{ categories: Named[] }>(`${base}/categories`),
  ]);
  const cur = shop.currency;
  const names = new Map([...products, ...categories].map((x) => [x.id, x.name]));
  const out = outcome();
  const run = (work: () => Promise<unknown>) => {
    out.working();
    return work().then(() => ctx.refresh(), (err: unknown) => out.refused(err));
  };
  const f = {
    title: input('title', '', { required: true, maxlength: 100 }),
    description: input('description', '', { maxlength: 500 }),
    kind: select('kind', [['percent', '% off each line'], ['amount', `${cur} off each unit`]], 'percent'),
    value: input('value', '', { required: true, inputmode: 'decimal' }),
    startsAt: input('startsAt', '', { type: 'datetime-local' }),
    endsAt: input('endsAt', '', { type: 'datetime-local' }),
    active: checkbox('active', true),
  };
  const scope = (list: Named[], kind: string) => list.map((x) => [x.id, checkbox(`${kind}-${x.id}`, false), x.name] as const);
  const productBoxes = scope(products, 'product');
  const categoryBoxes = scope(categories, 'category');
  const picked = (boxes: readonly (readonly [string, HTMLInputElement, string])[]) => boxes.filter(([, b]) => b.checked).map(([id]) => id);
  const form = h(
    'form',
    { class: 'card form', id: 'promotion-form' },
    h('h2', {}, 'New promotion'),
    h('div', { class: 'grid' }, field('Title', f.title), field('Description', f.description), field('Discount', f.kind), field('Amount', f.value, '% or money'), field('Starts', f.startsAt), field('Ends', f.endsAt)),
    h('fieldset', {}, h('legend', {}, 'Categories (none and no products: everything)'), ...categoryBoxes.map(([, b, n]) => h('label', { class: 'inline' }, b, ` ${n}`))),
    h('fieldset', {}, h('legend', {}, 'Products'), ...productBoxes.map(([, b, n]) => h('label', { class: 'inline' }, b, ` ${n}`))),
    h('label', { class: 'inline' }, f.active, ' Active'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Add promotion')),
    out.el,
  );
  onSubmit(form, out, async () => {
    await run(async () => {
      const discount = f.kind.value === 'percent' ? { percentOff: Number(f.value.value) } : { amountOff: amountOf(f.value, cur, 'Amount') };
      const startsAt = isoOf(f.startsAt.value);
      const endsAt = isoOf(f.endsAt.value);
      await call(`${base}/promotions`, {
        method: 'POST',
        body: {
          title: f.title.value.trim(),
          ...(f.description.value.trim() && { description: f.description.value.trim() }),
          ...discount,
          productIds: picked(productBoxes),
          categoryIds: picked(categoryBoxes),
          ...(startsAt && { startsAt }),
          ...(endsAt && { endsAt }),
          active: f.active.checked,
        },
      });
    });
  });
  const scopeText = (p: Promotion) => (p.productIds.length || p.categoryIds.length ? [...p.categoryIds, ...p.productIds].map((id) => names.get(id) ?? id).join(', ') : 'everything');
  return {
    live: true,
    node: h(
      'div',
      {},
      h('h1', {}, `Promotions · ${shop.name}`),
      table(
        'promotions',
        ['Promotion', 'Discount', 'On', 'From', 'Until', 'Status', ''],
        promotions.map((p) => ({
          attrs: { 'data-promotion': p.id },
          cells: [
            [p.title, p.description ? h('div', { class: 'muted' }, p.description) : null],
            p.percentOff !== null ? `${p.percentOff}% off` : `${money(p.amountOff ?? 0, cur)} off each`,
            scopeText(p),
            when(p.startsAt),
            when(p.endsAt),
            p.running ? chip('RUNNING', 'paid') : p.active ? chip('SCHEDULED', 'pending') : chip('OFF', 'cancelled'),
            [
              h('button', { type: 'button', class: 'small', onclick: () => void run(() => call(`${base}/promotions/${p.id}`, { method: 'PATCH', body: { active: !p.active } })) }, p.active ? 'Turn off' : 'Turn on'),
              h('button', { type: 'button', class: 'small danger', onclick: () => confirm(`Delete ${p.title}?`) && void run(() => call(`${base}/promotions/${p.id}`, { method: 'DELETE' })) }, 'Delete'),
            ],
          ],
        })),
        'No promotions yet.',
      ),
      moreThanShown(nextCursor, 'promotions'),
      form,
    ),
  };
};
