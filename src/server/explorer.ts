import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The explorer's policy: its script and stylesheet from this origin, no inline script, nothing
 * from elsewhere. The one inline style allowed is the one carrying the page's nonce (GraphiQL's
 * dialogs insert a <style> to lock the page's scroll; main.tsx hands the nonce to the library
 * that inserts it). `connect-src 'self'` covers the GraphQL fetches and the graphql-ws socket
 * (CSP 3 matches ws:/wss: on the same host); GraphiQL's few data: images are its own CSS's.
 */
export function explorerCsp(styleNonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    styleNonce ? `style-src 'self' 'nonce-${styleNonce}'` : "style-src 'self'",
    ...POLICY_REST,
  ].join('; ');
}

const POLICY_REST = [
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
];

/** Where the build's index.html takes the page's nonce. */
const NONCE_SLOT = '__STYLE_NONCE__';

const ASSETS = new Map([
  ['/explorer/explorer.js', 'explorer.js'],
  ['/explorer/explorer.css', 'explorer.css'],
]);

/** What a browser gets at /graphql when the explorer is off: where to send requests, and how to turn it on. */
const OFF_PAGE = `This is Tollgate's GraphQL endpoint.

POST GraphQL requests here (content-type: application/json, authorization: Bearer <project key>),
or subscribe over WebSocket (graphql-ws) on the same path.

The GraphQL explorer is off on this server; TOLLGATE_EXPLORER=true turns it on.
`;

/**
 * A browser's GET /graphql (it prefers text/html to JSON, as Apollo's landing page decides it):
 * the explorer (GraphiQL, bundled into dist/explorer by `npm run build`) when `enabled`, else a
 * short text saying what the endpoint is. Its assets are answered at /explorer/ only when it is
 * on. Every other request falls through to Apollo. Without a build (ts-jest runs the sources)
 * the page answers 503 with how to build it. A plain middleware, not an express Router: a Router
 * would answer OPTIONS /graphql itself (its automatic OPTIONS reply), before CORS could.
 */
export function explorerPages(options: { enabled: boolean; dir?: string }): RequestHandler {
  // dist/src/server -> dist/explorer when compiled; src/server -> dist/explorer from the sources
  const candidates = options.dir
    ? [options.dir]
    : [path.resolve(__dirname, '../../explorer'), path.resolve(__dirname, '../../dist/explorer')];
  const explorerDir = (): string | undefined =>
    candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));

  const page = async (res: Response): Promise<void> => {
    securityHeaders(res, explorerCsp());
    if (!options.enabled) {
      res.type('text/plain').send(OFF_PAGE);
      return;
    }
    const dir = explorerDir();
    if (!dir) {
      res
        .status(503)
        .type('text/plain')
        .send('The Tollgate explorer is not built. Run `npm run build` (or `npm run build:explorer`).\n');
      return;
    }
    const nonce = crypto.randomBytes(16).toString('base64');
    const html = await fs.promises.readFile(path.join(dir, 'index.html'), 'utf8');
    res.set('content-security-policy', explorerCsp(nonce));
    res.type('html').send(html.replace(NONCE_SLOT, nonce));
  };

  return (req: Request, res: Response, next: NextFunction) => {
    const asset = options.enabled ? ASSETS.get(req.path) : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
    } else if (req.path === '/graphql' && prefersHtml(req)) {
      page(res).catch(next);
    } else if (asset) {
      securityHeaders(res, explorerCsp());
      const dir = explorerDir();
      if (dir) sendFrom(dir, asset, req, res);
      else res.status(404).type('text/plain').send('Not found\n');
    } else {
      next();
    }
  };
}

/** Apollo's rule for its landing page: a GET whose Accept ranks text/html above the JSON types. */
function prefersHtml(req: Request): boolean {
  return req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

/** The file, or its gzipped twin (written by the build) to a client that takes gzip. */
function sendFrom(dir: string, file: string, req: Request, res: Response): void {
  res.vary('accept-encoding');
  const zipped = `${file}.gz`;
  const gzip = req.acceptsEncodings('gzip') === 'gzip' && fs.existsSync(path.join(dir, zipped));
  if (gzip) res.type(path.extname(file)).set('content-encoding', 'gzip');
  res.sendFile(gzip ? zipped : file, { root: dir, dotfiles: 'deny', cacheControl: false }, (error) => {
    if (error && !res.headersSent) res.status(404).type('text/plain').send('Not found\n');
  });
}

function securityHeaders(res: Response, csp: string): void {
  res.set({
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    // no content hashes in the file names: revalidate every time (Last-Modified)
    'cache-control': 'no-cache',
  });
}
