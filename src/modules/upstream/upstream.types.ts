export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';
export const CHAT_ROLES: readonly ChatRole[] = ['system', 'user', 'assistant', 'tool'];

export interface ChatMessage {
  role: ChatRole;
  content: string;
  name?: string | null;
}

export interface UpstreamRequest {
  /** The model name the upstream knows. */
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  temperature?: number | null;
  signal?: AbortSignal;
  /**
   * Streams the reply: each piece of text is handed here as it arrives (and the upstream is
   * asked for its usage at the end). The returned reply still carries the whole text.
   */
  onDelta?: (text: string) => void;
}

export interface UpstreamUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface UpstreamReply {
  content: string;
  finishReason: string;
  /** The model the upstream says served the call (may differ from the one asked). */
  model: string;
  /** Null when the upstream sent no usage; the caller counts with the tokenizer then. */
  usage: UpstreamUsage | null;
}

/** One upstream call on one key; retries, rotation and limits live around it, not in it. */
export interface UpstreamTransport {
  complete(request: UpstreamRequest, apiKey: string | undefined): Promise<UpstreamReply>;
}

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
