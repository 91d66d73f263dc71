import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer, user } from '../support/harness';

/** A span as OTLP/HTTP JSON carries it, with its attributes read into plain values. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
}

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
};

const valueOf = (v: OtlpValue): unknown =>
  v.stringValue ??
  (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
  v.doubleValue ??
  v.boolValue ??
  v.arrayValue?.values?.map(valueOf);

/** A local OTLP/HTTP receiver: every span posted to /v1/traces, in order. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly paths: string[] = [];
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.paths.push(req.url ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: {
          scopeSpans: {
            spans: (Omit<ReceivedSpan, 'attributes'> & {
              attributes?: { key: string; value: OtlpValue }[];
            })[];
          }[];
        }[];
      };
      for (const rs of body.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const span of ss.spans) {
            this.spans.push({
              ...span,
              parentSpanId: span.parentSpanId ?? '',
              attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, valueOf(a.value)])),
            });
          }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('OpenTelemetry traces (OTLP/HTTP to a local receiver)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let receiver: OtlpReceiver;
  let key: string;
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const CLIENT_SPAN = '00f067aa0ba902b7';

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    receiver = await new OtlpReceiver().start();
    t = await TestServer.start({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'tollgate-test',
    });
    t.defer(() => upstream.stop());
    t.defer(() => receiver.stop());
    const { adminKey } = await t.createProject('traced');
    await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
    ({ key } = await t.createKey(adminKey, 'CLIENT', 'traced'));
    upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 1000, 500, 'Hi'));
  }, 120_000);
  afterAll(() => t.close());

  const traceOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);

  it('a completion continues the client trace: root, authenticate, route, reserve, the upstream attempt, settle; the upstream gets the context', async () => {
    const sdk = new OpenAI({
      apiKey: key,
      baseURL: t.app.url.replace('/graphql', '/v1'),
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` },
    });
    await sdk.chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 600,
    });
    await t.app.tracing.flush();
    expect(receiver.paths).toContain('/v1/traces');
    const spans = traceOf(TRACE);
    const root = spans.find((s) => s.parentSpanId === CLIENT_SPAN)!;
    expect(root).toBeDefined();
    expect(root.name).toBe('chat deepseek-chat');
    expect(root.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'deepseek-chat',
      'gen_ai.request.max_tokens': 600,
      'gen_ai.response.model': 'deepseek-chat',
      'tollgate.provider': 'upstream',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'tollgate.cost_usd': '0.00035',
      'tollgate.route.tier': 'EXPLICIT',
      'tollgate.attempts': 1,
      'tollgate.fallbacks': [],
    });
    const children = spans.filter((s) => s.parentSpanId === root.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(
      ['authenticate', 'chat deepseek-chat', 'reserve', 'route', 'settle'].sort(),
    );
    const attempt = children.find((s) => s.name === 'chat deepseek-chat')!;
    expect(attempt.kind).toBe(3); // CLIENT
    expect(attempt.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'deepseek-chat',
      'server.address': '127.0.0.1',
      'tollgate.attempt': 1,
    });
    expect(children.find((s) => s.name === 'reserve')!.attributes).toMatchObject({
      'tollgate.budget.decision': 'ALLOWED',
    });
    expect(children.find((s) => s.name === 'settle')!.attributes).toMatchObject({
      'tollgate.cost_usd': '0.00035',
      'tollgate.outcome': 'SUCCESS',
    });
    // The upstream request carried the attempt's context.
    expect(upstream.calls.at(-1)!.headers.traceparent).toBe(`00-${TRACE}-${attempt.spanId}-01`);
  });

  it('a refused call is recorded as failed, with its code; a GraphQL call is traced the same way', async () => {
    const sdk = new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
    const trace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    await expect(
      sdk.chat.completions.create(
        { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] },
        { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } },
      ),
    ).rejects.toMatchObject({ status: 400 });
    const graphql = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const response = await fetch(t.app.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${key}`,
        traceparent: `00-${graphql}-${CLIENT_SPAN}-01`,
      },
      body: JSON.stringify({
        query: 'mutation($i: ChatCompletionInput!) { createChatCompletion(input: $i) { cost } }',
        variables: { i: { model: 'gpt-4.1', messages: user('Hi'), maxTokens: 100 } },
      }),
    });
    expect(response.status).toBe(200);
    await t.app.tracing.flush();
    const failed = traceOf(trace).find((s) => s.parentSpanId === CLIENT_SPAN)!;
    expect(failed.status.code).toBe(2); // ERROR
    expect(failed.attributes['error.type']).toBe('BAD_USER_INPUT');
    const root = traceOf(graphql).find((s) => s.parentSpanId === CLIENT_SPAN)!;
    expect(root.name).toBe('chat gpt-4.1');
    const names = traceOf(graphql)
      .filter((s) => s.parentSpanId === root.spanId)
      .map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['authenticate', 'route', 'reserve', 'chat gpt-4.1', 'settle']),
    );
  });

  it('a failed upstream attempt is recorded with its status, and what the upstream said stays out of the trace', async () => {
    const SECRET = 'sk-echoed-back-by-a-proxy-0123456789';
    upstream.handler = (_call, res) => sendJson(res, 400, { error: { message: `bad key ${SECRET}` } });
    const trace = 'cccccccccccccccccccccccccccccccc';
    try {
      const sdk = new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
      await expect(
        sdk.chat.completions.create(
          { model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }] },
          { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } },
        ),
      ).rejects.toMatchObject({ status: 400 });
    } finally {
      upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 1000, 500, 'Hi'));
    }
    await t.app.tracing.flush();
    const attempt = traceOf(trace).find((s) => s.attributes['http.response.status_code'] === 400)!;
    expect(attempt).toBeDefined();
    expect(attempt.status.code).toBe(2); // ERROR
    expect(JSON.stringify(traceOf(trace))).not.toContain(SECRET);
  });
});
