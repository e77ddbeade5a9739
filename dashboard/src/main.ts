import { AuthError, call, session } from './api.ts';
import { clear, h } from './ui.ts';
import { orderPage, ordersPage } from './orders.ts';
import { customersPage } from './customers.ts';
import { catalogPage, productPage } from './catalog.ts';
import { shopPage, shopsPage } from './shops.ts';
import { bookingsPage } from './bookings.ts';
import { promotionsPage } from './promotions.ts';
import type { Ctx, Page, ShopInfo } from './types.ts';

/**
 * The operator's dashboard: one page per area of the back-office API (`/api/admin/*`), chosen by the URL's hash, with
 * the bearer token typed here or passed once as `?token=` (then kept for this tab only). A list refreshes itself every
 * few seconds unless the operator is typing into it.
 */
const REFRESH_MS = 4000;
const SHOP_KEY = 'duka-admin-shop';
const app = document.getElementById('app')!;
const logout = document.getElementById('logout') as HTMLButtonElement;
const nav = document.getElementById('nav')!;
const shopSelect = document.getElementById('shop') as HTMLSelectElement;
const liveMark = document.getElementById('live')!;

const ROUTES: [RegExp, Page][] = [
  [/^#\/orders\/(.+)$/, orderPage],
  [/^#\/customers$/, customersPage],
  [/^#\/catalog\/(new|[^/]+)$/, productPage],
  [/^#\/catalog$/, catalogPage],
  [/^#\/shops\/(new|[^/]+)$/, shopPage],
  [/^#\/shops$/, shopsPage],
  [/^#\/bookings$/, bookingsPage],
  [/^#\/promotions$/, promotionsPage],
  [/^#\/(orders)?$/, ordersPage],
];

let shops: ShopInfo[] = [];
let admin = false;
let live = false;
/** Set when the operator types into the page: a refresh would throw the input away. */
let dirty = false;
let rendering = 0;

function loginForm(message?: string): void {
  live = false;
  logout.hidden = nav.hidden = shopSelect.hidden = liveMark.hidden = true;
  clear(app);
  const token = h('input', { type: 'password', name: 'token', 'aria-label': 'Admin token', placeholder: 'ADMIN_TOKEN or a shop token', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'card login' },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, '`npm start` prints the admin token (also in .data/admin-token). A shop token shows only that shop.'),
    message ? h('p', { class: 'error' }, message) : null,
    token,
    h('button', { type: 'submit' }, 'Open dashboard'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    session.token = token.value.trim();
    void start();
  });
  app.append(form);
  token.focus();
}

function fail(err: unknown): void {
  if (err instanceof AuthError) {
    session.token = '';
    loginForm(`The token was refused: ${err.message}`);
  } else {
    clear(app);
    app.append(h('p', { class: 'error card' }, (err as Error).message));
  }
}

const selectedShop = (): ShopInfo | null => shops.find((s) => s.id === shopSelect.value) ?? null;

const ctx: Ctx = {
  get shops() {
    return shops;
  },
  get shop() {
    return selectedShop();
  },
  get admin() {
    return admin;
  },
  go(hash: string) {
    if (location.hash === hash) void render();
    else location.hash = hash;
  },
  async reloadShops() {
    await loadShops();
  },
  refresh() {
    dirty = false;
    void render();
  },
};

async function loadShops(): Promise<void> {
  shops = (await call<{ shops: ShopInfo[] }>('/shops')).shops;
  const wanted = sessionStorage.getItem(SHOP_KEY) ?? '';
  clear(shopSelect);
  if (admin) shopSelect.append(h('option', { value: '' }, 'All shops'));
  for (const s of shops) shopSelect.append(h('option', { value: s.id }, `${s.name}${s.active ? '' : ' (inactive)'}`));
  shopSelect.value = shops.some((s) => s.id === wanted) ? wanted : admin ? '' : (shops[0]?.id ?? '');
}

/** Renders the page the hash names; `quiet` (a live refresh) keeps the page as it is when something fails. */
async function render(quiet = false): Promise<void> {
  if (!session.token) return loginForm();
  const hash = location.hash || '#/orders';
  const route = ROUTES.find(([re]) => re.test(hash)) ?? ROUTES.at(-1)!;
  const params = route[0].exec(hash)?.slice(1).map((p) => (p === undefined ? '' : decodeURIComponent(p))) ?? [];
  const page = hash.split('/')[1] || 'orders';
  for (const a of Array.from(nav.querySelectorAll('a'))) a.classList.toggle('active', a.dataset.page === page);
  const mine = ++rendering;
  if (!quiet) live = false; // no refresh of the page being left while the next one loads
  try {
    const view = await route[1](ctx, params);
    if (mine !== rendering) return; // a newer render started meanwhile
    if (quiet && (dirty || !live)) return;
    const scroll = window.scrollY;
    clear(app);
    app.append(view.node);
    if (quiet) window.scrollTo(0, scroll);
    else dirty = false;
    live = view.live ?? false;
    liveMark.hidden = !live;
  } catch (err) {
    if (quiet && !(err instanceof AuthError)) return;
    fail(err);
  }
}

async function start(): Promise<void> {
  if (!session.token) return loginForm();
  try {
    // A shop token asking for another shop's numbers gets 403 (no shop has the id "-"): that is how the page knows
    // whether it serves the operator of every shop or one shop.
    admin = await call('/stats?shop=-').then(
      () => true,
      (err: unknown) => {
        if (err instanceof AuthError) throw err;
        return false;
      },
    );
    await loadShops();
  } catch (err) {
    return fail(err);
  }
  logout.hidden = nav.hidden = shopSelect.hidden = false;
  await render();
}

const params = new URLSearchParams(location.search);
const fromUrl = params.get('token');
if (fromUrl) {
  session.token = fromUrl;
  params.delete('token');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`);
}
logout.addEventListener('click', () => {
  session.token = '';
  loginForm();
});
shopSelect.addEventListener('change', () => {
  sessionStorage.setItem(SHOP_KEY, shopSelect.value);
  ctx.refresh();
});
app.addEventListener('input', () => (dirty = true));
// Adding a size or an add-on row changes a form as much as typing does.
app.addEventListener('click', (e) => {
  if (e.target instanceof Element && e.target.closest('form')) dirty = true;
});
window.addEventListener('hashchange', () => ctx.refresh());
setInterval(() => {
  const focused = document.activeElement;
  const typing = focused instanceof HTMLElement && app.contains(focused) && /^(INPUT|SELECT|TEXTAREA)$/.test(focused.tagName);
  if (live && !dirty && !typing && document.visibilityState === 'visible' && session.token) void render(true);
}, REFRESH_MS);
void start();
