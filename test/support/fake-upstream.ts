import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamCall {
  body: {
    model: string;
    messages: { role: string; content: string }[];
    max_tokens?: number;
    stream?: boolean;
  };
  authorization: string | undefined;
  /** e.g. /v1/chat/completions, /v1/embeddings. */
  path: string;
  headers: http.IncomingHttpHeaders;
}

export type UpstreamHandler = (
  call: UpstreamCall,
  res: http.ServerResponse,
  index: number,
) => void | Promise<void>;

/** A completion body in OpenAI's shape. */
export function completionBody(
  model: string,
  promptTokens: number,
  completionTokens: number,
  content = 'ok',
): Record<string, unknown> {
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * A real local OpenAI-compatible HTTP server whose answers the test controls. It counts calls
 * and the most calls it ever had open at once.
 */
export class FakeUpstream {
  readonly calls: UpstreamCall[] = [];
  active = 0;
  maxActive = 0;
  handler: UpstreamHandler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 10, 5));
  private server: http.Server | undefined;

  /** Forgets the calls seen and answers every call with a plain 10 + 5 token completion again. */
  reset(): void {
    this.calls.length = 0;
    this.maxActive = 0;
    this.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 10, 5));
  }

  get baseUrl(): string {
    const port = (this.server?.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}/v1`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const call: UpstreamCall = {
          body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as UpstreamCall['body'],
          authorization: req.headers.authorization,
          path: req.url ?? '',
          headers: req.headers,
        };
        const index = this.calls.push(call) - 1;
        this.active++;
        this.maxActive = Math.max(this.maxActive, this.active);
        res.on('close', () => this.active--);
        Promise.resolve(this.handler(call, res, index)).catch(() => {
          if (!res.headersSent) sendJson(res, 500, { error: { message: 'fake failed' } });
        });
      });
    });
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/**
 * Streams `pieces` as OpenAI chat-completion chunks, `delayMs` apart, then (when `usage` is
 * given) a usage chunk, then [DONE]. Stops writing if the gateway hangs up; `onClose` says when.
 */
export async function sendStream(
  res: http.ServerResponse,
  model: string,
  pieces: string[],
  options: { usage?: { prompt: number; completion: number }; delayMs?: number } = {},
): Promise<{ sent: number; aborted: boolean }> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let aborted = false;
  res.on('close', () => (aborted = !res.writableFinished));
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model, choices, ...extra })}\n\n`,
    );
  chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  let sent = 0;
  for (const piece of pieces) {
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    if (aborted || res.destroyed) return { sent, aborted: true };
    chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
    sent++;
  }
  chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);
  if (options.usage) {
    const { prompt, completion } = options.usage;
    chunk([], {
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    });
  }
  res.end('data: [DONE]\n\n');
  return { sent, aborted: false };
}
