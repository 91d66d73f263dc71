import type { Dispatcher } from 'undici';
import { AnthropicToOpenAiStream } from '../anthropic/anthropic-to-openai.stream';
import { readAnthropicError } from '../anthropic/anthropic.errors';
import type { AnthropicEvent, AnthropicMessage } from '../anthropic/anthropic.types';
import { toAnthropicRequest } from '../anthropic/openai-to-anthropic';
import { toOpenAiCompletion } from '../anthropic/response-translate';
import { TranslationError } from '../anthropic/translation-error';
import { NATIVE_EVENTS, type WithNativeEvents } from '../../shared/native-request';
import { ChunkAssembler, replyOf } from './chat-answer';
import { errorField, postJson, postJsonStream, toNetworkError, type JsonPost } from './http-post';
import { sseEvents } from './sse';
import {
  UpstreamHttpError,
  UpstreamProtocolError,
  type UpstreamErrorBody,
  type UpstreamReply,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream.types';

/** The Messages API version Tollgate speaks when the client did not name its own. */
export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; the pipeline always sets one, this is the translator's fallback. */
const DEFAULT_MAX_TOKENS = 1024;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** One Messages API request on the wire. */
export interface AnthropicCall {
  body: Json;
  /** anthropic-version, and anthropic-beta when the client sent it. */
  headers: Record<string, string>;
  apiKey: string | undefined;
  signal: AbortSignal | undefined;
}

/** Where Messages requests go: Anthropic's HTTP API, or the built-in simulator speaking it. */
export interface AnthropicWire {
  /** The whole answer (a `message` object). */
  message(call: AnthropicCall): Promise<unknown>;
  /** The answer's server-sent events, each parsed. */
  events(call: AnthropicCall): AsyncIterable<unknown>;
}

/**
 * An Anthropic Messages upstream. A request from the Anthropic door is passed through as the client
 * wrote it (the model name mapped, cache_control and every block kept, its own anthropic-version
 * and anthropic-beta); any other is translated from OpenAI's chat (a parameter with no Anthropic
 * equivalent refused, naming it). Answers reach the pipeline in OpenAI's shape, usage in the
 * ledger's classes (input + cache reads + cache writes = prompt), and a passed-through call keeps
 * the upstream's own message, or its own events on each streamed chunk, for the door.
 */
export class AnthropicTransport implements UpstreamTransport {
  constructor(private readonly wire: AnthropicWire) {}

  check(req: UpstreamRequest): void {
    if (!req.native) this.translated(req, []);
  }

  async complete(req: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply> {
    const streaming = req.onChunk !== undefined;
    const native = req.native?.format === 'anthropic';
    const dropped: string[] = [];
    const { stream: _stream, ...rest } = native ? req.native!.body : this.translated(req, dropped);
    const call: AnthropicCall = {
      body: { ...rest, model: req.model, ...(streaming ? { stream: true } : {}) },
      headers: {
        ...req.headers,
        ...(native ? protocolHeaders(req.native!.headers) : { 'anthropic-version': ANTHROPIC_VERSION }),
      },
      apiKey,
      signal: req.signal,
    };
    const reply = streaming
      ? await this.stream(call, req, native)
      : messageReply(await this.wire.message(call), req.model, native);
    return {
      ...reply,
      ...(native ? { passedThrough: true } : {}),
      ...(dropped.length > 0 ? { dropped } : {}),
    };
  }

  embed(): Promise<UpstreamReply> {
    // Anthropic has no embeddings API: the model's own upstream says so, as a 404 would.
    throw new UpstreamHttpError(404, undefined, 'Anthropic has no embeddings endpoint', {
      type: 'not_found_error',
      message: 'Anthropic providers have no embeddings endpoint',
    });
  }

  private translated(req: UpstreamRequest, dropped: string[]): Json {
    return toAnthropicRequest(req.body, {
      model: req.model,
      defaultMaxTokens: DEFAULT_MAX_TOKENS,
      onDroppedHint: (field, why) => dropped.push(`${field}: ${why}`),
    }) as unknown as Json;
  }

  /**
   * Anthropic's events as OpenAI chunks, each handed on as it is made. On a passed-through call
   * each chunk carries the events that produced it (an event of a kind the OpenAI view cannot
   * hold rides on an empty chunk), so the door forwards the upstream's own stream.
   */
  private async stream(call: AnthropicCall, req: UpstreamRequest, native: boolean): Promise<UpstreamReply> {
    const translate = new AnthropicToOpenAiStream();
    const assembled = new ChunkAssembler();
    let pending: unknown[] = [];
    let stopped = false;
    const deliver = (chunk: WithNativeEvents) => {
      if (native) {
        chunk[NATIVE_EVENTS] = pending;
        pending = [];
      }
      assembled.add(chunk);
      req.onChunk!(chunk);
    };
    for await (const event of this.wire.events(call)) {
      req.signal?.throwIfAborted(); // what is already buffered must not reach a caller who left
      if (!isObject(event) || typeof event.type !== 'string') {
        throw new UpstreamProtocolError('Anthropic sent a stream event that is not an event');
      }
      if (native) pending.push(event);
      let chunks: WithNativeEvents[];
      try {
        chunks = translate.push(event as AnthropicEvent) as unknown as WithNativeEvents[];
      } catch (error) {
        // A block the OpenAI view has no place for: the client of a passed-through call still gets it.
        if (!native || !(error instanceof TranslationError) || error.code !== 'UPSTREAM_ERROR') throw error;
        chunks = [{ object: 'chat.completion.chunk', choices: [] }];
      }
      for (const chunk of chunks) deliver(chunk);
      if (event.type === 'message_stop') stopped = true;
    }
    if (!stopped) throw new UpstreamProtocolError('Anthropic ended the stream before message_stop');
    if (native && pending.length > 0) deliver({ object: 'chat.completion.chunk', choices: [] });
    return assembled.reply(req.model);
  }
}

/** The client's protocol headers to pass through, Tollgate's version when it named none. */
function protocolHeaders(client: Record<string, string>): Record<string, string> {
  return {
    'anthropic-version': client['anthropic-version'] ?? ANTHROPIC_VERSION,
    ...(client['anthropic-beta'] ? { 'anthropic-beta': client['anthropic-beta'] } : {}),
  };
}

/** A whole Anthropic answer as the pipeline reads a reply; the message itself kept when passed through. */
function messageReply(raw: unknown, askedModel: string, native: boolean): UpstreamReply {
  if (!isObject(raw) || raw.type !== 'message' || !Array.isArray(raw.content) || !isObject(raw.usage)) {
    throw new UpstreamProtocolError('Anthropic sent a body that is not a message');
  }
  const message = raw as unknown as AnthropicMessage;
  // The OpenAI view holds text, tool calls and thinking; a passed-through answer's other blocks
  // (server tools, citations) reach its client in `native`, and count in its usage all the same.
  const readable = native
    ? {
        ...message,
        content: message.content.filter((b) =>
          ['text', 'tool_use', 'thinking', 'redacted_thinking'].includes(b.type),
        ),
      }
    : message;
  const { completion } = toOpenAiCompletion(readable);
  const reply = replyOf(completion as unknown as Json, askedModel);
  return native ? { ...reply, native: raw } : reply;
}

/** Anthropic's Messages API over HTTP: `POST {baseUrl}/v1/messages` with `x-api-key`. */
export class HttpAnthropicWire implements AnthropicWire {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly dispatcher: Dispatcher,
  ) {}

  async message(call: AnthropicCall): Promise<unknown> {
    const text = await postJson(this.post(call));
    try {
      return JSON.parse(text);
    } catch {
      throw new UpstreamProtocolError('Anthropic sent a body that is not JSON');
    }
  }

  async *events(call: AnthropicCall): AsyncIterable<unknown> {
    const body = await postJsonStream(this.post(call));
    try {
      for await (const { data } of sseEvents(body)) {
        let event: unknown;
        try {
          event = JSON.parse(data);
        } catch {
          throw new UpstreamProtocolError('Anthropic sent a stream event that is not JSON');
        }
        yield event;
      }
    } catch (error) {
      if (error instanceof UpstreamProtocolError) throw error;
      throw toNetworkError(error);
    }
  }

  private post(call: AnthropicCall): JsonPost {
    return {
      dispatcher: this.dispatcher,
      url: `${this.baseUrl}/v1/messages`,
      headers: { ...call.headers, ...(call.apiKey ? { 'x-api-key': call.apiKey } : {}) },
      payload: call.body,
      signal: call.signal,
      timeoutMs: this.timeoutMs,
      errorBody,
    };
  }
}

/** Anthropic's `{"type":"error","error":{"type","message"}}`, read into the upstream's reason. */
function errorBody(text: string): UpstreamErrorBody | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const said = readAnthropicError(parsed);
  if (!said || !isObject(parsed) || !isObject(parsed.error)) return undefined;
  return { type: errorField(parsed.error, 'type'), message: errorField(parsed.error, 'message') };
}
