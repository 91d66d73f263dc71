/**
 * The console in a real Chromium (Debian's package, driven by playwright-core) against a real
 * Tollgate: HTTP, graphql-ws and a database. One server and one browser for the file; the tests
 * run in order and share what earlier ones made (keys, spend).
 *
 * Without Chromium (/usr/bin/chromium, or CHROMIUM_PATH) the file is skipped and says so.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console';
import { startApp } from '../../src/app';
import { CONSOLE_CSP } from '../../src/server/console';
import { createLogger } from '../../src/shared/logger';
import { TestServer, user } from '../support/harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.log(
    `Console browser tests skipped: Chromium is missing (no ${CHROMIUM}; apt-get install -y chromium, or set CHROMIUM_PATH).`,
  );
}
const describeInBrowser = HAS_CHROMIUM ? describe : describe.skip;

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/console');
const WIDTHS: [number, number] = [1280, 390];

interface Status {
  budget: { id: string; period: string; timeZone: string };
  spent: string;
  reserved: string;
  limit: string;
  remaining: string;
  utilization: number;
}

const STATUS = `{ budgetStatus { budget { id period timeZone } spent reserved limit remaining utilization } }`;

/** "$1,234.50" and "1234.5" are the same amount; "$0.00" and "0" too. Exact: no float. */
function sameUsd(shown: string, api: string): boolean {
  const norm = (s: string) => {
    const t = s.replace(/[$,\s]/g, '');
    return t.includes('.') ? t.replace(/0+$/, '').replace(/\.$/, '') : t;
  };
  return norm(shown) === norm(api);
}

/** Polls `read` until `ok` holds, or fails after `ms` with the last value seen. */
async function within<T>(
  ms: number,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // the element is not there yet
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (page: Page, selector: string) => () =>
  page.locator(selector).first().innerText({ timeout: 200 });

describeInBrowser('Tollgate Console in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  let adminKey: string;
  let clientKey: string;
  /** The CLIENT key an ADMIN made through the UI. */
  let uiKey: string;
  let dailyBudgetId: string;
  const external: string[] = [];
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const status = async (key = adminKey): Promise<Status> => {
    const data = await server.ok<{ budgetStatus: Status[] }>(STATUS, {}, key);
    const found = data.budgetStatus.find((s) => s.budget.id === dailyBudgetId);
    if (!found) throw new Error('daily budget missing');
    return found;
  };

  const watch = (p: Page) => {
    p.on('request', (r) => {
      const url = r.url();
      if (
        !url.startsWith(origin) &&
        !url.startsWith('data:') &&
        !url.startsWith(origin.replace('http', 'ws'))
      )
        external.push(url);
    });
    p.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    p.on('pageerror', (e) => pageErrors.push(e.message));
  };

  const shoot = async (p: Page, name: string) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 900 });
      await p.evaluate('window.scrollTo(0, 0)');
      await p.waitForTimeout(150); // the chart follows its container's width
      await p.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
    }
    await p.setViewportSize({ width: WIDTHS[0], height: 900 });
  };

  const signIn = async (p: Page, key: string) => {
    await p.goto(`${origin}/`);
    await p.fill('#signin-key', key);
    await p.click('form button[type=submit]');
    await p.waitForSelector('[data-role]');
    await p.waitForSelector('[data-connection=live]');
  };

  const goTo = async (p: Page, title: string) => {
    await p.click(`nav.tabs >> text=${title}`);
    await p.waitForSelector(`nav.tabs a[aria-current=page]:has-text("${title}")`);
  };

  beforeAll(async () => {
    const [, started] = await Promise.all([buildConsole(), TestServer.start()]);
    server = started;
    origin = new URL(server.app.url).origin;
    ({ adminKey } = await server.createProject('acme'));
    await server.addCatalog(adminKey, { simulation: { chunkDelayMs: 40 } });
    dailyBudgetId = await server.createBudget(adminKey, {
      limitUsd: '0.001',
      period: 'DAILY',
      timeZone: 'America/New_York',
    });
    clientKey = (await server.createKey(adminKey, 'CLIENT', 'web-app')).key;
    // some spend before anyone looks, so the figures are not all zero
    const first = await server.complete(clientKey, {
      model: 'deepseek-chat',
      messages: user('first call'),
      maxTokens: 60,
    });
    expect(first.errors).toBeUndefined();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: WIDTHS[0], height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    page = await context.newPage();
    watch(page);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('/ serves the console with a strict Content-Security-Policy and no inline script', async () => {
    const response = await fetch(`${origin}/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(CONSOLE_CSP);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const html = await response.text();
    expect(html).toContain('<script type="module" src="/app.js">');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script has a src
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere
    const js = await fetch(`${origin}/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    // the page paths are the console's; the API is where it was
    expect((await fetch(`${origin}/usage`)).status).toBe(200);
    expect((await fetch(`${origin}/healthz`)).headers.get('content-security-policy')).toBeNull();
  });

  test('a bad key gets a clear message; the ADMIN key signs in and stays out of the URL', async () => {
    await page.goto(`${origin}/`);
    await shoot(page, 'signin');
    await page.fill('#signin-key', 'tg_this-key-does-not-exist');
    await page.click('form button[type=submit]');
    await page.waitForSelector('#signin-error');
    expect(await page.locator('#signin-error').innerText()).toMatch(/not accepted/);
    expect(await page.locator('[data-role]').count()).toBe(0);

    await signIn(page, adminKey);
    expect(await page.locator('[data-role]').innerText()).toBe('ADMIN');
    expect(await page.locator('[data-project]').innerText()).toBe('acme');
    expect(page.url()).not.toContain(adminKey);
    expect(await page.evaluate('sessionStorage.getItem("tollgate.console.key")')).toBe(adminKey);
    expect(await page.evaluate('localStorage.length')).toBe(0);
  });

  test('the gauge shows the figures budgetStatus returns', async () => {
    const api = await status();
    const gauge = `[data-budget-id="${dailyBudgetId}"]`;
    await page.waitForSelector(gauge);
    for (const figure of ['spent', 'reserved', 'limit', 'remaining'] as const) {
      const shown = await page.locator(`${gauge} [data-figure=${figure}]`).innerText();
      expect({ figure, shown, ok: sameUsd(shown, api[figure]) }).toEqual({ figure, shown, ok: true });
    }
    // exact, not rounded to zero: a ~100-token deepseek call is a few hundred-thousandths of a dollar
    expect(await page.locator(`${gauge} [data-figure=spent]`).innerText()).toMatch(/^\$0\.0000\d+$/);
    const percent = parseFloat(
      (await page.locator(`${gauge} [data-figure=utilization]`).textContent()) ?? '',
    );
    expect(Math.abs(percent / 100 - api.utilization)).toBeLessThan(0.0001);
    expect(await page.locator(`${gauge} [data-figure=period]`).innerText()).toBe('DAILY · America/New_York');
    expect(await page.locator(`${gauge} [data-figure=projected]`).innerText()).toMatch(/^\$\d/);
  });

  test('a completion made through the API moves the gauge and adds a ledger row within 1 s, without reload', async () => {
    await page.evaluate('window.__sameDocument = true');
    const before = await status();
    const call = await server.complete(clientKey, {
      model: 'deepseek-chat',
      messages: user('move the gauge'),
      maxTokens: 60,
    });
    const answered = Date.now();
    expect(call.errors).toBeUndefined();
    const recordId = String(call.data?.createChatCompletion.id);
    const after = await status();
    expect(after.spent).not.toBe(before.spent);

    await within(
      1000 - (Date.now() - answered),
      text(page, `[data-budget-id="${dailyBudgetId}"] [data-figure=spent]`),
      (shown) => sameUsd(shown, after.spent),
      'gauge shows the new spend',
    );
    await within(
      1000 - (Date.now() - answered),
      () => page.locator(`[data-record-id="${recordId}"]`).count(),
      (n) => n === 1,
      'ledger row of the call',
    );
    expect(Date.now() - answered).toBeLessThan(1000);
    const cost = await page.locator(`[data-record-id="${recordId}"] [data-cell=cost]`).innerText();
    expect(sameUsd(cost, String(call.data?.createChatCompletion.cost))).toBe(true);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  });

  test('crossing a threshold shows the alert live', async () => {
    expect(await page.locator('[data-alert-type=BUDGET_THRESHOLD]').count()).toBe(0);
    // gpt-4.1 calls of at most 40 completion tokens (<= $0.00034 each) until half the $0.001 is spent
    for (let i = 0; (await status()).utilization < 0.5; i++) {
      expect(i).toBeLessThan(6);
      const call = await server.complete(clientKey, {
        model: 'gpt-4.1',
        messages: user(`spend ${i}`),
        maxTokens: 40,
      });
      expect(call.errors).toBeUndefined();
    }
    const crossed = Date.now();
    const alert = '[data-alert-type=BUDGET_THRESHOLD].alert-fresh';
    await within(
      2000,
      text(page, alert),
      (t) => t.includes('Threshold crossed: 50%'),
      'live threshold alert',
    );
    expect(Date.now() - crossed).toBeLessThan(2000);
    const history = await server.ok<{ alerts: { type: string; threshold: number | null }[] }>(
      `{ alerts { type threshold } }`,
      {},
      adminKey,
    );
    expect(history.alerts).toContainEqual({ type: 'BUDGET_THRESHOLD', threshold: 0.5 });
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  });

  test('usage and operations pages show the ledger, reports and limiter state', async () => {
    await goTo(page, 'Usage');
    await page.waitForSelector('.chart canvas');
    await page.waitForSelector('[data-figure=savings]');
    const records = await server.ok<{ usageRecords: { nodes: { id: string }[] } }>(
      `{ usageRecords(first: 1) { nodes { id } } }`,
      {},
      adminKey,
    );
    await page.waitForSelector(`[data-record-id="${records.usageRecords.nodes[0]!.id}"]`);
    // a different baseline changes the report
    const savings = await page.locator('[data-figure=savings]').innerText();
    await page.selectOption('#baseline', 'claude-sonnet-4.5');
    await within(
      3000,
      text(page, '[data-figure=savings]'),
      (t) => t !== savings,
      'savings for another baseline',
    );
    await shoot(page, 'usage');

    await goTo(page, 'Operations');
    await page.waitForSelector('[data-provider=upstream] [data-upstream-key="1"]');
    expect(await page.locator('[data-circuit=CLOSED]').count()).toBeGreaterThan(0);
    await shoot(page, 'operations');
  });

  test('an ADMIN creates a key and a budget through the UI, and they exist in the API', async () => {
    await goTo(page, 'Admin');
    await page.fill('#key-name', 'made-in-the-ui');
    await page.click('form[data-form=create-key] button[type=submit]');
    await page.waitForSelector('[data-secret]');
    const newKey = await page.locator('[data-secret]').inputValue();
    uiKey = newKey;
    expect(newKey).toMatch(/^tg_/);
    await page.click('.once-secret button');
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(newKey);
    const me = await server.ok<{ me: { apiKey: { name: string; role: string } } }>(
      `{ me { apiKey { name role } } }`,
      {},
      newKey,
    );
    expect(me.me.apiKey).toEqual({ name: 'made-in-the-ui', role: 'CLIENT' });

    // the API's field error lands next to the field it names
    const form = 'form[data-form=budget]';
    await page.fill('#budget-limitUsd', '0');
    await page.click(`${form} button[type=submit]`);
    await page.waitForSelector(`${form} [data-field=limitUsd] .field-error`);
    expect(await page.locator(`${form} [data-field=limitUsd] .field-error`).innerText()).toMatch(
      /limitUsd must be positive/,
    );
    expect(await page.locator('#budget-limitUsd').getAttribute('aria-invalid')).toBe('true');
    await page.fill('#budget-limitUsd', '3.50');
    await page.fill('#budget-timeZone', 'Mars/Olympus_Mons');
    await page.click(`${form} button[type=submit]`);
    await page.waitForSelector(`${form} [data-field=timeZone] .field-error`);
    expect(await page.locator(`${form} [data-field=limitUsd] .field-error`).count()).toBe(0);

    await page.selectOption('#budget-period', 'MONTHLY');
    await page.fill('#budget-timeZone', 'Europe/Paris');
    await page.selectOption('#budget-policy', 'DOWNGRADE');
    await page.fill('#budget-thresholds', '0.6, 0.8');
    await page.click(`${form} button[type=submit]`);
    await page.waitForSelector(`${form} .form-ok`);
    const budgets = await server.ok<{ budgetList: Record<string, unknown>[] }>(
      `{ budgetList { id apiKeyId limitUsd period timeZone policy thresholds } }`,
      {},
      adminKey,
    );
    const made = budgets.budgetList.find((b) => b.timeZone === 'Europe/Paris');
    expect(made).toEqual({
      id: expect.any(String),
      apiKeyId: null,
      limitUsd: '3.5',
      period: 'MONTHLY',
      timeZone: 'Europe/Paris',
      policy: 'DOWNGRADE',
      thresholds: [0.6, 0.8],
    });
    await page.waitForSelector(`[data-table=budgets] [data-budget-id="${String(made?.id)}"]`);
  });

  test('webhooks: add an endpoint, send a test, see it delivered in the log', async () => {
    const received: string[] = [];
    const receiver = http.createServer((req, res) => {
      req.on('data', (c: Buffer) => received.push(c.toString()));
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    server.defer(() => new Promise((resolve) => receiver.close(resolve)));
    const address = receiver.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;

    await page.fill('#webhook-url', 'not a url');
    await page.click('form[data-form=webhook] button[type=submit]');
    await page.waitForSelector('form[data-form=webhook] [data-field=url] .field-error');
    await page.fill('#webhook-url', url);
    await page.click('form[data-form=webhook] button[type=submit]');
    await page.waitForSelector('.once-secret >> text=Signing secret');
    await page.click('[data-table=webhooks] button:has-text("Send test")');
    await page.waitForSelector('[data-table=deliveries] .badge-ok:has-text("DELIVERED")', {
      timeout: 10_000,
    });
    expect(received.length).toBeGreaterThan(0);
    await shoot(page, 'admin');
  });

  test('the playground streams an answer, shows model, tier, tokens and exact cost, and the gauge moves', async () => {
    await goTo(page, 'Playground');
    const before = await status();
    await page.selectOption('#play-model', 'auto');
    await page.fill('#play-messages', 'Say hello to the console test, please.');
    await page.fill('#play-maxTokens', '60');
    await page.waitForSelector('[data-estimate] strong');
    await page.click('form[data-form=playground] button[type=submit]');
    // streamed: text arrives in several pieces before the final event
    const partial = await within(
      5000,
      async () => ({
        state: await page.locator('[data-answer]').getAttribute('data-state'),
        chunks: Number(await page.locator('[data-answer]').getAttribute('data-chunks')),
      }),
      (v) => v.state === 'streaming' && v.chunks >= 2,
      'partial answer while streaming',
    );
    expect(partial.chunks).toBeGreaterThanOrEqual(2);
    await page.waitForSelector('[data-answer][data-state=done]', { timeout: 10_000 });
    await page.waitForSelector('[data-result]');

    const ledger = await server.ok<{
      usageRecords: {
        nodes: {
          modelServed: string;
          routeTier: string;
          cost: string;
          promptTokens: number;
          completionTokens: number;
        }[];
      };
    }>(
      `{ usageRecords(first: 1) { nodes { modelServed routeTier cost promptTokens completionTokens } } }`,
      {},
      adminKey,
    );
    const record = ledger.usageRecords.nodes[0]!;
    expect(await page.locator('[data-result] [data-figure=model]').innerText()).toContain(record.modelServed);
    expect(await page.locator('[data-result] [data-figure=tier]').innerText()).toBe(record.routeTier);
    expect(sameUsd(await page.locator('[data-result] [data-figure=cost]').innerText(), record.cost)).toBe(
      true,
    );
    expect(await page.locator('[data-result] [data-figure=tokens]').innerText()).toBe(
      `${record.promptTokens} + ${record.completionTokens} = ${record.promptTokens + record.completionTokens}`,
    );
    expect((await page.locator('[data-answer]').innerText()).length).toBeGreaterThan(10);

    const after = await status();
    expect(after.spent).not.toBe(before.spent);
    await within(
      2000,
      text(page, `[data-budget-id="${dailyBudgetId}"] [data-figure=spent]`),
      (shown) => sameUsd(shown, after.spent),
      'playground gauge moved',
    );
    await shoot(page, 'playground');
  });

  test('a CLIENT key sees its spend and no admin controls, and the API refuses it anyway', async () => {
    const clientContext = await browser.newContext({ viewport: { width: WIDTHS[0], height: 900 } });
    try {
      const clientPage = await clientContext.newPage();
      watch(clientPage);
      await signIn(clientPage, clientKey);
      expect(await clientPage.locator('[data-role]').innerText()).toBe('CLIENT');
      const api = await status(clientKey);
      const spent = `[data-budget-id="${dailyBudgetId}"] [data-figure=spent]`;
      await within(2000, text(clientPage, spent), (t) => sameUsd(t, api.spent), 'client sees the spend');
      expect(await clientPage.locator('nav.tabs a[href="/admin"]').count()).toBe(0);

      await clientPage.goto(`${origin}/admin`);
      await clientPage.waitForSelector('[data-admin-refused]');
      expect(await clientPage.locator('form[data-form=create-key], form[data-form=budget]').count()).toBe(0);

      const refused = await server.gql(
        `mutation { createApiKey(input: { name: "sneaky", role: ADMIN }) { key } }`,
        {},
        clientKey,
      );
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const noBudget = await server.gql(
        `mutation { createBudget(input: { limitUsd: "1", period: DAILY }) { id } }`,
        {},
        clientKey,
      );
      expect(noBudget.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await clientContext.close();
    }
  });

  test('revoking a key in the admin page signs its open console out', async () => {
    const otherContext = await browser.newContext({ viewport: { width: WIDTHS[0], height: 900 } });
    try {
      const other = await otherContext.newPage();
      watch(other);
      await signIn(other, uiKey);
      await goTo(page, 'Admin');
      const row = page.locator('[data-table=keys] tr', { hasText: 'made-in-the-ui' });
      await row.locator('button:has-text("Revoke")').click();
      await row.locator('button:has-text("Revoke made-in-the-ui")').click();
      await row.locator('.badge-crit:has-text("revoked")').waitFor();
      const revoked = Date.now();
      await other.waitForSelector('#signin-key', { timeout: 3000 });
      expect(Date.now() - revoked).toBeLessThan(3000);
      expect(await other.locator('.notice').innerText()).toMatch(/refused|no longer accepts/);
      expect(await other.evaluate('sessionStorage.getItem("tollgate.console.key")')).toBeNull();
      const refused = await server.gql(`{ me { kind } }`, {}, uiKey);
      expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await otherContext.close();
    }
  });

  test('the connection state shows a server restart and recovers, and live updates resume', async () => {
    await goTo(page, 'Overview');
    await page.waitForSelector('[data-connection=live]');
    const port = server.app.port;
    await server.app.close();
    await page.waitForSelector('[data-connection=reconnecting]', { timeout: 5000 });
    // same port, same database: what a restart is
    server.app = await startApp({ ...server.config, port }, createLogger('silent'));
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });

    const call = await server.complete(clientKey, {
      model: 'deepseek-chat',
      messages: user('after the restart'),
      maxTokens: 20,
    });
    expect(call.errors).toBeUndefined();
    const after = await status();
    await within(
      2000,
      text(page, `[data-budget-id="${dailyBudgetId}"] [data-figure=spent]`),
      (shown) => sameUsd(shown, after.spent),
      'live again after the restart',
    );
    await shoot(page, 'overview');
  }, 60_000);

  test('sign out forgets the key; nothing was fetched from elsewhere and the CSP was never violated', async () => {
    await page.click('button:has-text("Sign out")');
    await page.waitForSelector('#signin-key');
    expect(await page.evaluate('sessionStorage.getItem("tollgate.console.key")')).toBeNull();
    expect(external).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
