import crypto from 'node:crypto';
import { estimatePromptTokens } from '../../shared/prompt-estimate';
import { countTextTokens } from '../../shared/tokenizer';
import type { SimulationSettings } from '../providers/provider.entity';
import { ChunkAssembler, embeddingsReplyOf, replyOf } from './chat-answer';
import { embeddingItems, embeddingTokens, type EmbeddingItem } from '../../shared/embedding-input';
import {
  UpstreamHttpError,
  type UpstreamReply,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream.types';

const WORDS = (
  'the gateway counts every token and every cent so budgets hold under load while models answer ' +
  'quickly cheaply and predictably for each project and key in the ledger'
).split(' ');

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The built-in offline provider, speaking OpenAI's chat wire: a deterministic reply (same request,
 * same answer), a tool call when the request demands one (`tool_choice` "required" or a named
 * function), usage counted with the real tokenizer (tools, schemas and images included), streamed
 * as OpenAI chunks ending with a usage chunk, and configurable latency and failure rate.
 */
export class SimulatedTransport implements UpstreamTransport {
  constructor(private readonly settings: SimulationSettings) {}

  /** It speaks OpenAI's chat: a request from another format's door goes as its OpenAI view. */
  check(req: UpstreamRequest): void {
    if (req.native?.untranslatable) throw req.native.untranslatable;
  }

  async complete(req: UpstreamRequest): Promise<UpstreamReply> {
    if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs, req.signal);
    if (this.settings.failureRate > 0 && Math.random() < this.settings.failureRate) {
      throw new UpstreamHttpError(503, undefined, 'simulated upstream failure');
    }
    const answer = simulatedAnswer(req);
    if (!req.onChunk) return replyOf(answer.completion, req.model);
    // Word by word, with the configured pause between chunks; an abort stops it where it is.
    const assembled = new ChunkAssembler();
    const send = (chunk: Json) => {
      if (req.signal?.aborted) throw req.signal.reason;
      assembled.add(chunk);
      req.onChunk!(chunk);
    };
    const head = {
      id: answer.completion.id,
      object: 'chat.completion.chunk',
      created: answer.completion.created,
      model: req.model,
    };
    send({
      ...head,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    });
    for (const [i, piece] of (answer.text.match(/\S+\s*/g) ?? []).entries()) {
      if (i > 0 && this.settings.chunkDelayMs > 0) await sleep(this.settings.chunkDelayMs, req.signal);
      send({ ...head, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
    }
    answer.toolCalls.forEach((call, index) =>
      send({
        ...head,
        choices: [{ index: 0, delta: { tool_calls: [{ index, ...call }] }, finish_reason: null }],
      }),
    );
    send({ ...head, choices: [{ index: 0, delta: {}, finish_reason: answer.finishReason }] });
    send({ ...head, choices: [], usage: answer.completion.usage });
    return assembled.reply(req.model);
  }

  /**
   * Deterministic unit vectors: each input's from the SHA-256 stream of its text (or tokens), of
   * `dimensions` floats (1536 by default), as floats or, when asked, base64 little-endian float32
   * (what the openai SDK asks for and decodes).
   */
  async embed(req: UpstreamRequest): Promise<UpstreamReply> {
    if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs, req.signal);
    if (this.settings.failureRate > 0 && Math.random() < this.settings.failureRate) {
      throw new UpstreamHttpError(503, undefined, 'simulated upstream failure');
    }
    const items = embeddingItems(req.body.input) ?? [];
    const dimensions = numberOr(req.body.dimensions, 1536);
    const base64 = req.body.encoding_format === 'base64';
    const tokens = embeddingTokens(items);
    return embeddingsReplyOf(
      {
        object: 'list',
        data: items.map((item, index) => {
          const vector = simulatedVector(item, dimensions);
          return {
            object: 'embedding',
            index,
            embedding: base64 ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector),
          };
        }),
        model: req.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      },
      req.model,
    );
  }
}

/** A unit vector seeded by the input: the same input always embeds the same. */
export function simulatedVector(item: EmbeddingItem, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  const seed = typeof item === 'string' ? item : JSON.stringify(item);
  let block = Buffer.alloc(0);
  for (let i = 0, counter = 0; i < dimensions; i++) {
    if ((i * 2) % 32 === 0) block = crypto.createHash('sha256').update(`${counter++}:${seed}`).digest();
    vector[i] = block.readInt16LE((i * 2) % 32) / 32768;
  }
  const norm = Math.hypot(...vector) || 1;
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! / norm;
  return vector;
}

interface SimulatedAnswer {
  completion: Json & { id: string; created: number; usage: Json };
  text: string;
  toolCalls: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  finishReason: string;
}

/** The answer to a request: seeded by its messages, cut at its max tokens, or the tool call it demands. */
export function simulatedAnswer(req: Pick<UpstreamRequest, 'body' | 'model'>): SimulatedAnswer {
  const messages = Array.isArray(req.body.messages) ? req.body.messages.filter(isObject) : [];
  const seed = [...crypto.createHash('sha256').update(JSON.stringify(messages)).digest()];
  const promptTokens = estimatePromptTokens(req.body, { model: req.model }).tokens;
  const cap = numberOr(req.body.max_completion_tokens, numberOr(req.body.max_tokens, 1024));
  const demanded = demandedTool(req.body);
  let text = '';
  let finishReason = 'stop';
  const toolCalls: SimulatedAnswer['toolCalls'] = [];
  if (demanded) {
    toolCalls.push({
      id: `call_${seed
        .slice(0, 8)
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('')}`,
      type: 'function',
      function: { name: demanded, arguments: '{}' },
    });
    finishReason = 'tool_calls';
  } else {
    ({ text, finishReason } = simulatedText(req.model, messages, seed, cap));
  }
  const completionTokens =
    countTextTokens(text) + toolCalls.reduce((n, c) => n + countTextTokens(c.function.name) + 2, 0);
  const id = `chatcmpl-sim-${seed
    .slice(8, 16)
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')}`;
  return {
    text,
    toolCalls,
    finishReason,
    completion: {
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: req.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: demanded ? null : text,
            refusal: null,
            ...(demanded ? { tool_calls: toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    },
  };
}

/** The function a request obliges the model to call: the named one, or the first tool when any is required. */
function demandedTool(body: Json): string | null {
  const tools = Array.isArray(body.tools) ? body.tools.filter(isObject) : [];
  const choice = body.tool_choice;
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string')
    return choice.function.name;
  const first = tools[0];
  if (choice === 'required' && first && isObject(first.function) && typeof first.function.name === 'string') {
    return first.function.name;
  }
  return null;
}

/** The reply text: seeded by the prompt, cut word by word at the cap, as a real upstream stops at max tokens. */
export function simulatedText(
  model: string,
  messages: Json[],
  seed: number[],
  cap: number,
): { text: string; finishReason: string } {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const said =
    typeof lastUser?.content === 'string'
      ? lastUser.content
      : Array.isArray(lastUser?.content)
        ? '(parts)'
        : '';
  const byte = (i: number) => seed[i % seed.length]!;
  const wanted = 12 + (byte(0) % 40);
  const words = [`[${model}]`, 'Simulated', 'reply', 'to', `"${said.slice(0, 40).replace(/\s+/g, ' ')}":`];
  for (let i = 0; words.length < wanted; i++) words.push(WORDS[byte(i + 1) % WORDS.length]!);
  let text = words.join(' ') + '.';
  if (countTextTokens(text) <= cap) return { text, finishReason: 'stop' };
  while (words.length > 0 && countTextTokens(text) > cap) {
    words.pop();
    text = words.join(' ');
  }
  return { text, finishReason: 'length' };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
