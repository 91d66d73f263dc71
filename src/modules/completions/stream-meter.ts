import { countTextTokens } from '../../shared/tokenizer';
import { ChunkAssembler } from '../upstream/chat-answer';
import type { UpstreamReply } from '../upstream/upstream.types';

/** Thrown into the upstream call when a stream reached its maxTokens. */
export class StreamCapReached extends Error {
  override name = 'StreamCapReached';
}

type Chunk = Record<string, unknown>;
const isObject = (value: unknown): value is Chunk =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Meters a streamed call as it is passed on: counts the completion tokens of each chunk (text,
 * refusal, reasoning, tool-call names and arguments, every choice), passes the chunk to the client,
 * and cuts the stream at maxTokens per choice (so a stream never uses more completion than it
 * reserved). Chunks without any of that (the role chunk) wait for the first that has some, so a
 * call that fails before producing anything can still fall back to another model unseen. What was
 * passed on is what a stream that ends early is charged for.
 */
export class StreamMeter {
  tokens = 0;
  /** Set when the stream reached maxTokens and was cut there. */
  capped = false;
  /** Aborts the upstream call when the cap is reached. */
  readonly cut = new AbortController();
  private readonly passed = new ChunkAssembler();
  private readonly held: Chunk[] = [];
  private delivered = false;

  constructor(
    /** Completion tokens allowed in all: maxTokens times the choices asked for. */
    private readonly maxTokens: number,
    private readonly deliver: (chunk: Chunk) => void,
  ) {}

  /** Whether anything of substance reached the client (after which the call can no longer fall back or be retried). */
  get started(): boolean {
    return this.delivered;
  }

  readonly onChunk = (chunk: Chunk): void => {
    if (this.capped) return;
    const tokens = completionTokensIn(chunk);
    if (this.tokens + tokens > this.maxTokens) {
      this.capped = true;
      this.cut.abort(new StreamCapReached('maxTokens reached'));
      return;
    }
    this.tokens += tokens;
    this.passed.add(chunk);
    if (!this.delivered && tokens === 0 && !hasUsage(chunk) && !hasFinish(chunk)) {
      this.held.push(chunk);
      return;
    }
    this.delivered = true;
    for (const early of this.held.splice(0)) this.deliver(early);
    this.deliver(chunk);
  };

  /** The answer as far as it was passed on, for charging a stream that ended early. */
  passedOn(askedModel: string, finishReason: string): UpstreamReply {
    const reply = this.passed.reply(askedModel);
    return { ...reply, finishReason, usage: null };
  }
}

/** The completion tokens a chunk carries: every choice's text, refusal, reasoning and tool-call pieces. */
function completionTokensIn(chunk: Chunk): number {
  if (!Array.isArray(chunk.choices)) return 0;
  let tokens = 0;
  for (const choice of chunk.choices) {
    if (!isObject(choice) || !isObject(choice.delta)) continue;
    const { content, refusal, reasoning_content: reasoning, tool_calls: calls } = choice.delta;
    for (const text of [content, refusal, reasoning])
      if (typeof text === 'string') tokens += countTextTokens(text);
    if (!Array.isArray(calls)) continue;
    for (const call of calls) {
      if (!isObject(call) || !isObject(call.function)) continue;
      const { name, arguments: args } = call.function;
      if (typeof name === 'string') tokens += countTextTokens(name) + 1;
      if (typeof args === 'string') tokens += countTextTokens(args);
    }
  }
  return tokens;
}

const hasUsage = (chunk: Chunk) => isObject(chunk.usage);
const hasFinish = (chunk: Chunk) =>
  Array.isArray(chunk.choices) &&
  chunk.choices.some((c) => isObject(c) && typeof c.finish_reason === 'string');
