import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { Agent, request } from 'undici';
import { DIRECT_UPSTREAM_KEY } from './fake-upstream';

/**
 * The floor: the least a gateway built like Tollgate can cost on this machine. A bare Node HTTP
 * server in a child process of its own that makes, for each request, the same trips as a
 * Tollgate call and nothing else: a Postgres transaction that writes a row and commits (the
 * reserve), the upstream call (undici, as Tollgate's transport), a second such transaction (the
 * settle), then the upstream's answer. No auth, GraphQL, tokenizer, routing, limits or ledger logic. Tollgate
 * minus the floor is what Tollgate's own work adds; the floor minus the direct upstream is what
 * the trips themselves cost here.
 */

export interface FloorServer {
  origin: string;
  pid: number;
  /** Its own database (on the bench's Postgres server), so it never counts in Tollgate's figures. */
  database: string;
  stop(): Promise<void>;
}

/** The stack floors (stack-floor.ts): the floor's trips through each door's frameworks. */
export type StackDoor = 'rest' | 'graphql' | 'apollo' | 'execute';

export const STACK_DOORS: readonly StackDoor[] = ['graphql', 'apollo', 'execute', 'rest'];

/** A floor call's trips: a committing write, the upstream call, a second committing write. */
export interface FloorTrips {
  /** Resolves once the floor's table exists. */
  ready: Promise<unknown>;
  /** Makes the trips for one call with this upstream request body; the upstream's status and text. */
  call(body: string | Buffer): Promise<{ status: number; text: string }>;
}

export function floorTrips(upstreamOrigin: string, databaseUrl: string): FloorTrips {
  // Tollgate's pool size, so the c=50 rows queue on connections the same way.
  const pool = new Pool({ connectionString: databaseUrl, max: 10 });
  const agent = new Agent({ keepAliveTimeout: 60_000, connections: 256 });
  const headers = { authorization: `Bearer ${DIRECT_UPSTREAM_KEY}`, 'content-type': 'application/json' };
  // A one-row insert: its commit writes and flushes WAL, as the reserve's and the settle's do.
  const ready = pool.query('CREATE TABLE IF NOT EXISTS floor_writes (id bigserial PRIMARY KEY)');
  const commit = () => pool.query('INSERT INTO floor_writes DEFAULT VALUES');
  return {
    ready,
    async call(body) {
      await commit();
      const answer = await request(`${upstreamOrigin}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body,
        dispatcher: agent,
      });
      const text = await answer.body.text();
      await commit();
      return { status: answer.statusCode, text };
    },
  };
}

/** Listens on a free port of 127.0.0.1 once the trips are ready, and tells the parent which. */
export function listenForParent(server: http.Server, trips: FloorTrips): void {
  server.keepAliveTimeout = 120_000;
  void trips.ready.then(() =>
    server.listen(0, '127.0.0.1', () => {
      process.send?.({ port: (server.address() as AddressInfo).port });
    }),
  );
  process.on('disconnect', () => process.exit(0));
}

function serve(upstreamOrigin: string, databaseUrl: string): void {
  const trips = floorTrips(upstreamOrigin, databaseUrl);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        try {
          const { status, text } = await trips.call(Buffer.concat(chunks));
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(text);
        } catch (error) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(String(error));
        }
      })();
    });
  });
  listenForParent(server, trips);
}

/** Forks this file as the floor server and resolves once it listens. */
export function startFloor(
  upstreamOrigin: string,
  databaseUrl: string,
  database: string,
): Promise<FloorServer> {
  return forkFloor(__filename, ['--serve', upstreamOrigin, databaseUrl], database);
}

/** Forks `file` (this one, or stack-floor.ts) as a floor server and resolves once it listens. */
export async function forkFloor(file: string, args: string[], database: string): Promise<FloorServer> {
  const child = fork(file, args, {
    // Tollgate runs with NODE_ENV=production (npm start), which spares graphql-js and express some checks.
    env: { ...process.env, NODE_ENV: 'production' },
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`floor server exited early (code ${code})`)));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    database,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (require.main === module && process.argv[2] === '--serve') {
  const [upstreamOrigin, databaseUrl] = process.argv.slice(3);
  if (upstreamOrigin === undefined || databaseUrl === undefined)
    throw new Error('usage: floor.ts --serve <upstream origin> <database URL>');
  serve(upstreamOrigin, databaseUrl);
}
