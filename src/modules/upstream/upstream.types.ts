import type { NativeRequest } from '../../shared/native-request';
import type { OpenAiToolCall } from '../../shared/openai-wire';
import type { TokenUsage } from '../../shared/token-usage';

export interface UpstreamRequest {
  /** The model name the upstream knows. */
  model: string;
  /** OpenAI's chat request to send (the transport sets the model and the streaming flags). */
  body: Record<string, unknown>;
  signal?: AbortSignal;
  /**
   * Streams the reply: each chunk (OpenAI's chat.completion.chunk shape) is handed here as it
   * arrives, and the upstream is asked for its usage at the end. The returned reply still carries
   * the whole answer, assembled from the chunks.
   */
  onChunk?: (chunk: Record<string, unknown>) => void;
  /** The client's own request, when a door received it in another format (see NativeRequest). */
  native?: NativeRequest;
  /** Headers to add to the upstream request: the trace context (traceparent, tracestate). */
  headers?: Record<string, string>;
}

export interface UpstreamReply {
  /**
   * The answer in OpenAI's chat.completion shape, every field the upstream sent (a stream's,
   * assembled); for an embeddings call, OpenAI's embedding list as sent.
   */
  completion: Record<string, unknown>;
  /** The first choice's text ("" when there is none). */
  content: string;
  toolCalls: OpenAiToolCall[];
  refusal: string | null;
  finishReason: string;
  /** The model the upstream says served the call (may differ from the one asked). */
  model: string;
  /** Null when the upstream sent no usage (or none that adds up); the caller counts with the tokenizer then. */
  usage: TokenUsage | null;
  /** The upstream sent usage that does not add up (negative, or a total that is not prompt + completion). */
  inconsistentUsage: boolean;
  /** The request went as the client wrote it (NativeRequest), not as its OpenAI view. */
  passedThrough?: boolean;
  /** The whole answer in the native request's format, as the upstream sent it, when it was passed through. */
  native?: Record<string, unknown>;
  /**
   * Hints of the request (they change cost or latency, never the answer) the upstream's format has
   * no place for, each "field: why": not sent, and said so to the client.
   */
  dropped?: string[];
}

/** One upstream call on one key; retries, rotation and limits live around it, not in it. */
export interface UpstreamTransport {
  /**
   * Throws a DomainError naming what this upstream cannot carry of the request (a parameter with
   * no equivalent in its format), before any slot, key or breaker pass is taken.
   */
  check(request: UpstreamRequest): void;
  complete(request: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply>;
  /** OpenAI's embeddings request (`body`), never streamed; the reply's usage is prompt tokens only. */
  embed(request: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply>;
}

/** What a call asks of the upstream: a chat completion or embeddings. */
export type UpstreamOperation = 'chat' | 'embeddings';

/** What an upstream's error body said (OpenAI's `{"error": {message, type, param, code}}`), when it said it. */
export interface UpstreamErrorBody {
  message?: string;
  type?: string;
  param?: string;
  code?: string;
}

/** An upstream answered with an HTTP error. */
export class UpstreamHttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    message: string,
    readonly upstream?: UpstreamErrorBody,
  ) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

/** The upstream did not answer in time, or the connection failed. */
export class UpstreamNetworkError extends Error {
  constructor(
    readonly reason: 'timeout' | 'connection',
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamNetworkError';
  }
}

/** The upstream answered 200 with something that is not a usable completion. */
export class UpstreamProtocolError extends Error {
  override name = 'UpstreamProtocolError';
}
