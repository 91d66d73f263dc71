import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
export const OPERATOR_KEY = 'operator-faults-key-0123456789';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

/** Tollgate as a real child process (the built dist/), so it can be SIGKILLed and restarted. */
export class ChildServer {
  /** Every server started, so a failed test cannot leave one running (and jest waiting on it). */
  private static readonly started = new Set<ChildServer>();
  private child: ChildProcess | undefined;
  output = '';
  readonly port: Promise<number>;
  readonly secret = crypto.randomBytes(32).toString('hex');

  constructor(private readonly env: Record<string, string>) {
    this.port = freePort();
  }

  async url(): Promise<string> {
    return `http://127.0.0.1:${await this.port}/graphql`;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'main.js')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(await this.port),
        TOLLGATE_OPERATOR_KEY: OPERATOR_KEY,
        TOLLGATE_SECRET_KEY: this.secret,
        TOLLGATE_SEED_DEMO: 'false',
        // the fake upstreams and webhook receivers of the tests listen on loopback: the operator's opt-in
        TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32',
        TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
        LOG_LEVEL: 'info',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    ChildServer.started.add(this);
    child.once('exit', () => ChildServer.started.delete(this));
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!this.output.includes('Tollgate is listening')) {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`server did not start:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills whatever a test left running (test/faults/cleanup.ts calls it after each file). */
  static async killAll(): Promise<void> {
    await Promise.all([...ChildServer.started].map((server) => server.stop('SIGKILL')));
  }

  /** Sends a signal and waits for the exit; returns the exit code (null when killed by the signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }
}

/** Builds dist/ once per run (the faults config's globalSetup calls this). */

/**
 * A private Postgres cluster (initdb in a temp folder, its own port) that a test may stop and
 * restart without disturbing anything else. Needs the Debian postgres binaries and root (it runs
 * the server as the postgres user). `available()` says whether that is possible here.
 */
export class PrivatePostgres {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-pg-'));
  port = 0;
  private static bin(): string | undefined {
    const base = '/usr/lib/postgresql';
    if (!fs.existsSync(base)) return undefined;
    const version = fs.readdirSync(base).sort().at(-1);
    return version ? path.join(base, version, 'bin') : undefined;
  }

  static available(): boolean {
    return process.getuid?.() === 0 && PrivatePostgres.bin() !== undefined;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(args: string[]): void {
    const result = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
  }

  async init(): Promise<void> {
    this.port = await freePort();
    fs.chownSync(this.dir, 101, 104);
    spawnSync('chown', ['postgres:postgres', this.dir]);
    const bin = PrivatePostgres.bin()!;
    this.run([
      path.join(bin, 'initdb'),
      '-D',
      path.join(this.dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
    ]);
    this.start();
  }

  start(): void {
    const bin = PrivatePostgres.bin()!;
    this.run([
      path.join(bin, 'pg_ctl'),
      '-D',
      path.join(this.dir, 'data'),
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`,
      '-l',
      path.join(this.dir, 'log'),
      '-w',
      'start',
    ]);
  }

  stop(): void {
    const bin = PrivatePostgres.bin()!;
    this.run([path.join(bin, 'pg_ctl'), '-D', path.join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop();
    } catch {
      // already stopped
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function gql<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  key: string,
): Promise<{
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as {
    data?: T;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
}

export async function ok<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  key: string,
): Promise<T> {
  const result = await gql<T>(url, query, variables, key);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data as T;
}

/** A project with a CLIENT key, an OpenAI-compatible provider at `baseUrl`, deepseek-chat, and a budget. */
export async function setupProject(
  url: string,
  baseUrl: string,
  limitUsd = '1000',
): Promise<{ client: string; budgetId: string }> {
  const { createProject } = await ok<{ createProject: { adminKey: { key: string } } }>(
    url,
    'mutation { createProject(name: "faults") { adminKey { key } } }',
    {},
    OPERATOR_KEY,
  );
  const admin = createProject.adminKey.key;
  await ok(
    url,
    'mutation($i: CreateProviderInput!) { createProvider(input: $i) { id } }',
    { i: { name: 'up', kind: 'OPENAI_COMPATIBLE', baseUrl, upstreamKeys: ['sk-x'], timeoutMs: 5000 } },
    admin,
  );
  await ok(
    url,
    'mutation($i: ModelInput!) { upsertModel(input: $i) { id } }',
    {
      i: {
        name: 'deepseek-chat',
        provider: 'up',
        promptPrice: '0.14',
        completionPrice: '0.42',
        tiers: ['SIMPLE'],
      },
    },
    admin,
  );
  const budget = await ok<{ createBudget: { id: string } }>(
    url,
    'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
    { i: { period: 'DAILY', limitUsd } },
    admin,
  );
  const key = await ok<{ createApiKey: { key: string } }>(
    url,
    'mutation { createApiKey(input: { name: "load", role: CLIENT }) { key } }',
    {},
    admin,
  );
  return { client: key.createApiKey.key, budgetId: budget.createBudget.id };
}

export const COMPLETE =
  'mutation($i: ChatCompletionInput!) { createChatCompletion(input: $i) { id requestId cost } }';
