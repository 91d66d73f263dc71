/**
 * Builds the GraphQL explorer (src/explorer: GraphiQL with Tollgate's fetcher) into dist/explorer:
 * index.html, explorer.js, explorer.css (and their .gz twins). One esbuild bundle, minified, no source maps, nothing
 * loaded from elsewhere; the server serves it at GET /graphql with a strict Content-Security-Policy
 * (src/server/explorer.ts). GraphiQL's web fonts are dropped (system fonts stand in): they were
 * two thirds of the CSS, as data: URLs.
 *
 *   npm run build:explorer            (also part of npm run build)
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { build, type Plugin } from 'esbuild';
import { BROWSER_BUNDLE, buildInto, ROOT, runBuild, type BundleBuild } from './bundle';

export const EXPLORER_SOURCE = path.join(ROOT, 'src', 'explorer');
export const EXPLORER_OUT = path.join(ROOT, 'dist', 'explorer');

export type ExplorerBuild = BundleBuild;

/** Removes the @font-face rules of GraphiQL's stylesheet (no nested braces inside them). */
const withoutWebFonts: Plugin = {
  name: 'graphiql-without-web-fonts',
  setup(b) {
    b.onLoad({ filter: /[\\/]graphiql[\\/]dist[\\/]style\.css$/ }, async (args) => ({
      contents: (await fs.promises.readFile(args.path, 'utf8')).replace(/@font-face\s*\{[^}]*\}/g, ''),
      loader: 'css',
    }));
  },
};

export function buildExplorer(outDir = EXPLORER_OUT): Promise<ExplorerBuild> {
  return buildInto(outDir, async (staging) => {
    await build({
      ...BROWSER_BUNDLE,
      entryPoints: { explorer: path.join(EXPLORER_SOURCE, 'main.tsx') },
      outdir: staging,
      tsconfig: path.join(EXPLORER_SOURCE, 'tsconfig.json'),
      plugins: [withoutWebFonts],
    });
    fs.copyFileSync(path.join(EXPLORER_SOURCE, 'index.html'), path.join(staging, 'index.html'));
    // gzipped twins, served to browsers that take gzip: a third of the bytes on the wire
    for (const name of ['explorer.js', 'explorer.css']) {
      const file = path.join(staging, name);
      fs.writeFileSync(`${file}.gz`, zlib.gzipSync(fs.readFileSync(file), { level: 9 }));
    }
  });
}

if (require.main === module) runBuild('explorer', () => buildExplorer());
