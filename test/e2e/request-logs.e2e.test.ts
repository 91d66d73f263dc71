/**
 * Every line the HTTP layer logs about a request carries the request's id (the one its response
 * names in x-request-id) and, when the client sent a W3C traceparent, the trace id: on the
 * GraphQL door and on the OpenAI door. The app runs with a logger whose JSON lines are kept here.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startApp, type App } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { eventually } from '../support/harness';

type Line = Record<string, unknown> & { msg?: string; requestId?: string; traceId?: string };

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('request ids and trace ids in the logs', () => {
  let app: App;
  let database: TestDatabase;
  let dataDir: string;
  const lines: Line[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-logs-'));
    const config = loadConfig({
      PORT: '0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      TOLLGATE_SEED_DEMO: 'false',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as Line);
        done();
      },
    });
    app = await startApp(config, pino({ level: 'debug' }, sink));
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The line logged when the response with this id ended (the response is sent before it is written). */
  const doneLine = (requestId: string): Promise<Line> =>
    eventually(
      () => lines.find((l) => l.msg === 'request done' && l.requestId === requestId),
      (line): line is Line => line !== undefined,
      2_000,
    );

  it('GraphQL: the response names its request, and the line about it carries that id and the trace id', async () => {
    const response = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: TRACEPARENT },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id') ?? '';
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await doneLine(requestId)).toMatchObject({
      requestId,
      traceId: TRACE_ID,
      method: 'POST',
      path: '/graphql',
      status: 200,
    });
  });

  it('GraphQL: each request has an id of its own; without a traceparent there is no trace id', async () => {
    const ids = await Promise.all(
      [1, 2].map(async () => {
        const response = await fetch(app.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
          },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
        return response.headers.get('x-request-id') ?? '';
      }),
    );
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect((await doneLine(id)).traceId).toBeUndefined(); // an all-zero trace id is invalid
  });

  it("GraphQL: an internal error is logged under its request's id, from a resolver or from the context", async () => {
    const post = (query: string) =>
      fetch(app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer operator-of-this-test' },
        body: JSON.stringify({ query }),
      });
    const internalLine = (requestId: string) =>
      eventually(
        () => lines.find((l) => l.msg === 'internal error' && l.requestId === requestId),
        (line): line is Line => line !== undefined,
        2_000,
      );
    const auth = jest.spyOn(app.services.auth, 'authenticateHeader');
    const list = jest.spyOn(app.services.projects, 'listProjects');
    try {
      // a resolver fails: Apollo formats the error after the request's plugins saw it
      auth.mockResolvedValue({ kind: 'operator' });
      list.mockRejectedValueOnce(new Error('the projects table is gone'));
      const fromResolver = await post('{ projects { id } }');
      const body = (await fromResolver.json()) as { errors: { message: string }[] };
      expect(body.errors[0]!.message).toBe('Internal server error');
      const resolverId = fromResolver.headers.get('x-request-id') ?? '';
      expect((await internalLine(resolverId)).err).toMatchObject({ message: 'the projects table is gone' });
      // the context cannot be built (the key lookup fails): no plugin runs for that request
      auth.mockRejectedValueOnce(new Error('the keys table is gone'));
      const fromContext = await post('{ __typename }');
      expect(fromContext.status).toBe(500);
      const contextId = fromContext.headers.get('x-request-id') ?? '';
      expect(JSON.stringify((await internalLine(contextId)).err)).toContain('the keys table is gone');
    } finally {
      auth.mockRestore();
      list.mockRestore();
    }
  });

  it('OpenAI door: a refused call is logged under the id its response carries', async () => {
    const base = new URL('/v1', app.url).href;
    const refused = await fetch(`${base}/models`, {
      headers: { authorization: 'Bearer tg_not-a-key', traceparent: TRACEPARENT },
    });
    expect(refused.status).toBe(401);
    const requestId = refused.headers.get('x-request-id') ?? '';
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await doneLine(requestId)).toMatchObject({
      requestId,
      traceId: TRACE_ID,
      path: '/v1/models',
      status: 401,
    });
  });

  it("OpenAI door: a call's Idempotency-Key is its id, in the response and in the log", async () => {
    const response = await fetch(new URL('/v1/chat/completions', app.url), {
      method: 'POST',
      headers: {
        authorization: 'Bearer tg_not-a-key',
        'content-type': 'application/json',
        'idempotency-key': 'order-42-summary',
      },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('x-request-id')).toBe('order-42-summary');
    expect(await doneLine('order-42-summary')).toMatchObject({ status: 401, path: '/v1/chat/completions' });
  });
});
