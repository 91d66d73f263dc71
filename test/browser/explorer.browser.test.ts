/**
 * The GraphQL explorer (GraphiQL bundled with Tollgate) in a real Chromium (Debian's package,
 * driven by playwright-core) against a real Tollgate, with every request beyond this machine
 * refused: it loads, runs a query over HTTP and a subscription over graphql-ws with the key typed
 * in its Authorization field. Without the explorer (TOLLGATE_EXPLORER=false), a browser's
 * GET /graphql gets a short text, never Apollo's CDN-loaded landing page.
 *
 * Without Chromium (/usr/bin/chromium, or CHROMIUM_PATH) the browser part is skipped and says so.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildExplorer } from '../../scripts/build-explorer';
import { explorerCsp } from '../../src/server/explorer';
import { TestServer, user } from '../support/harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
if (!HAS_CHROMIUM) {
  console.log(
    `Explorer browser tests skipped: Chromium is missing (no ${CHROMIUM}; apt-get install -y chromium, or set CHROMIUM_PATH).`,
  );
}
const describeInBrowser = HAS_CHROMIUM ? describe : describe.skip;

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/explorer');
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'; // what Chromium sends

/**
 * The text of a GraphiQL editor (CodeMirror 5 keeps its instance on its wrapper element). The
 * scripts run in the page, so they are strings here: this file is compiled without the DOM's types.
 */
const editorText = (page: Page, selector: string): Promise<string> =>
  page.evaluate(
    `document.querySelector(${JSON.stringify(`${selector} .CodeMirror`)})?.CodeMirror.getValue() ?? ''`,
  );

async function setQuery(page: Page, query: string): Promise<void> {
  await page.evaluate(
    `document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(${JSON.stringify(query)})`,
  );
}

/** Polls the response pane until `ok` holds for its JSON, or fails after `ms` with the last text seen. */
async function response<T>(page: Page, ok: (json: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    last = await editorText(page, '.graphiql-response');
    try {
      const json = JSON.parse(last) as T;
      if (ok(json)) return json;
    } catch {
      // empty, or still the previous answer being replaced
    }
    if (Date.now() > deadline) throw new Error(`response pane: not within ${ms} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describeInBrowser('the GraphQL explorer in Chromium, with no network beyond this machine', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let origin: string;
  let clientKey: string;
  const external: string[] = [];
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const [, started] = await Promise.all([buildExplorer(), TestServer.start({ TOLLGATE_EXPLORER: 'true' })]);
    server = started;
    origin = new URL(server.app.url).origin;
    const { adminKey } = await server.createProject('explorer');
    await server.addCatalog(adminKey);
    await server.createBudget(adminKey, { limitUsd: '5', period: 'DAILY' });
    clientKey = (await server.createKey(adminKey, 'CLIENT', 'explorer-client')).key;
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
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Offline but for this machine: anything not from the server's origin is refused and noted.
    await context.route(
      (url) => url.origin !== origin,
      async (route) => {
        external.push(route.request().url());
        await route.abort('internetdisconnected');
      },
    );
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('GET /graphql from a browser is the explorer, under a strict Content-Security-Policy', async () => {
    const answer = await fetch(server.app.url, { headers: { accept: HTML, 'accept-encoding': 'identity' } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = answer.headers.get('content-security-policy') ?? '';
    const html = await answer.text();
    // a fresh nonce per page, for the one <style> GraphiQL's dialogs insert; no inline script at all
    const nonce = /name="tollgate-style-nonce" content="([^"]+)"/.exec(html)?.[1] ?? '';
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(csp).toBe(explorerCsp(nonce));
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const again = await (await fetch(server.app.url, { headers: { accept: HTML } })).text();
    expect(again).not.toContain(nonce);
    expect(html).toContain('<script type="module" src="/explorer/explorer.js">');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere

    const js = await fetch(`${origin}/explorer/explorer.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('content-encoding')).toBe('gzip'); // fetch unzips; the header says what came
    expect((await js.text()).length).toBeGreaterThan(100_000);
    // the API answers JSON clients as before
    const api = await fetch(`${server.app.url}?query=%7B__typename%7D`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await api.json()).toEqual({ data: { __typename: 'Query' } });
  });

  test('runs a query over HTTP with the key typed in its Authorization field', async () => {
    await page.goto(server.app.url);
    await page.waitForSelector('.graphiql-query-editor .CodeMirror');
    await page.fill('#explorer-key', clientKey);
    await setQuery(page, '{ me { kind apiKey { name role } } }');
    await page.click('.graphiql-execute-button');
    const answer = await response<{
      data?: { me: { kind: string; apiKey: { name: string; role: string } } };
    }>(page, (json) => json.data?.me !== undefined);
    expect(answer.data?.me).toEqual({ kind: 'API_KEY', apiKey: { name: 'explorer-client', role: 'CLIENT' } });
    // the key stays in this tab, never in the URL or localStorage
    expect(page.url()).not.toContain(clientKey);
    expect(await page.evaluate('sessionStorage.getItem("tollgate.explorer.key")')).toBe(clientKey);
    expect(JSON.stringify(await page.evaluate('Object.entries(localStorage)'))).not.toContain(clientKey);
    // GraphiQL read the schema (introspection is on here): its docs know the Query type
    await page.click('[aria-label="Show Documentation Explorer"]');
    await page.waitForSelector('.graphiql-doc-explorer >> text=Query');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'explorer-1280.png') });
  });

  test('runs a subscription over graphql-ws: a completion made meanwhile arrives as an event', async () => {
    await setQuery(page, 'subscription { budgetMetrics { at budgets { spent } } }');
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.click('.graphiql-execute-button');
    await page.waitForSelector('[aria-label="Stop query (Ctrl-Enter)"]');
    expect(sockets).toEqual([server.app.wsUrl]);
    // the socket is authenticated when it opens; then a call settles and its metrics are pushed
    await new Promise((r) => setTimeout(r, 200));
    const call = await server.complete(clientKey, {
      model: 'deepseek-chat',
      messages: user('hello explorer'),
    });
    expect(call.errors).toBeUndefined();
    const event = await response<{ data?: { budgetMetrics: { at: string; budgets: { spent: string }[] } } }>(
      page,
      (json) => json.data?.budgetMetrics !== undefined,
    );
    expect(Date.parse(event.data!.budgetMetrics.at)).not.toBeNaN();
    expect(Number(event.data!.budgetMetrics.budgets[0]?.spent)).toBeGreaterThan(0);
    await page.click('[aria-label="Stop query (Ctrl-Enter)"]');
    await page.waitForSelector('[aria-label="Execute query (Ctrl-Enter)"]');
  });

  test('its dialogs open and close under the same policy', async () => {
    await page.click('[aria-label="Open settings dialog"]');
    await page.waitForSelector('.graphiql-dialog');
    await page.keyboard.press('Escape');
    await page.waitForSelector('.graphiql-dialog', { state: 'detached' });
  });

  test('nothing was fetched from elsewhere, the CSP was never violated, and no script failed', () => {
    expect(external).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('without the explorer (TOLLGATE_EXPLORER=false)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await TestServer.start({ TOLLGATE_EXPLORER: 'false' });
  }, 120_000);
  afterAll(() => server?.close());

  test("a browser's GET /graphql gets a short text saying what the endpoint is, not a CDN page", async () => {
    const answer = await fetch(server.app.url, { headers: { accept: HTML } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await answer.text();
    expect(text).toMatch(/GraphQL endpoint/);
    expect(text).toMatch(/TOLLGATE_EXPLORER=true/);
    expect(text).not.toMatch(/https?:\/\/|<script/);
    expect(text.length).toBeLessThan(1000);
    expect((await fetch(`${new URL(server.app.url).origin}/explorer/explorer.js`)).status).toBe(404);
  });
});
