import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { EgressRefusedError } from '../../shared/egress';
import { parseRetryAfter } from './retry';
import { ChunkAssembler, readCompletion, readEmbeddings } from './chat-answer';
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

/** An OpenAI-compatible upstream (`/chat/completions`, `/embeddings`) over a keep-alive connection pool. */
export class OpenAiTransport implements UpstreamTransport {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    /** A keep-alive pool whose connections go through the operator's egress policy. */
    private readonly dispatcher: Dispatcher,
  ) {}

  async complete(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    const streaming = req.onChunk !== undefined;
    const options = req.body.stream_options;
    // The client's request as it sent it, with the upstream's model name, and always asking for a
    // stream's usage (what the call is metered on; the door drops that chunk if the client did not ask).
    const body = {
      ...req.body,
      model: req.model,
      // (a body that says stream: true on the whole-answer path is told otherwise; nothing else is added)
      ...(streaming
        ? { stream: true, stream_options: { ...(isObject(options) ? options : {}), include_usage: true } }
        : req.body.stream === true
          ? { stream: false }
          : {}),
    };
    const response = await this.post('/chat/completions', body, req.signal, apiKey, streaming);
    if (streaming) return readStream(response.body, req.model, req.onChunk!, req.signal);
    return readCompletion(await response.text(), req.model);
  }

  async embed(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    const response = await this.post(
      '/embeddings',
      { ...req.body, model: req.model },
      req.signal,
      apiKey,
      false,
    );
    return readEmbeddings(await response.text(), req.model);
  }

  /**
   * POSTs a JSON body; an HTTP error is thrown with the upstream's reason. A whole answer must
   * come within the timeout (its `text()` included); a stream may take longer, but no gap in it may.
   */
  private async post(
    path: string,
    payload: Record<string, unknown>,
    clientSignal: AbortSignal | undefined,
    apiKey: string | undefined,
    streaming: boolean,
  ): Promise<{ body: AsyncIterable<Uint8Array>; text: () => Promise<string> }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    // (undici's own timeouts tick coarsely, up to half a second late: the whole answer's is exact.)
    const deadline = streaming ? undefined : AbortSignal.timeout(this.timeoutMs);
    const signals = [clientSignal, deadline].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        dispatcher: this.dispatcher,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw toNetworkError(error);
    }
    const text = async () => {
      try {
        return await response.body.text();
      } catch (error) {
        throw toNetworkError(error);
      }
    };
    if (response.statusCode >= 400) {
      const said = await text();
      throw new UpstreamHttpError(
        response.statusCode,
        parseRetryAfter(response.headers),
        `upstream answered ${response.statusCode}: ${said.slice(0, 200)}`,
        errorBody(said),
      );
    }
    return { body: response.body, text };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

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

/** Reads an OpenAI chat-completion event stream, handing each chunk on as it comes. */
async function readStream(
  body: AsyncIterable<Uint8Array>,
  askedModel: string,
  onChunk: (chunk: Record<string, unknown>) => void,
  signal: AbortSignal | undefined,
): Promise<UpstreamReply> {
  const answer = new ChunkAssembler();
  try {
    for await (const { data } of sseEvents(body)) {
      if (data === '[DONE]') break;
      signal?.throwIfAborted(); // what is already buffered must not reach a caller who left
      let chunk: unknown;
      try {
        chunk = JSON.parse(data);
      } catch {
        throw new UpstreamProtocolError('upstream sent a stream event that is not JSON');
      }
      if (!isObject(chunk))
        throw new UpstreamProtocolError('upstream sent a stream event that is not an object');
      if (isObject(chunk.error)) {
        const said = errorBody(data);
        throw new UpstreamHttpError(
          500,
          undefined,
          `upstream failed mid-stream: ${said?.message ?? 'error event'}`,
          said,
        );
      }
      answer.add(chunk);
      onChunk(chunk);
    }
  } catch (error) {
    if (error instanceof UpstreamProtocolError || error instanceof UpstreamHttpError) throw error;
    throw toNetworkError(error);
  }
  return answer.reply(askedModel);
}
