import type { CallSpan } from '../../shared/tracing';
import type { NativeRequest } from '../../shared/native-request';
import type { Pico } from '../../shared/money';
import type { OpenAiToolCall } from '../../shared/openai-wire';
import type { TokenUsage } from '../../shared/token-usage';
import type { Tier } from '../providers/model.entity';

/**
 * A chat completion as the pipeline takes it: OpenAI's chat request (the lingua franca of every
 * door) plus what is Tollgate's own. The body is forwarded to the upstream as the client sent it,
 * but for the model name (mapped) and the streaming flags (Tollgate always asks for usage).
 */
export interface CompletionRequest {
  /** OpenAI's chat-completions request: model ("auto" routes), messages, tools, sampling, anything. */
  body: Record<string, unknown>;
  /** Idempotency key: a repeat returns the first result and is charged once. */
  requestId?: string | null;
  /** e.g. classification or extraction (routes as simple). */
  intent?: string | null;
  /** Always routes as complex. */
  requiresReasoning?: boolean | null;
  /**
   * The client's own request, when a door received it in another format (body is then its OpenAI
   * view, what the pipeline decides on): passed through to an upstream of that format.
   */
  native?: NativeRequest;
}

/** How a door runs a call, besides what the client asked. */
export interface CallOptions {
  /** Aborts the call: the client went away (a stream it abandoned is charged what it got). */
  signal?: AbortSignal;
  /**
   * Names the call when the request carries no requestId: a door that tells the client the id
   * before the answer (a stream's headers, x-request-id) names the call with it.
   */
  callId?: string;
  /** The call's root span, started by its door (NO_SPAN when tracing is off). */
  span?: CallSpan;
  /** The door it came through, for the added-latency metric. */
  door?: Door;
}

export type Door = 'graphql' | 'openai' | 'anthropic';

/** One streamed piece, as the upstream sent it in OpenAI's chat.completion.chunk shape. */
export type CompletionChunk = Record<string, unknown>;

export interface CompletionResult {
  id: string;
  requestId: string;
  modelRequested: string;
  model: string;
  provider: string;
  /** The first choice's text ("" when it answered with tool calls only). */
  content: string;
  /** The first choice's tool calls. */
  toolCalls: OpenAiToolCall[];
  /** The first choice's refusal, when the model refused. */
  refusal: string | null;
  finishReason: string;
  /**
   * The answer as the upstream sent it, in OpenAI's chat.completion shape: every choice and field
   * (logprobs, system_fingerprint, service_tier, audio...), for the doors to pass on.
   */
  completion: Record<string, unknown>;
  /** The upstream's own answer, when the request was passed through in its format (see NativeRequest). */
  native: Record<string, unknown> | null;
  /** The request went to its upstream as the client wrote it, in its own format. */
  passedThrough: boolean;
  /** Cost hints of the request the upstream's format had no place for, each "field: why" (not sent). */
  dropped: string[];
  usage: TokenUsage;
  cost: Pico;
  /** What the provider's cache saved against the full prompt price. */
  cacheSavings: Pico;
  /** False when the served model had no price (recorded at $0) or a token class had none (at the prompt price). */
  priced: boolean;
  priceNote: string | null;
  latencyMs: number;
  upstreamLatencyMs: number;
  attempts: number;
  tier: Tier | null;
  fallbacks: string[];
  downgraded: boolean;
  /** True when this is the stored result of an earlier call with the same requestId. */
  replayed: boolean;
  createdAt: Date;
}
