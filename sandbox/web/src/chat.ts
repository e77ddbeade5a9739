import { api, clear, h, money } from './dom.ts';
import { renderEntry, type Actions } from './render.ts';
import { openFlow } from './flow.ts';
import { loadSimState, renderOrderPanel, renderSimPanel, type PanelData, type SimState } from './panel.ts';
import type { ChatEntry, Json, Outgoing, Prompt, ShopInfo } from './types.ts';

/**
 * The sandbox chat: the customer's side of WhatsApp. Everything the customer does is sent to the sandbox server, which
 * posts it to duka as a signed Meta webhook; everything duka sends arrives through the Graph API stand-in and comes
 * back here over server-sent events, with the phone prompts of the payment simulators.
 */
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const els = {
  shop: $<HTMLSelectElement>('shop'),
  customer: $<HTMLInputElement>('customer'),
  name: $<HTMLInputElement>('name'),
  newCustomer: $<HTMLButtonElement>('new-customer'),
  temporal: $<HTMLAnchorElement>('temporal-link'),
  avatar: $('shop-avatar'),
  shopName: $('shop-name'),
  shopSub: $('shop-sub'),
  messages: $('messages'),
  composer: $<HTMLFormElement>('composer'),
  text: $<HTMLInputElement>('text'),
  attach: $<HTMLButtonElement>('attach'),
  sheet: $('sheet'),
  prompt: $('prompt'),
  browser: $('browser'),
  sms: $('sms'),
  toast: $('toast'),
  order: $('order-panel'),
  sims: $('sim-panel'),
};

const DEFAULTS: Record<string, { number: string; name: string; place: { latitude: number; longitude: number; name: string; address: string } }> = {
  KE: { number: '254712345678', name: 'Wanjiru', place: { latitude: -1.28333, longitude: 36.81667, name: 'Kenyatta Avenue', address: 'Kenyatta Ave, Nairobi' } },
  ZW: { number: '263771234567', name: 'Tendai', place: { latitude: -17.8292, longitude: 31.0522, name: 'First Street', address: 'First St, Harare' } },
  IN: { number: '919812345678', name: 'Priya', place: { latitude: 18.5204, longitude: 73.8567, name: 'FC Road', address: 'Fergusson College Rd, Pune' } },
};
const PREFIX: Record<string, string> = { KE: '2547', ZW: '26377', IN: '9198' };

const state: {
  shops: ShopInfo[];
  shop: ShopInfo | null;
  customer: string;
  entries: ChatEntry[];
  events: EventSource | null;
  sims: SimState | null;
  panelTimer: ReturnType<typeof setTimeout> | null;
  typingUntil: number;
  generation: number;
} = { shops: [], shop: null, customer: '', entries: [], events: null, sims: null, panelTimer: null, typingUntil: 0, generation: 0 };

const stored = (key: string) => localStorage.getItem(`duka-sandbox:${key}`);
const store = (key: string, value: string) => localStorage.setItem(`duka-sandbox:${key}`, value);
const chatQuery = () => `phoneNumberId=${encodeURIComponent(state.shop?.phoneNumberId ?? '')}&from=${encodeURIComponent(state.customer)}`;
const last9 = (phone: string | null | undefined) => (phone ?? '').replace(/\D/g, '').slice(-9);

function toast(text: string, ms = 3000): void {
  els.toast.textContent = text;
  els.toast.hidden = false;
  setTimeout(() => (els.toast.hidden = true), ms);
}

// ---- chat ------------------------------------------------------------------------------------------------------------
const actions: Actions = {
  send: (m) => void send(m),
  openList,
  openCatalog,
  openUrl,
  openFlow: (entry, parameters) => {
    const shop = state.shop;
    if (!shop) return;
    void openFlow(
      {
        phoneNumberId: shop.phoneNumberId,
        from: state.customer,
        contextId: entry.id,
        open: (title) => {
          const content = h('div', { class: 'rows' });
          sheet(title, content);
          return content;
        },
        close: closeSheet,
        toast,
      },
      parameters,
    );
  },
};

function renderAll(): void {
  clear(els.messages);
  if (!state.shop) return;
  els.messages.append(h('div', { class: 'notice' }, '🔒 This is the duka sandbox: messages go to duka as signed WhatsApp webhooks.'));
  for (const e of state.entries) els.messages.append(renderEntry(e, state.shop, actions, byId));
  els.messages.scrollTop = els.messages.scrollHeight;
}

const byId = (id: string) => state.entries.find((e) => e.id === id);

function upsert(entry: ChatEntry): void {
  const i = state.entries.findIndex((e) => e.id === entry.id);
  if (i >= 0) state.entries[i] = entry;
  else state.entries.push(entry);
  if (!state.shop) return;
  const row = renderEntry(entry, state.shop, actions, byId);
  const old = els.messages.querySelector(`[data-id="${CSS.escape(entry.id)}"]`);
  if (old) old.replaceWith(row);
  else {
    const atBottom = els.messages.scrollHeight - els.messages.scrollTop - els.messages.clientHeight < 80;
    els.messages.append(row);
    if (atBottom || entry.direction === 'in') els.messages.scrollTop = els.messages.scrollHeight;
  }
  if (entry.direction === 'out') setTyping(false);
}

function setStatus(id: string, status: ChatEntry['status'], error?: string): void {
  const e = byId(id);
  if (!e) return;
  e.status = status;
  if (error) e.error = error;
  upsert(e);
}

function setTyping(on: boolean): void {
  state.typingUntil = on ? Date.now() + 25_000 : 0;
  els.shopSub.textContent = on ? 'typing…' : 'business account';
  if (on) setTimeout(() => state.typingUntil < Date.now() && setTyping(false), 25_500);
}

async function send(message: Outgoing): Promise<void> {
  if (!state.shop || !validCustomer()) return;
  closeSheet();
  try {
    await api('api/send', { json: { phoneNumberId: state.shop.phoneNumberId, from: state.customer, name: els.name.value.trim() || undefined, message } });
  } catch (err) {
    toast(`Not sent: ${(err as Error).message}`, 5000);
  }
  schedulePanel(300);
}

function validCustomer(): boolean {
  const ok = /^\d{8,15}$/.test(state.customer);
  els.customer.classList.toggle('invalid', !ok);
  if (!ok) toast('The customer number is digits with the country code, e.g. 254712345678');
  return ok;
}

// ---- sheets: list rows, catalog, attach, location ---------------------------------------------------------------------
function closeSheet(): void {
  els.sheet.hidden = true;
  clear(els.sheet);
}

function sheet(title: string, ...content: HTMLElement[]): HTMLElement {
  clear(els.sheet);
  const panel = h('div', { class: 'sheet', role: 'dialog', 'aria-label': title }, h('div', { class: 'sheet-head' }, h('button', { type: 'button', class: 'icon', 'aria-label': 'Close', onclick: closeSheet }, '✕'), h('strong', {}, title)), ...content);
  els.sheet.append(h('div', { class: 'scrim', onclick: closeSheet }), panel);
  els.sheet.hidden = false;
  return panel;
}

function openList(entry: ChatEntry, action: Json): void {
  let chosen: { id: string; title: string; description?: string } | null = null;
  const sendBtn = h('button', { type: 'button', class: 'primary', disabled: true, 'data-send-list': '1', onclick: () => chosen && void send({ type: 'list_reply', ...chosen, contextId: entry.id }) }, 'Send');
  const sections = (Array.isArray(action.sections) ? action.sections : []) as { title?: string; rows?: { id: string; title: string; description?: string }[] }[];
  const list = h(
    'div',
    { class: 'rows' },
    ...sections.map((s) =>
      h(
        'div',
        { class: 'section' },
        s.title ? h('div', { class: 'section-title' }, s.title) : null,
        ...(s.rows ?? []).map((r) =>
          h(
            'label',
            { class: 'list-row', 'data-row-id': r.id },
            h('span', {}, h('span', { class: 'row-title' }, r.title), r.description ? h('span', { class: 'row-desc' }, r.description) : null),
            h('input', {
              type: 'radio',
              name: 'row',
              value: r.id,
              onchange: () => {
                chosen = { id: r.id, title: r.title, ...(r.description ? { description: r.description } : {}) };
                sendBtn.disabled = false;
              },
            }),
          ),
        ),
      ),
    ),
  );
  sheet(String(action.button ?? 'Options'), list, h('div', { class: 'sheet-foot' }, sendBtn));
}

/** What WhatsApp shows: the Graph stand-in's catalog, which duka's catalog sync fills; duka's own products until its first sync. */
async function openCatalog(filter?: string[]): Promise<void> {
  const shop = state.shop;
  if (!shop) return;
  if (!shop.catalogId) return toast('This shop has no WhatsApp catalog');
  let listed: { synced: boolean; items: ShopInfo['products'] };
  try {
    listed = await api(`/sandbox/api/catalog?catalogId=${encodeURIComponent(shop.catalogId)}`);
  } catch (err) {
    return toast(`The catalog did not open: ${(err as Error).message}`);
  }
  if (!listed.synced) toast('Not synced to the catalog yet: showing the shop\'s products');
  const products = (listed.synced ? listed.items : shop.products).filter((p) => p.available && (!filter?.length || filter.includes(p.retailerId)));
  const qty = new Map<string, number>();
  const summary = h('span', {});
  const sendBtn = h('button', { type: 'button', class: 'primary', disabled: true, 'data-send-cart': '1' }, 'Send to business');
  const refresh = () => {
    const n = [...qty.values()].reduce((a, b) => a + b, 0);
    const total = products.reduce((sum, p) => sum + p.price * (qty.get(p.retailerId) ?? 0), 0);
    summary.textContent = n ? `${n} item${n === 1 ? '' : 's'} · ${money(total, shop.currency)}` : 'Your cart is empty';
    sendBtn.disabled = n === 0;
  };
  sendBtn.addEventListener('click', () => {
    const items = products.filter((p) => (qty.get(p.retailerId) ?? 0) > 0).map((p) => ({ retailerId: p.retailerId, quantity: qty.get(p.retailerId)!, itemPrice: p.price / 100, currency: shop.currency }));
    void send({ type: 'order', catalogId: shop.catalogId!, items });
  });
  const rows = products.map((p) => {
    const count = h('span', { class: 'count' }, '0');
    const change = (d: number) => {
      const next = Math.max(0, Math.min(99, (qty.get(p.retailerId) ?? 0) + d));
      qty.set(p.retailerId, next);
      count.textContent = String(next);
      refresh();
    };
    return h(
      'div',
      { class: 'catalog-item', 'data-retailer-id': p.retailerId },
      p.imageUrl ? h('img', { src: p.imageUrl, alt: '' }) : h('span', {}),
      h('div', { class: 'grow' }, h('div', { class: 'row-title' }, p.name), h('div', { class: 'row-desc' }, money(p.price, shop.currency), p.customisable ? ' · sizes and extras: order in the chat' : '')),
      h('div', { class: 'stepper' }, h('button', { type: 'button', 'aria-label': `Remove ${p.name}`, onclick: () => change(-1) }, '−'), count, h('button', { type: 'button', 'aria-label': `Add ${p.name}`, 'data-add': p.retailerId, onclick: () => change(1) }, '+')),
    );
  });
  refresh();
  sheet(`${shop.name} catalog`, h('div', { class: 'rows' }, ...rows), h('div', { class: 'sheet-foot' }, summary, sendBtn));
}

function openAttach(): void {
  sheet(
    'Send',
    h(
      'div',
      { class: 'attach-grid' },
      h('button', { type: 'button', class: 'attach-item', 'data-attach': 'location', onclick: openLocation }, h('span', { class: 'bubble-icon loc' }, '📍'), 'Location'),
      h('button', { type: 'button', class: 'attach-item', 'data-attach': 'catalog', onclick: () => void openCatalog() }, h('span', { class: 'bubble-icon cat' }, '🛍'), 'Catalog'),
    ),
  );
}

function openLocation(): void {
  const place = (DEFAULTS[state.shop?.country ?? ''] ?? DEFAULTS.KE!).place;
  const field = (label: string, name: string, value: string | number) => h('label', { class: 'field' }, label, h('input', { name, value: String(value) }));
  const form = h(
    'form',
    { class: 'location-form' },
    h('div', { class: 'map big' }, h('span', { class: 'pin' }, '📍')),
    field('Place', 'name', place.name),
    field('Address', 'address', place.address),
    h('div', { class: 'pair' }, field('Latitude', 'latitude', place.latitude), field('Longitude', 'longitude', place.longitude)),
    h('div', { class: 'sheet-foot' }, h('button', { type: 'submit', class: 'primary', 'data-send-location': '1' }, 'Send this location')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const latitude = Number(data.get('latitude'));
    const longitude = Number(data.get('longitude'));
    if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return toast('Latitude and longitude are numbers');
    void send({ type: 'location', latitude, longitude, name: String(data.get('name') ?? '').trim() || undefined, address: String(data.get('address') ?? '').trim() || undefined } as Outgoing);
  });
  sheet('Share location', form);
}

// ---- in-app browser (Razorpay / Paynow hosted pages) -------------------------------------------------------------------
function openUrl(url: string): void {
  let target: URL;
  try {
    target = new URL(url, location.href);
  } catch {
    return toast(`Cannot open ${url}`);
  }
  if (!/^https?:$/.test(target.protocol)) return toast(`This link opens an app on a real phone: ${url}`, 6000);
  if (target.origin !== location.origin) {
    window.open(target.href, '_blank', 'noopener');
    return;
  }
  clear(els.browser);
  const frame = h('iframe', { src: target.href, title: 'Payment page', name: 'payment-page' });
  const close = () => {
    els.browser.hidden = true;
    clear(els.browser);
    schedulePanel(200);
  };
  frame.addEventListener('load', () => {
    try {
      const path = frame.contentWindow?.location.pathname ?? '';
      // Back at duka's return URL: the provider is done with the customer.
      if (!path.startsWith('/sandbox/')) {
        toast('Payment page finished: back to WhatsApp');
        setTimeout(close, 600);
      }
    } catch {
      // Another origin: leave it to the close button.
    }
  });
  els.browser.append(h('div', { class: 'browser' }, h('div', { class: 'browser-bar' }, h('button', { type: 'button', class: 'icon', 'aria-label': 'Close page', onclick: close }, '✕'), h('span', { class: 'url' }, `🔒 ${target.host}${target.pathname}`)), frame));
  els.browser.hidden = false;
}

// ---- the phone: STK / wallet prompts and SMS -----------------------------------------------------------------------
const prompts = new Map<string, Prompt>();
const smsShown = new Set<string>();

function forThisPhone(p: Prompt): boolean {
  return last9(p.phone) === last9(state.customer);
}

function showPrompt(p: Prompt): void {
  if (!forThisPhone(p)) return;
  if (p.provider === 'omari') return showSms(p);
  if (p.provider === 'razorpay' || (p.provider === 'paynow' && p.kind === 'web')) return;
  prompts.set(`${p.provider}:${p.id}`, p);
  renderPrompt();
}

function hidePrompt(provider: string, id: string): void {
  if (prompts.delete(`${provider}:${id}`)) renderPrompt();
}

function renderPrompt(): void {
  clear(els.prompt);
  const p = [...prompts.values()][0];
  els.prompt.hidden = !p;
  if (!p || !state.sims) return;
  const act = async (path: string, body?: unknown) => {
    try {
      await api(`api/simulators/${path}`, { json: body ?? {} });
      hidePrompt(p.provider, p.id);
    } catch (err) {
      toast((err as Error).message, 5000);
      hidePrompt(p.provider, p.id);
    }
    schedulePanel(500);
  };
  const shopName = (state.shop?.name ?? 'duka').toUpperCase();
  if (p.provider === 'mpesa') {
    const pin = h('input', { type: 'password', inputmode: 'numeric', maxlength: 4, 'aria-label': 'M-PESA PIN', autocomplete: 'off', name: 'pin' });
    const form = h(
      'form',
      { class: 'stk', 'data-prompt': 'mpesa' },
      h('div', { class: 'stk-title' }, 'M-PESA'),
      h('p', {}, `Do you want to pay Ksh ${p.amount.toLocaleString('en')} to ${shopName} (${p.payee}), account ${p.account}?`),
      h('p', {}, 'Enter M-PESA PIN:'),
      pin,
      h('div', { class: 'stk-actions' }, h('button', { type: 'button', 'data-action': 'cancel', onclick: () => void act(`mpesa/${p.id}/cancel`) }, 'Cancel'), h('button', { type: 'submit', 'data-action': 'ok' }, 'OK')),
      h('p', { class: 'hint' }, `Sandbox: any 4 digits pay, ${state.sims.wrongPin} is a wrong PIN. `, h('a', { href: '#', 'data-action': 'timeout', onclick: (e: Event) => (e.preventDefault(), void act(`mpesa/${p.id}/timeout`)) }, 'Let it time out')),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!/^\d{4}$/.test(pin.value)) return toast('The PIN is 4 digits');
      void act(`mpesa/${p.id}/pin`, { pin: pin.value });
    });
    els.prompt.append(h('div', { class: 'scrim' }), form);
    pin.focus();
  } else if (p.provider === 'paynow') {
    const wallet = p.method === 'onemoney' ? 'OneMoney' : p.method === 'innbucks' ? 'InnBucks' : 'EcoCash';
    const text = p.kind === 'innbucks'
      ? `Pay ${p.currency} ${p.amount} to Paynow Zimbabwe with InnBucks code ${p.code ?? ''}?`
      : `${wallet}: confirm payment of ${p.currency} ${p.amount} to Paynow Zimbabwe (${state.shop?.name ?? 'merchant'}). Enter your PIN to approve.`;
    const pin = p.kind === 'wallet' ? h('input', { type: 'password', inputmode: 'numeric', maxlength: 4, 'aria-label': `${wallet} PIN`, name: 'pin' }) : null;
    const form = h(
      'form',
      { class: 'stk paynow', 'data-prompt': 'paynow' },
      h('div', { class: 'stk-title' }, wallet),
      h('p', {}, text),
      pin,
      h('div', { class: 'stk-actions' }, h('button', { type: 'button', 'data-action': 'cancel', onclick: () => void act(`paynow/${p.id}/cancel`) }, 'Cancel'), h('button', { type: 'submit', 'data-action': 'ok' }, p.kind === 'wallet' ? 'OK' : 'Pay')),
      h('p', { class: 'hint' }, 'Sandbox: ', h('a', { href: '#', 'data-action': 'fail', onclick: (e: Event) => (e.preventDefault(), void act(`paynow/${p.id}/fail`)) }, 'fail it (insufficient funds)')),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void act(`paynow/${p.id}/pay`);
    });
    els.prompt.append(h('div', { class: 'scrim' }), form);
    pin?.focus();
  }
}

function showSms(p: Extract<Prompt, { provider: 'omari' }>): void {
  if (smsShown.has(p.id)) return;
  smsShown.add(p.id);
  const banner = h(
    'div',
    { class: 'sms', 'data-otp': p.otp, role: 'status' },
    h('div', { class: 'sms-head' }, h('strong', {}, "💬 Messages · O'mari"), h('span', { class: 'muted' }, 'now')),
    h('div', {}, `Your O'mari one-time PIN is ${p.otp} (ref ${p.otpReference}) to pay ${p.currency} ${p.amount.toFixed(2)}. Do not share it.`),
    h(
      'div',
      { class: 'sms-actions' },
      h('button', { type: 'button', 'data-action': 'copy-otp', onclick: () => { els.text.value = p.otp; els.text.focus(); } }, 'Copy code to chat'),
      h('button', { type: 'button', onclick: () => banner.remove() }, 'Dismiss'),
    ),
  );
  els.sms.append(banner);
}

// ---- side panels ---------------------------------------------------------------------------------------------------
let panelInFlight = false;
function schedulePanel(ms = 2000): void {
  if (state.panelTimer) clearTimeout(state.panelTimer);
  state.panelTimer = setTimeout(() => void refreshPanel(), ms);
}

async function refreshPanel(): Promise<void> {
  if (!state.shop || panelInFlight) return schedulePanel();
  panelInFlight = true;
  const generation = state.generation;
  try {
    const data = await api<PanelData>(`api/conversation?${chatQuery()}`);
    if (generation === state.generation) renderOrderPanel(els.order, data);
  } catch (err) {
    els.order.dataset.error = (err as Error).message;
  } finally {
    panelInFlight = false;
    schedulePanel(document.hidden ? 10_000 : 2000);
  }
}

async function refreshSims(): Promise<void> {
  state.sims = await loadSimState();
  renderSims();
  for (const p of state.sims.prompts) showPrompt(p);
}

function renderSims(): void {
  renderSimPanel(
    els.sims,
    state.sims,
    (path, body) =>
      void api(`api/simulators/${path}`, { json: body ?? {} })
        .then(() => refreshSims())
        .catch((err: Error) => toast(err.message, 5000)),
    openUrl,
  );
}

// ---- events --------------------------------------------------------------------------------------------------------
function connect(): void {
  state.events?.close();
  const es = new EventSource(`api/events?${chatQuery()}`);
  state.events = es;
  const on = (name: string, fn: (data: never) => void) => es.addEventListener(name, (e) => fn(JSON.parse((e as MessageEvent<string>).data) as never));
  on('message', (entry: ChatEntry) => {
    upsert(entry);
    schedulePanel(400);
  });
  on('status', (s: { id: string; status: ChatEntry['status']; error?: string }) => setStatus(s.id, s.status, s.error));
  on('read', (r: { ids: string[] }) => r.ids.forEach((id) => setStatus(id, 'read')));
  on('typing', () => setTyping(true));
  on('prompt', (p: Prompt) => {
    state.sims?.prompts.push(p);
    renderSims();
    showPrompt(p);
    schedulePanel(300);
  });
  on('prompt-closed', (c: { provider: string; id: string }) => {
    if (state.sims) state.sims.prompts = state.sims.prompts.filter((p) => !(p.provider === c.provider && p.id === c.id));
    renderSims();
    hidePrompt(c.provider, c.id);
    schedulePanel(300);
  });
  on('toggles', () => void refreshSims());
  // After a reconnect, catch up on what was missed.
  es.addEventListener('open', () => void loadChat());
}

async function loadChat(): Promise<void> {
  if (!state.shop) return;
  const generation = state.generation;
  const { entries } = await api<{ entries: ChatEntry[] }>(`api/chat?${chatQuery()}`);
  if (generation !== state.generation) return;
  state.entries = entries;
  renderAll();
}

// ---- shop and customer -----------------------------------------------------------------------------------------------
function selectShop(shop: ShopInfo, customer?: string): void {
  state.generation += 1;
  state.shop = shop;
  const defaults = DEFAULTS[shop.country] ?? DEFAULTS.KE!;
  state.customer = customer ?? stored(`customer:${shop.id}`) ?? defaults.number;
  els.customer.value = state.customer;
  els.name.value = stored(`name:${shop.id}`) ?? defaults.name;
  els.shop.value = shop.id;
  els.shopName.textContent = shop.name;
  els.avatar.textContent = shop.name.replace(/^duka\s*/i, '').slice(0, 1).toUpperCase() || 'D';
  store('shop', shop.id);
  store(`customer:${shop.id}`, state.customer);
  state.entries = [];
  prompts.clear();
  renderPrompt();
  clear(els.sms);
  smsShown.clear();
  renderAll();
  renderOrderPanel(els.order, null);
  connect();
  void loadChat();
  void refreshPanel();
  for (const p of state.sims?.prompts ?? []) showPrompt(p);
}

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const { shops, temporalUiUrl, namespace } = await api<{ shops: ShopInfo[]; temporalUiUrl: string; namespace: string }>('api/shops');
  state.shops = shops;
  els.temporal.href = `${temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows`;
  for (const s of shops) els.shop.append(h('option', { value: s.id }, `${s.name} (${s.currency})`));
  els.shop.addEventListener('change', () => {
    const shop = shops.find((s) => s.id === els.shop.value);
    if (shop) selectShop(shop);
  });
  els.customer.addEventListener('change', () => {
    const value = els.customer.value.replace(/\D/g, '');
    els.customer.value = value;
    state.customer = value;
    if (!state.shop || !validCustomer()) return;
    selectShop(state.shop, value);
  });
  els.customer.addEventListener('input', () => (state.customer = els.customer.value.replace(/\D/g, '')));
  els.name.addEventListener('change', () => state.shop && store(`name:${state.shop.id}`, els.name.value.trim()));
  els.newCustomer.addEventListener('click', () => {
    if (!state.shop) return;
    const prefix = PREFIX[state.shop.country] ?? '2547';
    const digits = 12 - prefix.length;
    selectShop(state.shop, prefix + String(Math.floor(Math.random() * 10 ** digits)).padStart(digits, '0'));
  });
  els.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = els.text.value.trim();
    if (!text) return;
    els.text.value = '';
    void send({ type: 'text', text });
  });
  els.attach.addEventListener('click', openAttach);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeSheet();
  });

  await refreshSims().catch(() => undefined);
  const wanted = shops.find((s) => s.id === params.get('shop') || s.phoneNumberId === params.get('shop')) ?? shops.find((s) => s.id === stored('shop')) ?? shops[0];
  if (!wanted) {
    els.messages.append(h('div', { class: 'notice' }, 'No shops in the database: run npm start, which seeds the demo shops.'));
    return;
  }
  const customer = params.get('customer')?.replace(/\D/g, '');
  selectShop(wanted, customer || undefined);
  els.text.focus();
}

void start().catch((err: Error) => {
  els.messages.append(h('div', { class: 'notice error' }, `The sandbox could not start: ${err.message}`));
});
