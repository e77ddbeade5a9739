import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { ChatPage, launchBrowser, screenshot, slug, type Browser } from './chat-page.ts';
import { ADMIN_TOKEN, HARARE, PUNE, startSandboxDuka, type SandboxDuka } from './harness.ts';
import { orderQuery } from '../../workflows/definitions.ts';
import { formatMoney } from '../../domain/money.ts';
import { PAYMENT_METHODS } from '../../domain/payment-methods.ts';

/**
 * The admin dashboard (dashboard/, served at /admin) in a real Chromium against a whole sandbox duka: an operator signs
 * in with the admin token, sees an order that needs them appear by itself (live refresh), refunds part of a paid order,
 * creates a product with sizes, add-ons, a photo and stock and finds it in the catalog, issues a shop token that is
 * shown once, and the same pages fit a phone (390 px).
 */
const SUITE = 'admin dashboard in a browser';

describe(SUITE, () => {
  let duka: SandboxDuka;
  let browser: Browser;
  let current: Page | null = null;
  let puneOrder = '';
  let harareOrder = '';

  const api = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(`${duka.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** A dashboard tab that accepts every confirmation the operator is asked for. */
  const dashboardPage = async () => {
    const page = (current = await browser.newPage());
    page.on('dialog', (d) => void d.accept());
    return page;
  };

  beforeAll(async () => {
    duka = await startSandboxDuka({ label: 'browser_dashboard', env: { PAYMENT_POLL_INTERVAL: '1s' } });
    browser = await launchBrowser();
    // Two paid orders, bought in the sandbox chat as a customer would: Pune with a Razorpay link (refundable by the
    // provider), Harare with EcoCash (Paynow cannot refund: a cancel leaves money owed).
    const pune = new ChatPage(await browser.newPage());
    await pune.open(duka.baseUrl, PUNE, '919812000401', 'Asha');
    await pune.orderFromCatalog(['PNQ-CHAI', 'PNQ-VADAPAV']);
    await pune.tap('Checkout');
    await pune.tap('Pickup');
    await pune.tap('Confirm');
    await pune.tap(/^\W*Pay online/);
    const link = await pune.business('Pay now');
    await link.locator('.wa-btn', { hasText: 'Pay now' }).click();
    const frame = pune.page.frameLocator('iframe[name="payment-page"]');
    await frame.locator('button', { hasText: /^Pay$/ }).click();
    await pune.orderStatus('PAID');
    puneOrder = await pune.orderNumber();

    const harare = new ChatPage(await browser.newPage());
    await harare.open(duka.baseUrl, HARARE, '263771000401', 'Farai');
    await harare.orderFromCatalog(['SKU-OIL-2L']);
    await harare.tap('Checkout');
    await harare.tap('Pickup');
    await harare.tap('Confirm');
    await harare.choose('Payment', 'EcoCash');
    const prompt = harare.page.locator('form[data-prompt="paynow"]');
    await prompt.locator('input[name="pin"]').fill('1234');
    await prompt.locator('[data-action="ok"]').click();
    await harare.orderStatus('PAID');
    harareOrder = await harare.orderNumber();
  }, 180_000);
  afterEach(async () => {
    if (current && !current.isClosed()) await screenshot(current, `dashboard-end-${slug((expect.getState().currentTestName ?? 'test').replace(SUITE, ''))}`);
  });
  afterAll(async () => {
    await browser?.close();
    await duka?.stop();
  }, 120_000);

  it('signs in with the typed admin token; an order that needs the operator appears by itself with its Attention badge and what to do', async () => {
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/`);
    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await page.click('form.login button[type="submit"]');
    await page.locator(`tr[data-order="${harareOrder}"]`).waitFor();
    expect(await page.locator(`tr[data-order="${harareOrder}"] [data-attention]`).count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('duka-admin-token'))).toBe(ADMIN_TOKEN);

    // Cancelled elsewhere (the API): EcoCash cannot refund, so the order now owes the customer. The open list shows it
    // on its next refresh, with no click.
    expect((await api('POST', `/api/admin/orders/${harareOrder}/cancel`, { reason: 'out of oil' })).status).toBe(200);
    const badge = page.locator(`tr[data-order="${harareOrder}"] [data-attention="REFUND_OWED"]`);
    await badge.waitFor({ timeout: 20_000 });
    expect(await page.locator(`#attention li[data-order="${harareOrder}"]`).textContent()).toContain('Mark refunded');
    await screenshot(page, 'dashboard-1-attention');

    await page.click(`tr[data-order="${harareOrder}"] a`);
    const box = page.locator('.attention-box[data-attention="REFUND_OWED"]');
    await box.waitFor();
    expect(await box.textContent()).toContain('Refund by hand');
  }, 60_000);

  it('refunds part of a paid order: the amount typed in the currency, confirmed, sent to the provider', async () => {
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/orders/${puneOrder}`);
    await page.locator('#paid').waitFor();
    expect(page.url()).not.toContain('token=');
    const before = await duka.client.workflow.getHandle(`order:${puneOrder}`).query(orderQuery);
    const inr = (amount: number) => formatMoney({ amount, currency: 'INR' });
    expect(await page.textContent('#paid')).toBe(inr(before.paid));
    await page.fill('input[name="refund-amount"]', '12.50');
    await page.click('[data-action="refund"]');
    await page.locator('.result.ok', { hasText: `paid ${inr(before.paid - 1250)}` }).waitFor({ timeout: 30_000 });
    await page.locator('#refunded', { hasText: 'INR 12.50' }).waitFor({ timeout: 15_000 });
    const after = await duka.client.workflow.getHandle(`order:${puneOrder}`).query(orderQuery);
    expect(before.paid - after.paid).toBe(1250);
    expect(after.status).toBe(before.status);
    await screenshot(page, 'dashboard-2-partial-refund');
  }, 60_000);

  it('creates a product with sizes, add-ons, a photo and stock, and finds it in the catalog', async () => {
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}`);
    await page.selectOption('#shop', 'nairobi');
    await page.click('nav a[data-page="catalog"]');
    await page.click('a[href="#/catalog/new"]');
    const form = page.locator('#product-form');
    await form.locator('input[name="retailerId"]').fill('SKU-DASH-JUICE');
    await form.locator('input[name="name"]').fill('Passion Juice');
    await form.locator('input[name="price"]').fill('150');
    await form.locator('select[name="categoryId"]').selectOption({ label: 'Coffee & Pantry' });
    await form.locator('input[name="stock"]').fill('7');
    await form.locator('input[name="imageUrl"]').fill('/sandbox/images/nairobi-coffee.svg');
    for (const n of [1, 2]) {
      await form.locator('button', { hasText: '+ size' }).click();
      await page.waitForFunction((count) => document.querySelectorAll('#sizes .row').length === count, n);
    }
    await form.locator('input[name="size-name"]').nth(0).fill('Small');
    await form.locator('input[name="size-price"]').nth(0).fill('150');
    await form.locator('input[name="size-name"]').nth(1).fill('Large');
    await form.locator('input[name="size-price"]').nth(1).fill('220.50');
    await form.locator('button', { hasText: '+ add-on group' }).click();
    await form.locator('input[name="group-name"]').fill('Extras');
    await form.locator('input[name="option-name"]').fill('Mint');
    await form.locator('input[name="option-price"]').fill('20');
    await form.locator('button[type="submit"]').click();

    const card = page.locator('[data-product="SKU-DASH-JUICE"]');
    await card.waitFor({ timeout: 15_000 });
    expect(await card.textContent()).toContain('Stock: 7 left');
    expect(await card.textContent()).toContain('KES 150');
    expect(await card.locator('img').getAttribute('src')).toBe('/sandbox/images/nairobi-coffee.svg');
    await screenshot(page, 'dashboard-3-catalog');

    const { body } = await api('GET', '/api/admin/shops/nairobi/products');
    const made = (body.products as Record<string, unknown>[]).find((p) => p.retailerId === 'SKU-DASH-JUICE');
    expect(made).toMatchObject({
      price: 15000,
      stock: 7,
      stockAvailable: 7,
      presentations: [{ name: 'Small', price: 15000 }, { name: 'Large', price: 22050 }],
      modifierGroups: [{ name: 'Extras', minSelect: 0, maxSelect: 1, options: [{ name: 'Mint', priceDelta: 2000 }] }],
    });
  }, 60_000);

  it('issues a shop token shown once; that token sees only its shop', async () => {
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/shops/harare`);
    await page.fill('input[name="token-name"]', 'till');
    await page.click('[data-action="issue"]');
    const shown = page.locator('#new-token .token');
    await shown.waitFor();
    const token = (await shown.textContent())!.trim();
    expect(token).toMatch(/^duka_/);
    await page.locator('tr[data-token]', { hasText: token.slice(0, 12) }).waitFor();
    await screenshot(page, 'dashboard-4-token-once');

    // Shown once: the page read again lists it by prefix only.
    await page.reload();
    await page.locator('tr[data-token]').first().waitFor();
    expect(await page.content()).not.toContain(token);

    const other = await dashboardPage();
    await other.goto(`${duka.baseUrl}/admin/?token=${token}`);
    await other.locator(`tr[data-order="${harareOrder}"]`).waitFor();
    expect(await other.locator('#shop option').allTextContents()).toEqual(['Duka Harare']);
    expect(await other.locator('tr[data-order]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-order')))).not.toContain(puneOrder);
  }, 60_000);

  it("offers every payment method the domain defines, ZimSwitch and Ghala's M-Pesa too: the shop form and the retry-payment picker", async () => {
    const methods = Object.keys(PAYMENT_METHODS);
    expect(methods).toEqual(expect.arrayContaining(['ghala_mpesa', 'zimswitch']));
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/shops/harare`);
    await page.locator('#shop-form').waitFor();
    const boxes = await page.locator('#shop-form input[type="checkbox"][name^="method-"]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).name));
    expect(boxes).toEqual(methods.map((m) => `method-${m}`));
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/orders/${puneOrder}`);
    await page.locator('select[name="method"]').waitFor();
    expect(await page.locator('select[name="method"] option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value))).toEqual(['', ...methods]);
  }, 60_000);

  it('customers with their spend, a booking entered with its balance, a promotion that runs', async () => {
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/customers`);
    const asha = page.locator('tr[data-customer]', { hasText: 'Asha' });
    await asha.waitFor();
    expect(await asha.textContent()).toContain('+919812000401'); // the admin token sees phone numbers
    expect(await asha.textContent()).toContain(puneOrder);

    await page.selectOption('#shop', 'nairobi');
    await page.click('nav a[data-page="bookings"]');
    const booking = page.locator('#booking-form');
    await booking.locator('input[name="reference"]').fill('WED-0612');
    await booking.locator('input[name="customerName"]').fill('Njeri');
    await booking.locator('input[name="description"]').fill('Wedding cake');
    await booking.locator('input[name="total"]').fill('12000');
    await booking.locator('input[name="paid"]').fill('5000');
    await booking.locator('button[type="submit"]').click();
    const row = page.locator('tr[data-booking="WED-0612"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('KES 7,000'); // the balance
    expect(await row.textContent()).toContain('PARTLY PAID');

    await page.click('nav a[data-page="promotions"]');
    const promo = page.locator('#promotion-form');
    await promo.locator('input[name="title"]').fill('Pantry week');
    await promo.locator('input[name="value"]').fill('10');
    await promo.locator('label', { hasText: 'Coffee & Pantry' }).locator('input').check();
    await promo.locator('button[type="submit"]').click();
    const running = page.locator('tr[data-promotion]', { hasText: 'Pantry week' });
    await running.waitFor();
    expect(await running.textContent()).toContain('10% off');
    expect(await running.textContent()).toContain('RUNNING');
    const { body } = await api('GET', '/api/admin/shops/nairobi/promotions');
    expect(body.promotions).toEqual([expect.objectContaining({ title: 'Pantry week', percentOff: 10, categoryIds: ['nairobi-pantry'], running: true })]);
  }, 60_000);

  it("lists a shop's open customer requests and marks one handled", async () => {
    await duka.orm.em
      .fork()
      .getConnection()
      .execute("insert into customer_request (id, shop_id, customer_ref, wa_message_id, title, body, created_at) values (gen_random_uuid(), 'nairobi', 'ref-dashboard-req', 'wamid.dashboard-req', 'Request installation', 'Plot 9, tin roof', now())");
    const page = await dashboardPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}#/customers`);
    await page.selectOption('#shop', 'nairobi');
    const row = page.locator('tr[data-request]', { hasText: 'Plot 9, tin roof' });
    await row.waitFor();
    expect(await row.textContent()).toContain('Request installation');
    await row.locator('button', { hasText: 'Mark handled' }).click();
    await row.waitFor({ state: 'detached' });
    const { body } = await api('GET', '/api/admin/shops/nairobi/requests?open=true');
    expect(body.requests).toEqual([]);
  }, 60_000);

  it('fits a phone: 390 px wide, nothing scrolls sideways', async () => {
    const page = await dashboardPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}`);
    await page.locator(`tr[data-order="${harareOrder}"] [data-attention]`).waitFor();
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, 'dashboard-phone-orders');
    await page.click(`tr[data-order="${puneOrder}"] a`);
    await page.locator('#paid').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, 'dashboard-phone-order');
    await page.selectOption('#shop', 'nairobi');
    await page.click('nav a[data-page="catalog"]');
    await page.locator('[data-product]').first().waitFor();
    expect(await overflow()).toBeLessThanOrEqual(0);
    await screenshot(page, 'dashboard-phone-catalog');
  }, 60_000);
});
