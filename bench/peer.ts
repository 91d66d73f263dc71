import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './tollgate';

/**
 * The peer: the Portkey OSS gateway (`@portkey-ai/gateway`), measured in the same run as
 * Tollgate, against the same fake upstream, with the same REST body. It is never one of the
 * project's dependencies: `npm install --prefix` puts it in a cache folder of its own
 * (`$XDG_CACHE_HOME/tollgate-bench/portkey-VERSION`, default `~/.cache/...`), installed on the
 * first run and reused after. When it cannot be installed or started (no registry, say), the
 * bench goes on without it and prints why.
 *
 * It runs as its operator would run it: `node build/start-server.js --port=N --headless` with
 * `NODE_ENV=production`, in a child process of its own. The only change: a preload makes it
 * listen on 127.0.0.1 (as the bench's Tollgate does) instead of every interface, since it
 * forwards to any `x-portkey-custom-host` it is sent.
 */

export const PEER_NAME = 'Portkey OSS';
export const PEER_PACKAGE = '@portkey-ai/gateway';
export const PEER_VERSION = '1.15.2';
/** What the peer sends the fake upstream as its key (counted there as "other", not Tollgate). */
export const PEER_UPSTREAM_KEY = 'sk-peer';

const INSTALL_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 30_000;

type Log = (line: string) => void;

/** What became of the peer in this run (printed, and written to the JSON report). */
export interface PeerStatus {
  name: string;
  package: string;
  version: string;
  state: 'measured' | 'unavailable' | 'skipped';
  /** Why it is unavailable or skipped. */
  reason?: string;
  /** Its install folder. */
  dir?: string;
  /** Versions of the installed packages it runs on (its dependencies float within their ranges). */
  runtime?: Record<string, string>;
}

export interface PeerInstall {
  dir: string;
  /** The package's own folder (its working directory). */
  packageDir: string;
  entry: string;
  /** True when this run installed it (false: reused from the cache). */
  installed: boolean;
  runtime: Record<string, string>;
}

export interface PeerServer {
  origin: string;
  pid: number;
  /** Its last lines of output. */
  output(): string;
  stop(): Promise<void>;
}

export function peerCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'tollgate-bench', `portkey-${PEER_VERSION}`);
}

const packageDirIn = (dir: string) => path.join(dir, 'node_modules', ...PEER_PACKAGE.split('/'));

function readVersion(packageDir: string): string | undefined {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** The install in `dir`, if it is complete and of the wanted version. */
function found(dir: string, installed: boolean): PeerInstall | undefined {
  const packageDir = packageDirIn(dir);
  const entry = path.join(packageDir, 'build', 'start-server.js');
  if (readVersion(packageDir) !== PEER_VERSION || !fs.existsSync(entry)) return undefined;
  const runtime: Record<string, string> = { [PEER_PACKAGE]: PEER_VERSION };
  for (const dep of ['hono', '@hono/node-server']) {
    const version = readVersion(path.join(dir, 'node_modules', ...dep.split('/')));
    if (version) runtime[dep] = version;
  }
  return { dir, packageDir, entry, installed, runtime };
}

/**
 * The peer from the cache folder, installing it there first if it is missing. The install goes
 * to a temporary sibling folder renamed into place when complete, so an interrupted or failed
 * install never leaves a half-filled cache. Resolves to an error message when it cannot.
 */
export async function ensurePeer(log: Log): Promise<PeerInstall | { error: string }> {
  const dir = peerCacheDir();
  const cached = found(dir, false);
  if (cached) return cached;
  const staging = `${dir}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  log(`installing ${PEER_PACKAGE}@${PEER_VERSION} into ${dir} (once; reused by later runs)`);
  const args = [
    'install',
    '--prefix',
    staging,
    `${PEER_PACKAGE}@${PEER_VERSION}`,
    '--no-save',
    '--no-audit',
    '--no-fund',
    '--ignore-scripts', // its only script is patch-package, and the package ships no patches
    '--fetch-retries=1',
    '--fetch-timeout=60000',
  ];
  const result = await runNpm(args, staging);
  const done = result.code === 0 ? found(staging, true) : undefined;
  if (!done) {
    fs.rmSync(staging, { recursive: true, force: true });
    const why = result.code === 0 ? 'the package has no build/start-server.js' : result.error;
    return { error: `npm install ${PEER_PACKAGE}@${PEER_VERSION} failed: ${why}` };
  }
  // Another bench may have completed the same install meanwhile: then use theirs.
  const theirs = () => {
    const install = found(dir, false);
    if (install) fs.rmSync(staging, { recursive: true, force: true });
    return install;
  };
  const already = theirs();
  if (already) return already;
  try {
    fs.rmSync(dir, { recursive: true, force: true }); // an incomplete or other-version leftover
    fs.renameSync(staging, dir);
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    return theirs() ?? { error: `could not move the install into ${dir}: ${String(error)}` };
  }
  return found(dir, true) ?? { error: `the install in ${dir} is incomplete` };
}

/** npm with the same user config, but none of the outer `npm run`'s project settings. */
function runNpm(args: string[], cwd: string): Promise<{ code: number | null; error: string }> {
  // `npm run bench` exports the project's prefix (npm_config_local_prefix, ...) to its children.
  const project = /^npm_(config_(prefix|local_prefix|global_prefix|call)$|lifecycle_|package_|command$)/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !project.test(name)));
  return new Promise((resolve) => {
    const child = spawn('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      if (output.length < 8000) output += chunk.toString('utf8'); // npm's error code comes first
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      output += `\n(killed after ${INSTALL_TIMEOUT_MS / 1000} s)`;
      child.kill('SIGKILL');
    }, INSTALL_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, error: error.message });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, error: `exit ${code}: ${npmSummary(output)}` });
    });
  });
}

/** npm's error code and its first message line, e.g. "code ECONNREFUSED; FetchError: request to ... failed". */
function npmSummary(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.replace(/^npm error\s*/, '').trim())
    .filter((l) => l && !l.startsWith('npm warn'));
  const code = lines.find((l) => l.startsWith('code '));
  const message = lines.find((l) => !/^(code|syscall|errno|at) /.test(l) && l.length > 12);
  const killed = lines.find((l) => l.startsWith('(killed after'));
  return [code, message, killed].filter(Boolean).join('; ').slice(0, 400);
}

/**
 * Makes the peer's HTTP server listen on 127.0.0.1: it calls `server.listen(port, undefined, cb)`
 * (every interface). CommonJS, loaded with `node -r` before its ES module entry.
 */
const LOOPBACK_PRELOAD = `'use strict';
const http = require('node:http');
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    if (args.length > 1 && args[1] === undefined) args[1] = '127.0.0.1';
    else args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
`;

/** Starts the peer on a free port and resolves once it answers. */
export async function startPeer(install: PeerInstall): Promise<PeerServer> {
  const port = await freePort();
  const preload = path.join(install.dir, 'tollgate-bench-loopback.cjs');
  fs.writeFileSync(preload, LOOPBACK_PRELOAD);
  const child = spawn(process.execPath, ['-r', preload, install.entry, `--port=${port}`, '--headless'], {
    cwd: install.packageDir,
    // A clean environment: it reads proxies, Redis and cloud credentials from its environment.
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    // Its start-up banner redraws a spinner with \r and colours; keep the text.
    const text = chunk
      .toString('utf8')
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
      .split(/[\r\n]/)
      .map((l) => l.trim())
      .filter(Boolean);
    lines.push(...text.map((line) => (line.length > 400 ? `${line.slice(0, 400)}...` : line)));
    lines.splice(0, Math.max(0, lines.length - 10));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`it exited at start: ${lines.join(' | ')}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`not answering after ${START_TIMEOUT_MS / 1000} s: ${lines.join(' | ')}`);
    }
    try {
      if ((await fetch(`${origin}/`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { origin, pid: child.pid ?? 0, output: () => lines.join('\n'), stop };
}

/** The headers that send a Portkey call to an OpenAI-compatible custom host (the fake upstream). */
export function peerHeaders(upstreamBaseUrl: string): Record<string, string> {
  return {
    authorization: `Bearer ${PEER_UPSTREAM_KEY}`,
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': upstreamBaseUrl,
  };
}
