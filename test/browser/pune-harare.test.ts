import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { ChatPage, launchBrowser, screenshot, slug, type Browser } from './chat-page.ts';
import { ADMIN_TOKEN, HARARE, PUNE, startSandboxDuka, type SandboxDuka } from './harness.ts';
import { orderQuery } from '../../workflows/definitions.ts';

/**
 * Pune pays on Razorpay's hosted page opened from the chat's "Pay now" button; Harare pays with O'mari, typing the OTP
 * that arrived by SMS; the operator completes the Pune order from the admin dashboard.
 */
const SUITE = 'sandbox in a browser: Pune (Razorpay link), Harare (O\'mari OTP), admin dashboard';

describe(SUITE, () => {
  let duka: SandboxDuka;
  let browser: Browser;
  let current: Page | null = null;
  let puneOrder = '';
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    duka = await startSandboxDuka({ label: 'browser_pune_harare', env: { PAYMENT_POLL_INTERVAL: '1s' } });
    browser = await launchBrowser();
  }, 120_000);
  // The page as the test left it (the one to look at when a test fails).
  afterEach(async () => {
    if (current && !current.isClosed()) await screenshot(current, `end-${slug((expect.getState().currentTestName ?? 'test').replace(SUITE, ''))}`);
  });
  afterAll(async () => {
    await browser?.close();
    await duka?.stop();
    console.log(`browser timings (s): ${JSON.stringify(timings)}`);
  }, 120_000);

  it('Pune: "Pay now" opens the Razorpay page, Pay sends the signed webhook, the receipt arrives', async () => {
    const started = Date.now();
    const page = (current = await browser.newPage());
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, PUNE, '919812000201', 'Priya');
    await chat.say('hello');
    await chat.tap('Shop');
    await chat.choose('Categories', 'Snacks');
    await chat.choose('Products', 'Masala Chai');
    await chat.tap('Add to cart');
    await chat.business('How many');
    await chat.say('3');
    await chat.tap('Checkout');
    await chat.tap('Pickup');
    await chat.business(/Order PNQ-/);
    await chat.tap('Confirm');
    await chat.tap(/^\W*Pay online/);
    const link = await chat.business('Pay now');
    await screenshot(page, 'pune-1-pay-now');
    await link.locator('.wa-btn', { hasText: 'Pay now' }).click();
    const frame = page.frameLocator('iframe[name="payment-page"]');
    await frame.locator('button', { hasText: /^Pay$/ }).waitFor();
    await screenshot(page, 'pune-2-razorpay-page');
    await frame.locator('button', { hasText: /^Pay$/ }).click();
    await chat.business('Receipt', 30_000);
    await page.locator('#browser').waitFor({ state: 'hidden' });
    await chat.orderStatus('PAID');
    puneOrder = await chat.orderNumber();
    const deliveries = duka.sandbox.simulators.razorpay.control.deliveries();
    expect(deliveries.some((d) => d.event === 'payment_link.paid' && d.status === 200)).toBe(true);
    await screenshot(page, 'pune-3-receipt');
    timings.pune = (Date.now() - started) / 1000;
  }, 120_000);

  it("Harare: O'mari sends the OTP by SMS; typed into the chat, it pays the order", async () => {
    const started = Date.now();
    const page = (current = await browser.newPage());
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, HARARE, '263771000301', 'Tendai');
    await chat.say('shop');
    await chat.choose('Categories', 'Groceries');
    await chat.choose('Products', 'Sugar 2kg');
    await chat.tap('Add to cart');
    await chat.business('How many');
    await chat.say('2');
    await chat.tap('Checkout');
    await chat.tap('Pickup');
    await chat.business(/Order HRE-/);
    await chat.tap('Confirm');
    await chat.choose('Payment', "O'mari");
    await chat.business('OTP');
    const sms = page.locator('.sms[data-otp]').last();
    await sms.waitFor();
    const otp = (await sms.getAttribute('data-otp'))!;
    expect(await sms.textContent()).toContain(otp);
    await screenshot(page, 'harare-1-omari-sms');
    await sms.locator('[data-action="copy-otp"]').click();
    expect(await page.inputValue('#text')).toBe(otp);
    await chat.sendTyped();
    await chat.business('Receipt', 30_000);
    await chat.orderStatus('PAID');
    const view = await duka.client.workflow.getHandle(`order:${await chat.orderNumber()}`).query(orderQuery);
    expect(view.payments.at(-1)).toMatchObject({ method: 'omari', status: 'succeeded' });
    await screenshot(page, 'harare-2-receipt');
    timings.harare = (Date.now() - started) / 1000;
  }, 120_000);

  it('Harare: EcoCash asks on the phone; OK pays through Paynow\'s status update', async () => {
    const started = Date.now();
    const page = (current = await browser.newPage());
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, HARARE, '263771000302', 'Rudo');
    await chat.orderFromCatalog(['SKU-OIL-2L']);
    await chat.tap('Checkout');
    await chat.tap('Pickup');
    await chat.tap('Confirm');
    await chat.choose('Payment', 'EcoCash');
    const prompt = page.locator('form[data-prompt="paynow"]');
    await prompt.waitFor({ timeout: 20_000 });
    expect(await prompt.textContent()).toContain('USD 4.50');
    await screenshot(page, 'harare-3-ecocash-prompt');
    await prompt.locator('input[name="pin"]').fill('1234');
    await prompt.locator('[data-action="ok"]').click();
    await chat.business('Receipt', 30_000);
    await chat.orderStatus('PAID');
    expect(duka.sandbox.simulators.paynow.control.callbacks().some((c) => c.status === 'Paid' && c.httpStatus === 200)).toBe(true);
    timings.ecocash = (Date.now() - started) / 1000;
  }, 120_000);

  it('admin dashboard: the token from ?token=, the orders, the detail, and "advance status" completes the order', async () => {
    expect(puneOrder).toMatch(/^PNQ-/);
    const page = (current = await browser.newPage());
    page.on('dialog', (d) => void d.accept()); // the dashboard asks before it changes an order
    await page.goto(`${duka.baseUrl}/admin?token=${ADMIN_TOKEN}`);
    await page.locator(`tr[data-order="${puneOrder}"]`).waitFor();
    expect(page.url()).not.toContain('token=');
    expect(Number(await page.textContent('#stat-total'))).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'admin-1-orders');
    await page.click(`tr[data-order="${puneOrder}"] a`);
    await page.locator('#temporal').waitFor();
    expect(await page.getAttribute('#temporal', 'href')).toContain(encodeURIComponent(`order:${puneOrder}`));
    await page.selectOption('select[name="next-status"]', 'COMPLETED');
    await page.click('[data-action="status"]');
    await page.locator('.result', { hasText: 'now COMPLETED' }).waitFor({ timeout: 30_000 });
    await screenshot(page, 'admin-2-completed');
    const view = await duka.client.workflow.getHandle(`order:${puneOrder}`).query(orderQuery);
    expect(view.status).toBe('COMPLETED');

    // A wrong token is refused and the form asks again.
    const other = await browser.newPage();
    await other.goto(`${duka.baseUrl}/admin/?token=not-the-token`);
    await other.locator('form.login .error').waitFor();
  }, 120_000);
});
