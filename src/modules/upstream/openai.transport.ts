import type { Dispatcher } from 'undici';
import { errorField, postJson, postJsonStream, toNetworkError, type JsonPost } from './http-post';
import { ChunkAssembler, readCompletion, readEmbeddings } from './chat-answer';
import { sseEvents } from './sse';
import {
  UpstreamHttpError,
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

  /** A request from another format's door is sent as its OpenAI view: refused if that lost something. */
  check(req: UpstreamRequest): void {
    if (req.native?.untranslatable) throw req.native.untranslatable;
  }

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
    const post = this.post('/chat/completions', body, req, apiKey);
    if (streaming) return readStream(await postJsonStream(post), req.model, req.onChunk!, req.signal);
    return readCompletion(await postJson(post), req.model);
  }

  async embed(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    return readEmbeddings(
      await postJson(this.post('/embeddings', { ...req.body, model: req.model }, req, apiKey)),
      req.model,
    );
  }

  private post(
    path: string,
    payload: Record<string, unknown>,
    req: UpstreamRequest,
    apiKey: string | undefined,
  ): JsonPost {
    return {
      dispatcher: this.dispatcher,
      url: `${this.baseUrl}${path}`,
      headers: { ...req.headers, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      payload,
      signal: req.signal,
      timeoutMs: this.timeoutMs,
      errorBody,
    };
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
    const field = (name: string) => errorField(error, name);
    return { message: field('message'), type: field('type'), param: field('param'), code: field('code') };
  } catch {
    return undefined;
  }
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
