/**
 * Builds the console (src/console) into dist/console: index.html, app.js, app.css, favicon.svg.
 * One esbuild bundle, minified, no source maps, no external URLs; the server serves the folder
 * with a strict Content-Security-Policy (src/server/console.ts).
 *
 *   npm run build:console            (also part of npm run build)
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
export const CONSOLE_SOURCE = path.join(ROOT, 'src', 'console');
export const CONSOLE_OUT = path.join(ROOT, 'dist', 'console');

export interface ConsoleBuild {
  outDir: string;
  /** Bytes of each output file, raw and gzipped. */
  files: { name: string; bytes: number; gzipBytes: number }[];
}

export async function buildConsole(outDir = CONSOLE_OUT): Promise<ConsoleBuild> {
  // Build into a sibling folder and swap, so a running server never serves half a build.
  const staging = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    await build({
      entryPoints: { app: path.join(CONSOLE_SOURCE, 'main.tsx') },
      outdir: staging,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome110', 'firefox115', 'safari16'],
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      tsconfig: path.join(CONSOLE_SOURCE, 'tsconfig.json'),
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
    });
    for (const file of ['index.html', 'favicon.svg']) {
      fs.copyFileSync(path.join(CONSOLE_SOURCE, file), path.join(staging, file));
    }
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(staging, outDir);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  const files = fs
    .readdirSync(outDir)
    .sort()
    .map((name) => {
      const content = fs.readFileSync(path.join(outDir, name));
      return { name, bytes: content.length, gzipBytes: zlib.gzipSync(content, { level: 9 }).length };
    });
  return { outDir, files };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

if (require.main === module) {
  buildConsole().then(
    ({ outDir, files }) => {
      const total = files.reduce((t, f) => ({ raw: t.raw + f.bytes, gz: t.gz + f.gzipBytes }), {
        raw: 0,
        gz: 0,
      });
      for (const f of files)
        console.log(`  ${f.name.padEnd(12)} ${kb(f.bytes).padStart(9)}  gzip ${kb(f.gzipBytes)}`);
      console.log(
        `console built in ${path.relative(ROOT, outDir)}: ${kb(total.raw)}, ${kb(total.gz)} gzipped`,
      );
    },
    (error: unknown) => {
      console.error('console build failed:', error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
