import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { postJson, postJsonStream, type JsonPost } from '../../src/modules/upstream/http-post';
import { UpstreamHttpError, UpstreamNetworkError } from '../../src/modules/upstream/upstream.types';

/**
 * The upstream POSTs on a real HTTP server: the whole answer (straight on undici's dispatcher, its
 * own deadline) and the stream, with what each makes of an HTTP error, a hang, an abort and a
 * connection that fails.
 */
describe('posting JSON to an upstream', () => {
  let server: http.Server;
  let origin: string;
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  const seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
  });
  beforeEach(() => (seen.length = 0));

  const post = (over: Partial<JsonPost> = {}): JsonPost => ({
    dispatcher: agent,
    url: `${origin}/v1/chat/completions?x=1`,
    headers: { authorization: 'Bearer k' },
    payload: { model: 'm', messages: [] },
    signal: undefined,
    timeoutMs: 2_000,
    errorBody: (text) => ({ message: `said: ${text}` }),
    ...over,
  });
  const caught = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('it did not fail');
      },
      (error: unknown) => error,
    );

  it('sends the JSON body with its headers, and answers the whole body as text (a BOM dropped)', async () => {
    answer = (_req, res) => res.end('\ufeff{"ok":"é"}');
    expect(await postJson(post())).toBe('{"ok":"é"}');
    expect(seen).toEqual([
      {
        path: '/v1/chat/completions?x=1',
        headers: expect.objectContaining({ 'content-type': 'application/json', authorization: 'Bearer k' }),
        body: '{"model":"m","messages":[]}',
      },
    ]);
  });

  it("an HTTP error carries its status, Retry-After and the upstream's reason", async () => {
    answer = (_req, res) => {
      res.writeHead(429, { 'retry-after': '3' });
      res.end('slow down');
    };
    for (const send of [postJson, postJsonStream]) {
      const error = (await caught(send(post()))) as UpstreamHttpError;
      expect(error).toBeInstanceOf(UpstreamHttpError);
      expect(error).toMatchObject({
        status: 429,
        retryAfterMs: 3_000,
        message: 'upstream answered 429: slow down',
        upstream: { message: 'said: slow down' },
      });
    }
  });

  it('a whole answer that does not come within the timeout is a timeout', async () => {
    answer = (_req, res) => {
      res.write('{"partial":'); // headers and part of the body, then nothing
    };
    const started = Date.now();
    const error = (await caught(postJson(post({ timeoutMs: 300 })))) as UpstreamNetworkError;
    expect(error).toBeInstanceOf(UpstreamNetworkError);
    expect(error.reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("an abort fails the call with the abort's reason, before or during it, and sends nothing once aborted", async () => {
    answer = () => undefined; // never answers
    const during = new AbortController();
    const pending = caught(postJson(post({ signal: during.signal })));
    await new Promise((r) => setTimeout(r, 100));
    during.abort(new Error('client went away'));
    expect(await pending).toMatchObject({ reason: 'connection', message: 'client went away' });
    const sent = seen.length;
    const before = new AbortController();
    before.abort(new Error('gone already'));
    expect(await caught(postJson(post({ signal: before.signal })))).toMatchObject({
      reason: 'connection',
      message: 'gone already',
    });
    expect(seen.length).toBe(sent);
  });

  it('a connection that fails, or an answer cut short, is a connection error', async () => {
    answer = (req) => req.socket.destroy();
    expect(await caught(postJson(post()))).toMatchObject({
      name: 'UpstreamNetworkError',
      reason: 'connection',
    });
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await caught(postJson(post({ url: `http://127.0.0.1:${port}/x` })))).toMatchObject({
      name: 'UpstreamNetworkError',
      reason: 'connection',
    });
    // a dispatcher that throws instead of telling its handler, and a URL that is not one
    const throwing = {
      dispatch: () => {
        throw new Error('refused outright');
      },
    } as unknown as JsonPost['dispatcher'];
    expect(await caught(postJson(post({ dispatcher: throwing })))).toMatchObject({
      name: 'UpstreamNetworkError',
      reason: 'connection',
      message: 'refused outright',
    });
    expect(await caught(postJson(post({ url: 'not a url' })))).toMatchObject({
      name: 'UpstreamNetworkError',
      reason: 'connection',
    });
  });

  it('a stream is answered as it comes, and may take longer than the timeout as long as no gap does', async () => {
    answer = (_req, res) => {
      res.write('data: 1\n\n');
      setTimeout(() => res.write('data: 2\n\n'), 250);
      setTimeout(() => res.end('data: [DONE]\n\n'), 500);
    };
    const body = await postJsonStream(post({ timeoutMs: 400 }));
    let text = '';
    for await (const chunk of body) text += Buffer.from(chunk).toString();
    expect(text).toBe('data: 1\n\ndata: 2\n\ndata: [DONE]\n\n');
  });
});
