import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { ChatPage, launchBrowser, screenshot, slug, type Browser } from './chat-page.ts';
import { NAIROBI, startSandboxDuka, type SandboxDuka } from './harness.ts';
import { orderQuery } from '../../workflows/definitions.ts';

/**
 * Nairobi in the browser, as a person would: a customised pizza paid with M-Pesa (PIN on the phone prompt) to the
 * receipt; a wrong PIN then a retry; a dropped Daraja callback that duka recovers by polling the STK query.
 */
const SUITE = 'sandbox in a browser: Nairobi, M-Pesa';

describe(SUITE, () => {
  let duka: SandboxDuka;
  let browser: Browser;
  let current: Page | null = null;
  let page: Page;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    duka = await startSandboxDuka({ label: 'browser_nairobi', env: { PAYMENT_POLL_INTERVAL: '1s' } });
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

  it('buys a customised pizza with M-Pesa: PIN on the phone, receipt in the chat, PAID in the order panel', async () => {
    const started = Date.now();
    page = current = await browser.newPage();
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, NAIROBI, '254712000101', 'Wanjiru');
    await chat.say('hi');
    await chat.business('Welcome to Duka Nairobi');
    await screenshot(page, 'nairobi-1-greeting');
    await chat.tap('Shop');
    await chat.choose('Categories', 'Pizza');
    await chat.choose('Products', 'Margherita Pizza');
    const card = await chat.business('Margherita Pizza');
    await expect(card.locator('img.media').count()).resolves.toBe(1);
    await chat.tap('Add to cart');
    await chat.choose('Sizes', 'Large');
    await chat.tap('Thick');
    await chat.choose('Options', 'Extra cheese');
    await chat.choose('Options', 'Mushrooms');
    await chat.choose('Options', 'Done');
    await chat.business('How many');
    await chat.say('2');
    await chat.business('Added 2');
    await chat.tap('Checkout');
    await chat.tap('Delivery');
    await chat.business('delivery address');
    await chat.shareLocation();
    const summary = await chat.business(/Order NBO-/);
    await screenshot(page, 'nairobi-2-summary');
    expect(await summary.textContent()).toContain('Thick');
    await chat.tap('Confirm');
    await chat.tap('M-Pesa');
    await chat.business('Check your phone');
    await chat.mpesaPrompt();
    await screenshot(page, 'nairobi-3-mpesa-prompt');
    await chat.enterMpesaPin('1234');
    const receipt = await chat.business('Receipt', 30_000);
    expect(await receipt.textContent()).toMatch(/Paid by M-Pesa, reference T[A-Z0-9]{9}/);
    await chat.orderStatus('PAID');
    const orderNumber = await chat.orderNumber();
    await screenshot(page, 'nairobi-4-receipt');

    // The panel's link is the order workflow's page in the Temporal UI, and the workflow agrees.
    const link = await page.getAttribute('#order-temporal-link', 'href');
    expect(link).toBe(`http://localhost:8233/namespaces/default/workflows/${encodeURIComponent(`order:${orderNumber}`)}`);
    const view = await duka.client.workflow.getHandle(`order:${orderNumber}`).query(orderQuery);
    expect(view.status).toBe('PAID');
    expect(view.items[0]?.options.map((o) => o.option)).toEqual(expect.arrayContaining(['Thick', 'Extra cheese', 'Mushrooms']));
    // Read ticks: duka's messages were sent → delivered → read (the status webhooks it accepted).
    await page.locator('.row.them .tick.read').first().waitFor();
    expect(duka.sandbox.statusDeliveries.filter((d) => d.httpStatus === 200).length).toBeGreaterThan(3);
    timings.pizza = (Date.now() - started) / 1000;
  }, 120_000);

  it('a wrong PIN fails the payment; "Try again" sends a new prompt that pays', async () => {
    const started = Date.now();
    page = current = await browser.newPage();
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, NAIROBI, '254712000102', 'Otieno');
    await buyCoffeeByCatalog(chat);
    await chat.tap('M-Pesa');
    await chat.enterMpesaPin('0000');
    await chat.business('The PIN was wrong');
    await screenshot(page, 'nairobi-5-wrong-pin');
    await chat.tap('Try again');
    await chat.enterMpesaPin('4321');
    await chat.business('Receipt', 30_000);
    await chat.orderStatus('PAID');
    const view = await duka.client.workflow.getHandle(`order:${await chat.orderNumber()}`).query(orderQuery);
    expect(view.payments.map((p) => p.status)).toEqual(['failed', 'succeeded']);
    await screenshot(page, 'nairobi-6-retry-paid');
    timings.retry = (Date.now() - started) / 1000;
  }, 120_000);

  it('a dropped Daraja callback: duka finds the payment by polling the STK query', async () => {
    const started = Date.now();
    page = current = await browser.newPage();
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, NAIROBI, '254712000103', 'Akinyi');
    await chat.toggle('mpesa', 'drop', true);
    const callbacksBefore = duka.sandbox.simulators.mpesa.control.deliveries().length;
    try {
      // This time through duka's catalog message: "Browse the catalog" → "View catalog" → a native order message.
      await chat.say('shop');
      await chat.choose('Categories', 'Browse the catalog');
      const catalog = await chat.business('catalog');
      await catalog.locator('[data-catalog]').click();
      await page.click('[data-add="NBO-HONEY-500"]');
      await page.click('[data-add="NBO-HONEY-500"]');
      await chat.sendCart();
      await chat.business('Your cart');
      await chat.tap('Checkout');
      await chat.tap('Pickup');
      await chat.business(/Order NBO-/);
      await chat.tap('Confirm');
      await chat.tap('M-Pesa');
      await chat.enterMpesaPin('1234');
      await chat.business('Receipt', 30_000);
      await chat.orderStatus('PAID');
      expect(duka.sandbox.simulators.mpesa.control.deliveries()).toHaveLength(callbacksBefore);
      const view = await duka.client.workflow.getHandle(`order:${await chat.orderNumber()}`).query(orderQuery);
      expect(view.payments.at(-1)?.status).toBe('succeeded');
      await screenshot(page, 'nairobi-7-dropped-callback-polled');
    } finally {
      await chat.toggle('mpesa', 'drop', false);
    }
    timings.dropped = (Date.now() - started) / 1000;
  }, 120_000);
});

/** Catalog → cart → checkout with pickup → confirm: leaves the payment choice on screen. */
async function buyCoffeeByCatalog(chat: ChatPage): Promise<void> {
  await chat.orderFromCatalog(['NBO-COFFEE-500']);
  await chat.business('Your cart');
  await chat.tap('Checkout');
  await chat.tap('Pickup');
  await chat.business(/Order NBO-/);
  await chat.tap('Confirm');
}
