import fs from 'node:fs';
import path from 'node:path';
import { Router, type Response } from 'express';

/**
 * The console's policy: everything from this origin, nothing inline, nothing from elsewhere.
 * `connect-src 'self'` covers the GraphQL fetches and the graphql-ws socket (CSP 3 matches
 * ws:/wss: on the same host); uPlot and Preact set styles through the CSSOM, which
 * `style-src 'self'` allows, so no 'unsafe-inline' anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's own paths: its pages (client-side routes) answer with index.html. */
export const CONSOLE_PAGES = ['/', '/overview', '/usage', '/operations', '/admin', '/playground'];
const ASSETS = new Set(['/app.js', '/app.css', '/favicon.svg']);

/**
 * Serves the built console (dist/console, made by `npm run build`) at `/`. Only its pages and
 * assets are answered here; every other path falls through to the rest of the app. Without a
 * build (ts-jest runs the sources), the console paths answer 503 with how to build it.
 */
export function consoleRouter(options: { dir?: string } = {}): Router {
  // dist/src/server -> dist/console when compiled; src/server -> dist/console from the sources
  const candidates = options.dir
    ? [options.dir]
    : [path.resolve(__dirname, '../../console'), path.resolve(__dirname, '../../dist/console')];
  let found: string | undefined;
  const consoleDir = (): string | undefined => {
    if (found && fs.existsSync(path.join(found, 'index.html'))) return found;
    found = candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
    return found;
  };

  const router = Router();
  router.get([...CONSOLE_PAGES, ...ASSETS], (req, res, next) => {
    securityHeaders(res);
    const dir = consoleDir();
    if (!dir) {
      res
        .status(503)
        .type('text/plain')
        .send('The Tollgate console is not built. Run `npm run build` (or `npm run build:console`).\n');
      return;
    }
    const file = ASSETS.has(req.path) ? req.path.slice(1) : 'index.html';
    res.sendFile(file, { root: dir, dotfiles: 'deny', cacheControl: false }, (error) => {
      if (error && !res.headersSent) next(error);
    });
  });
  return router;
}

function securityHeaders(res: Response): void {
  res.set({
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    // no content hashes in the file names: revalidate every time (Last-Modified)
    'cache-control': 'no-cache',
  });
}
