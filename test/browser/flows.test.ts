import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Page } from 'playwright-core';
import { ChatPage, launchBrowser, screenshot, type Browser } from './chat-page.ts';
import { ADMIN_TOKEN, NAIROBI, startSandboxDuka, type SandboxDuka } from './harness.ts';

/**
 * The sandbox renders a WhatsApp Flow (issue 10 item 3): the Nairobi pizza customised in the Flow deployed from
 * flows/customise-product.json, the sandbox playing WhatsApp's client against duka's real data endpoint (RSA-OAEP +
 * AES-GCM, signed), the answer coming back as the nfm_reply, the pizza in the cart at the Flow's price.
 */
describe('sandbox in a browser: a WhatsApp Flow', () => {
  let duka: SandboxDuka;
  let browser: Browser;
  let page: Page | undefined;

  beforeAll(async () => {
    duka = await startSandboxDuka({ label: 'browser_flows' });
    browser = await launchBrowser();
    const res = await fetch(`${duka.baseUrl}/api/admin/shops/nairobi/flows/deploy`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    if (res.status !== 200) throw new Error(`deploy answered ${res.status}: ${await res.text()}`);
  }, 120_000);
  afterAll(async () => {
    if (page && !page.isClosed()) await screenshot(page, 'flows-end');
    await browser?.close();
    await duka?.stop();
  }, 120_000);

  it('customises a pizza in the rendered Flow and finds it in the cart at the Flow\'s price', async () => {
    page = await browser.newPage();
    const chat = new ChatPage(page);
    await chat.open(duka.baseUrl, NAIROBI, '254712000191', 'Akinyi');
    await chat.say('hi');
    await chat.tap('Shop');
    await chat.choose('Categories', 'Pizza');
    await chat.choose('Products', 'Margherita Pizza');
    await chat.tap('Add to cart');
    await chat.business('Choose the size and extras');
    await page.locator('.row.them .wa-btn', { hasText: 'Customize' }).last().click();

    const customise = page.locator('[data-flow-screen="CUSTOMISE"]');
    await customise.waitFor();
    await expect(customise.locator('h4').first().textContent()).resolves.toBe('Margherita Pizza');
    // The default size is picked already (seed 002).
    await expect(customise.locator('[data-option-id="nairobi-pizza-small"] input').isChecked()).resolves.toBe(true);
    await customise.locator('[data-option-id="nairobi-pizza-large"] input').check();
    await customise.locator('[data-option-id="nairobi-pizza-crust-crust-thick"] input').check();
    await customise.locator('[data-option-id="nairobi-pizza-addons-addon-cheese"] input').check();
    await screenshot(page, 'flows-1-customise');
    await customise.locator('[data-flow-footer]').click();

    const summary = page.locator('[data-flow-screen="SUMMARY"]');
    await summary.waitFor();
    await expect(summary.textContent()).resolves.toContain('KES 1,700');
    await screenshot(page, 'flows-2-summary');
    await summary.locator('[data-flow-footer]').click();

    await chat.business('How many');
    await chat.say('1');
    const cart = await chat.business('KES 1,700');
    expect(await cart.textContent()).toContain('Margherita Pizza');
  }, 180_000);
});
