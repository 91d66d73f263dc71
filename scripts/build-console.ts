/**
 * Builds the console (src/console) into dist/console: index.html, app.js, app.css, favicon.svg.
 * One esbuild bundle, minified, no source maps, no external URLs; the server serves the folder
 * with a strict Content-Security-Policy (src/server/console.ts).
 *
 *   npm run build:console            (also part of npm run build)
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { BROWSER_BUNDLE, buildInto, ROOT, runBuild, type BundleBuild } from './bundle';

export const CONSOLE_SOURCE = path.join(ROOT, 'src', 'console');
export const CONSOLE_OUT = path.join(ROOT, 'dist', 'console');

export type ConsoleBuild = BundleBuild;

export function buildConsole(outDir = CONSOLE_OUT): Promise<ConsoleBuild> {
  return buildInto(outDir, async (staging) => {
    await build({
      ...BROWSER_BUNDLE,
      entryPoints: { app: path.join(CONSOLE_SOURCE, 'main.tsx') },
      outdir: staging,
      jsxImportSource: 'preact',
      tsconfig: path.join(CONSOLE_SOURCE, 'tsconfig.json'),
    });
    for (const file of ['index.html', 'favicon.svg']) {
      fs.copyFileSync(path.join(CONSOLE_SOURCE, file), path.join(staging, file));
    }
  });
}

if (require.main === module) runBuild('console', () => buildConsole());
