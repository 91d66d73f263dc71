import { Agent, errors as undiciErrors, request } from 'undici';
import { parseRetryAfter } from '../limits/retry';
import {
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamProtocolError,
  type UpstreamReply,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream.types';

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });

/** An OpenAI-compatible `/chat/completions` upstream over a keep-alive connection pool. */
export class OpenAiTransport implements UpstreamTransport {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  async complete(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const body = JSON.stringify({
      model: req.model,
      messages: req.messages.map((m) => (m.name ? m : { role: m.role, content: m.content })),
      max_tokens: req.maxTokens,
      ...(req.temperature === null || req.temperature === undefined ? {} : { temperature: req.temperature }),
    });
    const signal = req.signal
      ? AbortSignal.any([req.signal, AbortSignal.timeout(this.timeoutMs)])
      : AbortSignal.timeout(this.timeoutMs);
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${this.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body,
        dispatcher: agent,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw toNetworkError(error);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw toNetworkError(error);
    }
    if (response.statusCode >= 400) {
      throw new UpstreamHttpError(
        response.statusCode,
        parseRetryAfter(response.headers),
        `upstream answered ${response.statusCode}: ${text.slice(0, 200)}`,
      );
    }
    return parseCompletion(text, req.model);
  }
}

function toNetworkError(error: unknown): UpstreamNetworkError {
  const timeout =
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'));
  const message = error instanceof Error ? error.message : String(error);
  return new UpstreamNetworkError(timeout ? 'timeout' : 'connection', message);
}

interface WireCompletion {
  model?: unknown;
  choices?: { message?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null;
}

export function parseCompletion(text: string, askedModel: string): UpstreamReply {
  let wire: WireCompletion;
  try {
    wire = JSON.parse(text) as WireCompletion;
  } catch {
    throw new UpstreamProtocolError('upstream sent a body that is not JSON');
  }
  const choice = wire.choices?.[0];
  if (!choice || typeof choice.message?.content !== 'string') {
    throw new UpstreamProtocolError('upstream sent no choice with text content');
  }
  const usage = wire.usage;
  return {
    content: choice.message.content,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop',
    model: typeof wire.model === 'string' && wire.model ? wire.model : askedModel,
    usage: usage
      ? {
          promptTokens: usage.prompt_tokens as number,
          completionTokens: usage.completion_tokens as number,
          totalTokens: usage.total_tokens as number,
        }
      : null,
  };
}
