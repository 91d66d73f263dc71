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
