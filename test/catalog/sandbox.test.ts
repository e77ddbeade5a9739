import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ADMIN_TOKEN, NAIROBI, startSandboxDuka, type SandboxDuka } from '../browser/harness.ts';
import { ChatPage, launchBrowser, screenshot, type Browser } from '../browser/chat-page.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The sandbox as `npm start` runs it (SANDBOX on, the Graph stand-in at /sandbox/graph, a real worker): the stand-in's
 * catalog starts empty, duka syncs every shop into it, and the chat's "Browse the catalog" lists what it holds, so an
 * owner's change in the admin API is what a customer browsing WhatsApp's catalog sees.
 */
describe('the sandbox\'s WhatsApp catalog', () => {
  let duka: SandboxDuka;
  let browser: Browser | undefined;
  beforeAll(async () => {
    duka = await startSandboxDuka({ label: 'catalog_sandbox' });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await duka?.stop();
  });

  const browse = async (): Promise<{ synced: boolean; items: Json[] }> => (await (await fetch(`${duka.baseUrl}/sandbox/api/catalog?catalogId=900000000000001`)).json()) as { synced: boolean; items: Json[] };
  const until = async (check: (c: { synced: boolean; items: Json[] }) => boolean, what: string) => {
    // A bound, not a timing: on a loaded machine the start-up sync of three shops can take a while.
    for (const deadline = Date.now() + 90_000; ; ) {
      const listed = await browse();
      if (check(listed)) return listed;
      if (Date.now() > deadline) throw new Error(`the sandbox catalog never showed ${what}: ${JSON.stringify(listed)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const patch = async (path: string, body: unknown) => {
    const res = await fetch(`${duka.baseUrl}/api/admin${path}`, { method: 'PATCH', headers: { authorization: `Bearer ${duka.config.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
  };
  const coffee = (c: { items: Json[] }) => c.items.find((i) => i.retailerId === 'NBO-COFFEE-500');

  it('is filled by duka at start, follows a price change, and drops a product that is no longer for sale', async () => {
    const first = await until((c) => c.synced && coffee(c) !== undefined, 'the demo products');
    expect(coffee(first)).toMatchObject({ name: 'Premium Coffee', price: 150_000, description: 'Kenyan AA, 500 g, roasted this week', customisable: false });
    expect(first.items.find((i) => i.retailerId === 'NBO-PIZZA-MARG')).toMatchObject({ customisable: true });

    await patch('/shops/nairobi/products/nairobi-coffee', { price: 165_000 });
    await until((c) => coffee(c)?.price === 165_000, 'the new price');

    await patch('/shops/nairobi/products/nairobi-coffee', { available: false });
    const gone = await until((c) => coffee(c) === undefined, 'the coffee gone');
    expect(gone.items.map((i) => i.retailerId)).toContain('NBO-HONEY-500');
  }, 300_000);

  it('shows in Chromium: the chat\'s catalog sheet lists the stand-in\'s items, the dashboard the sync report with Sync now', async () => {
    browser = await launchBrowser();
    const chat = new ChatPage(await browser.newPage());
    await chat.open(duka.baseUrl, NAIROBI, '254712000901', 'Neema');
    await chat.page.click('#attach');
    await chat.page.click('[data-attach="catalog"]');
    await chat.page.locator('[data-retailer-id="NBO-HONEY-500"]').waitFor();
    // The coffee was taken off sale above: WhatsApp's catalog no longer has it, nor does the sheet.
    expect(await chat.page.locator('[data-retailer-id="NBO-COFFEE-500"]').count()).toBe(0);
    await screenshot(chat.page, 'catalog-sandbox-sheet');

    const page = await browser.newPage();
    await page.goto(`${duka.baseUrl}/admin/?token=${ADMIN_TOKEN}`);
    await page.selectOption('#shop', 'nairobi');
    await page.click('nav a[data-page="catalog"]');
    const section = page.locator('[data-catalog-sync="completed"]');
    await section.waitFor();
    expect(await section.textContent()).toMatch(/4 of 4 products in WhatsApp's catalog/);
    const runs = (await (await fetch(`${duka.baseUrl}/api/admin/shops/nairobi/catalog/sync`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { runs: number };
    await page.click('[data-sync-now]');
    for (const deadline = Date.now() + 20_000; ; ) {
      const now = (await (await fetch(`${duka.baseUrl}/api/admin/shops/nairobi/catalog/sync`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { runs: number; status: string };
      if (now.runs > runs.runs && now.status === 'completed') break;
      if (Date.now() > deadline) throw new Error('Sync now did not run a sync');
      await new Promise((r) => setTimeout(r, 250));
    }
    await screenshot(page, 'catalog-dashboard-sync');
  }, 90_000);
});
