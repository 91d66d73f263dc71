import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { CONSOLE_CSP, consoleRouter } from '../../src/server/console';

/** The console's route without a browser: it answers only its own paths, and without a build it says so. */
describe('console router', () => {
  const servers: http.Server[] = [];
  const dirs: string[] = [];

  async function serve(dir: string): Promise<string> {
    const app = express();
    app.use(consoleRouter({ dir }));
    app.get('/graphql', (_req, res) => {
      res.json({ api: true });
    });
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('without a build, the console paths answer 503 with how to build it; other paths are untouched', async () => {
    const base = await serve(path.join(os.tmpdir(), 'tollgate-no-console-here'));
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(503);
    expect(await page.text()).toMatch(/npm run build/);
    expect((await fetch(`${base}/app.js`)).status).toBe(503);
    const api = await fetch(`${base}/graphql`);
    expect(await api.json()).toEqual({ api: true });
  });

  test('with a build, pages answer index.html and assets themselves, all with the CSP', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-console-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>console</title>');
    fs.writeFileSync(path.join(dir, 'app.js'), 'export {};');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'not served');
    const base = await serve(dir);
    for (const p of ['/', '/usage', '/admin', '/playground']) {
      const response = await fetch(`${base}${p}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(await response.text()).toContain('<title>console</title>');
    }
    const js = await fetch(`${base}/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/secret.txt`)).status).toBe(404);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
    expect((await fetch(`${base}/graphql`)).headers.get('content-security-policy')).toBeNull();
  });
});
