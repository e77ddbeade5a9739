import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { findChromium } from './chromium.ts';

/**
 * Drives the sandbox page as a person would: a real Chromium (CHROMIUM_PATH, else Debian's, else the one packaged in
 * @sparticuz/chromium: see chromium.ts), headless, kept off the network, with a fresh profile.
 * Screenshots go to test-artifacts/ (git-ignored).
 */
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const browser = await findChromium();
  const profile = mkdtempSync(join(tmpdir(), 'duka-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browser.path,
    env: browser.env ? { ...process.env, ...browser.env } : undefined,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A file-name slug of the running jest test's name. */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class ChatPage {
  readonly page: Page;
  /** How many business messages there were when the customer last acted: answers come after it. */
  private mark = 0;
  constructor(page: Page) {
    this.page = page;
  }

  async open(baseUrl: string, phoneNumberId: string, customer: string, name = 'Sandbox Tester'): Promise<void> {
    await this.page.goto(`${baseUrl}/sandbox/?shop=${phoneNumberId}&customer=${customer}`);
    await this.page.locator('#customer').waitFor();
    await this.page.waitForFunction((c) => (document.getElementById('customer') as HTMLInputElement | null)?.value === c, customer);
    await this.page.fill('#name', name);
    await this.page.locator('#name').dispatchEvent('change');
  }

  /** Runs `act` and waits for one more customer message to appear in the chat. */
  private async sending(act: () => Promise<void>): Promise<void> {
    const before = await this.page.locator('.row.me').count();
    this.mark = await this.page.locator('.row.them').count();
    await act();
    await this.page.waitForFunction((n) => document.querySelectorAll('.row.me').length > n, before);
  }

  /**
   * The newest business message since the customer last acted whose text (or, with `selector`, one of whose
   * `selector` elements) matches: its index among the business messages.
   */
  private async fresh(pattern: RegExp, selector: string | null, timeout: number): Promise<number> {
    const handle = await this.page.waitForFunction(
      ({ mark, source, flags, selector }) => {
        const re = new RegExp(source, flags);
        const rows = Array.from(document.querySelectorAll('.row.them'));
        for (let i = rows.length - 1; i >= mark; i--) {
          const candidates = selector ? Array.from(rows[i]!.querySelectorAll(selector)) : [rows[i]!];
          if (candidates.some((el) => re.test((el.textContent ?? '').trim()))) return i + 1;
        }
        return 0;
      },
      { mark: this.mark, source: pattern.source, flags: pattern.flags, selector },
      { timeout },
    );
    return ((await handle.jsonValue()) as number) - 1;
  }

  async say(text: string): Promise<void> {
    await this.sending(async () => {
      await this.page.fill('#text', text);
      await this.page.press('#text', 'Enter');
    });
  }

  /** Sends whatever is typed in the composer. */
  async sendTyped(): Promise<void> {
    await this.sending(() => this.page.press('#text', 'Enter'));
  }

  /** The newest business message containing `text` that arrived since the customer last acted. */
  async business(text: string | RegExp, timeout = 30_000): Promise<Locator> {
    const index = await this.fresh(typeof text === 'string' ? new RegExp(escape(text)) : text, null, timeout);
    return this.page.locator('.row.them').nth(index);
  }

  /** Taps a reply button of the newest business message (since the customer last acted) that has it. */
  async tap(title: string | RegExp, timeout = 30_000): Promise<void> {
    const pattern = typeof title === 'string' ? new RegExp(`^\\W*${escape(title)}$`) : title;
    const index = await this.fresh(pattern, '.wa-btn', timeout);
    const button = this.page.locator('.row.them').nth(index).locator('.wa-btn').filter({ hasText: pattern }).first();
    await this.sending(() => button.click());
  }

  /** Opens the newest list message with this button and sends the row. */
  async choose(listButton: string, rowTitle: string, timeout = 30_000): Promise<void> {
    const pattern = new RegExp(`${escape(listButton)}$`);
    const index = await this.fresh(pattern, '.wa-btn', timeout);
    await this.page.locator('.row.them').nth(index).locator('.wa-btn').filter({ hasText: pattern }).first().click();
    await this.page.locator('.list-row', { hasText: rowTitle }).first().click();
    await this.sending(() => this.page.click('[data-send-list]'));
  }

  async shareLocation(): Promise<void> {
    await this.page.click('#attach');
    await this.page.click('[data-attach="location"]');
    await this.sending(() => this.page.click('[data-send-location]'));
  }

  /** Adds these products from the catalog sheet (one each) and sends the cart as a native order message. */
  async orderFromCatalog(retailerIds: string[]): Promise<void> {
    await this.page.click('#attach');
    await this.page.click('[data-attach="catalog"]');
    for (const id of retailerIds) await this.page.click(`[data-add="${id}"]`);
    await this.sending(() => this.page.click('[data-send-cart]'));
  }

  /** Sends the catalog sheet's cart. */
  async sendCart(): Promise<void> {
    await this.sending(() => this.page.click('[data-send-cart]'));
  }

  async orderStatus(status: string, timeout = 30_000): Promise<void> {
    await this.page.locator(`#order-status[data-status="${status}"]`).waitFor({ timeout });
  }

  async orderNumber(): Promise<string> {
    await this.page.locator('#order-number').waitFor();
    return (await this.page.textContent('#order-number'))!.trim();
  }

  /** The M-Pesa STK prompt on the phone. */
  async mpesaPrompt(timeout = 30_000): Promise<Locator> {
    const prompt = this.page.locator('form[data-prompt="mpesa"]');
    await prompt.waitFor({ timeout });
    return prompt;
  }

  async enterMpesaPin(pin: string): Promise<void> {
    const prompt = await this.mpesaPrompt();
    await prompt.locator('input[name="pin"]').fill(pin);
    this.mark = await this.page.locator('.row.them').count();
    await prompt.locator('[data-action="ok"]').click();
    await prompt.waitFor({ state: 'detached' });
  }

  /** Ticks a simulator toggle in the side panel and waits for the server to confirm it. */
  async toggle(provider: string, name: string, on: boolean): Promise<void> {
    const box = this.page.locator(`input[name="${provider}-${name}"]`);
    await box.waitFor();
    const response = this.page.waitForResponse((r) => r.url().includes(`/api/simulators/${provider}/behaviour`) && r.request().method() === 'POST');
    if (on) await box.check();
    else await box.uncheck();
    await response;
  }
}
