import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/** Tollgate as the operator runs it: the built server in a child process of its own. */

export const OPERATOR_KEY = `operator-bench-${crypto.randomBytes(8).toString('hex')}`;
/** This checkout; `--app DIR` benchmarks another one (e.g. a `git archive` of an older commit). */
export const DEFAULT_APP_DIR = path.resolve(__dirname, '..');

export interface TollgateProcess {
  url: string;
  origin: string;
  pid: number;
  /** The last ten lines it wrote (LOG_LEVEL=warn, so only warnings and errors), cut at 400 characters. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<Shutdown>;
}

export interface Shutdown {
  ms: number;
  exitCode: number | null;
  /** Set when it ended by a signal rather than by exiting. */
  signal: string | null;
  /** True when it did not exit within the grace period and got SIGKILL. */
  killed: boolean;
}

export interface BenchDatabase {
  /** Undefined: the embedded PGlite database in a temporary TOLLGATE_DATA_DIR. */
  url: string | undefined;
  name: string | undefined;
  drop(): Promise<void>;
}

export function build(appDir: string): void {
  const result = spawnSync('npm', ['run', '-s', 'build'], { cwd: appDir, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
}

/**
 * A fresh, uniquely named database on the DATABASE_URL server, or undefined for embedded mode.
 * `settings` ("name=value", e.g. "synchronous_commit=off") become its defaults (ALTER DATABASE SET).
 */
export async function createDatabase(
  adminUrl: string | undefined,
  settings: string[] = [],
): Promise<BenchDatabase> {
  if (!adminUrl) return { url: undefined, name: undefined, drop: async () => undefined };
  const name = `tollgate_bench_${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
  await withClient(adminUrl, async (c) => {
    await c.query(`CREATE DATABASE ${name}`);
    for (const setting of settings) {
      const match = /^([a-z_][a-z0-9_.]*)=([\w.-]+)$/i.exec(setting.trim());
      if (!match) throw new Error(`--db-set wants name=value, got "${setting}"`);
      await c.query(`ALTER DATABASE ${name} SET ${match[1]} = '${match[2]}'`);
    }
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Runs `fn` with a client of its own, connected to `url`, closed after. */
export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The git commit of `appDir` (with "+dirty" for uncommitted changes), if it is a checkout. */
export function gitDescribe(appDir: string): string | undefined {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: appDir, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return undefined;
  const dirty = git('status', '--porcelain', '--', 'src', 'migrations', 'package.json').stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '+dirty' : ''}`;
}

export async function startTollgate(
  appDir: string,
  databaseUrl: string | undefined,
  nodeArgs: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<TollgateProcess> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_OPERATOR_KEY: OPERATOR_KEY,
    TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'),
    TOLLGATE_SEED_DEMO: 'false',
    // the fake upstreams and webhook receivers of the tests listen on loopback: the operator's opt-in
    TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32',
    TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production', // as npm start runs it
    ...extraEnv,
  };
  // Tracing is on only when the bench asks for it (--otlp), never from the caller's environment.
  for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
    if (!(name in extraEnv)) delete env[name];
  }
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  else delete env.DATABASE_URL;

  const child = spawn(process.execPath, [...nodeArgs, 'dist/src/main.js'], {
    cwd: appDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8').split('\n').filter(Boolean);
    lines.push(...text.map((line) => (line.length > 400 ? `${line.slice(0, 400)}...` : line)));
    lines.splice(0, Math.max(0, lines.length - 10));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Tollgate exited at start:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Tollgate not ready after 60 s:\n${lines.join('\n')}`);
    }
    try {
      if ((await fetch(`${origin}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url: `${origin}/graphql`,
    origin,
    pid: child.pid ?? 0,
    output: () => lines.join('\n'),
    async stop(graceMs = 10_000) {
      const started = performance.now();
      let killed = false;
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      return { ms: performance.now() - started, exitCode: child.exitCode, signal: child.signalCode, killed };
    },
  };
}
