import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A minimal, fast OpenAI-compatible upstream for the benchmark. It runs in a child process of
 * its own so it never shares an event loop with the load generator. Every request gets the
 * same precomputed chat completion (with usage) after `latencyMs`; `GET /__stats` answers how
 * many completions it served to Tollgate (upstream key `sk-bench`) and to anyone else.
 */

export const TOLLGATE_UPSTREAM_KEY = 'sk-bench';
export const DIRECT_UPSTREAM_KEY = 'sk-direct';
export const MODEL = 'deepseek-chat';

export interface UpstreamStats {
  tollgate: number;
  other: number;
}

export interface FakeUpstream {
  /** e.g. http://127.0.0.1:40123/v1 */
  baseUrl: string;
  origin: string;
  pid: number;
  stats(): Promise<UpstreamStats>;
  stop(): Promise<void>;
}

const ANSWER = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello! How can I help you today?' },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 14, completion_tokens: 9, total_tokens: 23 },
  }),
);
const TOLLGATE_AUTH = `Bearer ${TOLLGATE_UPSTREAM_KEY}`;

function serve(latencyMs: number): void {
  const stats: UpstreamStats = { tollgate: 0, other: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/__stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(stats));
        return;
      }
      const send = () => {
        if (req.headers.authorization === TOLLGATE_AUTH) stats.tollgate++;
        else stats.other++;
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': ANSWER.length });
        res.end(ANSWER);
      };
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on('disconnect', () => process.exit(0));
}

/** Forks this file as the upstream server and resolves once it listens. */
export async function startFakeUpstream(latencyMs: number): Promise<FakeUpstream> {
  const child = fork(__filename, ['--serve', String(latencyMs)], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`fake upstream exited early (code ${code})`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    baseUrl: `${origin}/v1`,
    origin,
    pid: child.pid ?? 0,
    async stats() {
      const response = await fetch(`${origin}/__stats`);
      return (await response.json()) as UpstreamStats;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (require.main === module && process.argv[2] === '--serve') serve(Number(process.argv[3] ?? 0));
