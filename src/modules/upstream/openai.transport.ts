import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { EgressRefusedError } from '../../shared/egress';
import { parseRetryAfter } from './retry';
import { sseEvents } from './sse';
import {
  UpstreamHttpError,
  UpstreamNetworkError,
  type UpstreamErrorBody,
  UpstreamProtocolError,
  type UpstreamReply,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream.types';

/** An OpenAI-compatible `/chat/completions` upstream over a keep-alive connection pool. */
export class OpenAiTransport implements UpstreamTransport {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    /** A keep-alive pool whose connections go through the operator's egress policy. */
    private readonly dispatcher: Dispatcher,
  ) {}

  async complete(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const streaming = req.onDelta !== undefined;
    const body = JSON.stringify({
      model: req.model,
      messages: req.messages.map((m) => (m.name ? m : { role: m.role, content: m.content })),
      max_tokens: req.maxTokens,
      ...(req.temperature === null || req.temperature === undefined ? {} : { temperature: req.temperature }),
      // Always ask for the usage of a stream: it is what the call is metered on.
      ...(streaming ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
    // A whole answer must come within the timeout; a stream may take longer, but no gap in it may.
    const deadline = streaming ? undefined : AbortSignal.timeout(this.timeoutMs);
    const signals = [req.signal, deadline].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${this.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.dispatcher,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw toNetworkError(error);
    }
    if (streaming && response.statusCode < 400)
      return readStream(response.body, req.model, req.onDelta!, signal);
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
        errorBody(text),
      );
    }
    return parseCompletion(text, req.model);
  }
}

/** OpenAI's error body, or the fields of it that are there; undefined when the body is not that. */
function errorBody(text: string): UpstreamErrorBody | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: Record<string, unknown> | string };
    const error = typeof parsed.error === 'string' ? { message: parsed.error } : parsed.error;
    if (!error || typeof error !== 'object') return undefined;
    const field = (name: string) => {
      const value = error[name];
      return typeof value === 'string' && value.length > 0 ? value.slice(0, 2000) : undefined;
    };
    return { message: field('message'), type: field('type'), param: field('param'), code: field('code') };
  } catch {
    return undefined;
  }
}

function toNetworkError(error: unknown): UpstreamNetworkError | EgressRefusedError {
  const refused = error instanceof EgressRefusedError ? error : (error as { cause?: unknown })?.cause;
  if (refused instanceof EgressRefusedError) return refused;
  // By name, not instanceof Error: an AbortSignal's DOMException may come from another realm.
  const name = (error as { name?: unknown } | null)?.name;
  const timeout =
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    name === 'TimeoutError' ||
    name === 'AbortError';
  const message = (error as { message?: unknown } | null)?.message;
  return new UpstreamNetworkError(timeout ? 'timeout' : 'connection', String(message ?? error));
}

interface WireChunk {
  model?: unknown;
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: WireCompletion['usage'];
}

/** Reads an OpenAI chat-completion event stream, handing each text delta on as it comes. */
async function readStream(
  body: AsyncIterable<Uint8Array>,
  askedModel: string,
  onDelta: (text: string) => void,
  signal: AbortSignal | undefined,
): Promise<UpstreamReply> {
  let content = '';
  let model = askedModel;
  let finishReason = 'stop';
  let usage: WireCompletion['usage'] = null;
  try {
    for await (const { data } of sseEvents(body)) {
      if (data === '[DONE]') break;
      signal?.throwIfAborted(); // what is already buffered must not reach a caller who left
      let chunk: WireChunk;
      try {
        chunk = JSON.parse(data) as WireChunk;
      } catch {
        throw new UpstreamProtocolError('upstream sent a stream event that is not JSON');
      }
      if (typeof chunk.model === 'string' && chunk.model) model = chunk.model;
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (typeof choice?.finish_reason === 'string') finishReason = choice.finish_reason;
      const delta = choice?.delta?.content;
      if (typeof delta === 'string' && delta.length > 0) {
        content += delta;
        onDelta(delta);
      }
    }
  } catch (error) {
    if (error instanceof UpstreamProtocolError) throw error;
    throw toNetworkError(error);
  }
  return { content, finishReason, model, usage: usage ? toUsage(usage) : null };
}

function toUsage(usage: NonNullable<WireCompletion['usage']>): UpstreamReply['usage'] {
  return {
    promptTokens: usage.prompt_tokens as number,
    completionTokens: usage.completion_tokens as number,
    totalTokens: usage.total_tokens as number,
  };
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
    usage: usage ? toUsage(usage) : null,
  };
}
