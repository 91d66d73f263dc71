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

const ROOT = path.resolve(__dirname, '..');
export const EXPLORER_SOURCE = path.join(ROOT, 'src', 'explorer');
export const EXPLORER_OUT = path.join(ROOT, 'dist', 'explorer');

export interface ExplorerBuild {
  outDir: string;
  /** Bytes of each output file, raw and gzipped. */
  files: { name: string; bytes: number; gzipBytes: number }[];
}

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

export async function buildExplorer(outDir = EXPLORER_OUT): Promise<ExplorerBuild> {
  // Build into a sibling folder and swap, so a running server never serves half a build.
  const staging = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    await build({
      entryPoints: { explorer: path.join(EXPLORER_SOURCE, 'main.tsx') },
      outdir: staging,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110', 'firefox115', 'safari16'],
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      jsx: 'automatic',
      tsconfig: path.join(EXPLORER_SOURCE, 'tsconfig.json'),
      define: { 'process.env.NODE_ENV': '"production"' },
      plugins: [withoutWebFonts],
      logLevel: 'silent',
    });
    fs.copyFileSync(path.join(EXPLORER_SOURCE, 'index.html'), path.join(staging, 'index.html'));
    // gzipped twins, served to browsers that take gzip: a third of the bytes on the wire
    for (const name of ['explorer.js', 'explorer.css']) {
      const file = path.join(staging, name);
      fs.writeFileSync(`${file}.gz`, zlib.gzipSync(fs.readFileSync(file), { level: 9 }));
    }
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(staging, outDir);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const files = fs
    .readdirSync(outDir)
    .filter((name) => !name.endsWith('.gz'))
    .sort()
    .map((name) => {
      const content = fs.readFileSync(path.join(outDir, name));
      return { name, bytes: content.length, gzipBytes: zlib.gzipSync(content, { level: 9 }).length };
    });
  return { outDir, files };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

if (require.main === module) {
  buildExplorer().then(
    ({ outDir, files }) => {
      const total = files.reduce((t, f) => ({ raw: t.raw + f.bytes, gz: t.gz + f.gzipBytes }), {
        raw: 0,
        gz: 0,
      });
      for (const f of files)
        console.log(`  ${f.name.padEnd(13)} ${kb(f.bytes).padStart(9)}  gzip ${kb(f.gzipBytes)}`);
      console.log(
        `explorer built in ${path.relative(ROOT, outDir)}: ${kb(total.raw)}, ${kb(total.gz)} gzipped`,
      );
    },
    (error: unknown) => {
      console.error('explorer build failed:', error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
