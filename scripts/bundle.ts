import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { BuildOptions } from 'esbuild';

export const ROOT = path.resolve(__dirname, '..');

/** What the console's and the explorer's bundles share: one minified ESM file for today's browsers. */
export const BROWSER_BUNDLE: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'silent',
};

export interface BundleBuild {
  outDir: string;
  /** Bytes of each output file (not the .gz twins), raw and gzipped. */
  files: { name: string; bytes: number; gzipBytes: number }[];
}

/**
 * Builds into a sibling folder (`fill` writes it) and swaps it in, so a running server never
 * serves half a build; then lists what was built.
 */
export async function buildInto(
  outDir: string,
  fill: (staging: string) => Promise<void>,
): Promise<BundleBuild> {
  const staging = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    await fill(staging);
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

/** A build script's run: each file's size, the total, or the failure and exit code 1. */
export function runBuild(what: string, build: () => Promise<BundleBuild>): void {
  build().then(
    ({ outDir, files }) => {
      const width = Math.max(...files.map((f) => f.name.length)) + 1;
      let raw = 0;
      let gz = 0;
      for (const f of files) {
        console.log(`  ${f.name.padEnd(width)} ${kb(f.bytes).padStart(9)}  gzip ${kb(f.gzipBytes)}`);
        raw += f.bytes;
        gz += f.gzipBytes;
      }
      console.log(`${what} built in ${path.relative(ROOT, outDir)}: ${kb(raw)}, ${kb(gz)} gzipped`);
    },
    (error: unknown) => {
      console.error(`${what} build failed:`, error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
