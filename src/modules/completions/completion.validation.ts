import { z } from 'zod';
import type { Config } from '../../config';
import { BadInputError } from '../../shared/errors';
import type { CompletionRequest } from './completion.types';
import type { NativeRequest } from '../../shared/native-request';
import { embeddingItems, embeddingTokens } from '../../shared/embedding-input';
import { UsageKind } from '../usage/usage-record.entity';

export const DEFAULT_MAX_TOKENS = 1024;
const REQUEST_ID = /^[A-Za-z0-9._:@-]{1,200}$/;
export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

/**
 * What Tollgate reads of an OpenAI chat request, each field checked; everything else in the body
 * (and inside each message and part) is kept as sent, to be forwarded.
 */
const Part = z.looseObject({ type: z.string({ error: 'a content part needs a type' }) });
const Message = z.looseObject({
  role: z.enum(CHAT_ROLES, { error: `must be one of ${CHAT_ROLES.join(', ')}` }),
  content: z
    .union([z.string(), z.array(Part)], { error: 'must be text or an array of content parts' })
    .nullish(),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -')
    .nullish(),
  tool_calls: z
    .array(
      z.looseObject({
        id: z.string(),
        type: z.string(),
        function: z.looseObject({ name: z.string(), arguments: z.string() }),
      }),
      { error: 'must be an array of {id, type, function: {name, arguments}}' },
    )
    .nullish(),
  tool_call_id: z.string().nullish(),
});
export type ChatMessage = z.infer<typeof Message>;

/**
 * The request body's schema under these limits, built once per limits object (the app's config):
 * zod compiles a schema on its first parse, which costs milliseconds, so a schema built per call
 * would cost that on every call.
 */
function bodySchema(limits: Limits) {
  let schema = bodySchemas.get(limits);
  if (!schema) bodySchemas.set(limits, (schema = buildBodySchema(limits)));
  return schema;
}
const bodySchemas = new WeakMap<Limits, ReturnType<typeof buildBodySchema>>();

function buildBodySchema(limits: Limits) {
  const tokens = z
    .number({ error: `must be an integer from 1 to ${limits.maxOutputTokens}` })
    .int(`must be an integer from 1 to ${limits.maxOutputTokens}`)
    .min(1, `must be an integer from 1 to ${limits.maxOutputTokens}`)
    .max(limits.maxOutputTokens, `must be an integer from 1 to ${limits.maxOutputTokens}`)
    .nullish();
  return z.looseObject({
    model: z.string({ error: 'must be a string' }).max(200, 'is too long').nullish(),
    messages: z
      .array(Message, { error: 'must be an array of messages' })
      .min(1, 'must not be empty')
      .max(limits.maxMessages, `must hold at most ${limits.maxMessages} messages`),
    max_tokens: tokens,
    max_completion_tokens: tokens,
    n: z.number({ error: 'must be an integer from 1 to 8' }).int().min(1).max(8).nullish(),
    temperature: z.number({ error: 'must be between 0 and 2' }).min(0).max(2).nullish(),
    stream: z.boolean({ error: 'must be true or false' }).nullish(),
  });
}

type Limits = Pick<Config, 'maxMessages' | 'maxPromptChars' | 'maxOutputTokens'>;

/** A request checked and read: what the pipeline decides on, and the body it forwards. */
export interface ValidRequest {
  /** A chat completion, or embeddings (one model, no completion, no routing). */
  kind: UsageKind;
  /** The model asked for, or "auto". */
  model: string;
  messages: ChatMessage[];
  /** Completion tokens per choice: the client's, or DEFAULT_MAX_TOKENS (then sent upstream as max_tokens). */
  maxTokens: number;
  /** Choices asked for (each may use maxTokens). */
  n: number;
  temperature: number | null;
  requestId: string | null;
  intent: string | null;
  requiresReasoning: boolean;
  /** The OpenAI request as the client sent it, with the default max_tokens added when it had none. */
  body: Record<string, unknown>;
  /** An embeddings request's prompt tokens by the tokenizer (0 for chat, whose estimate is made later). */
  inputTokens: number;
  /** The client's own request, when a door received it in another format. */
  native: NativeRequest | null;
}

/**
 * Refuses anything malformed before anything is touched, with a BAD_USER_INPUT naming the field
 * (`messages[2].role`); keeps the rest of the body as sent.
 */
export function validateRequest(request: CompletionRequest, limits: Limits): ValidRequest {
  const parsed = bodySchema(limits).safeParse(request.body);
  if (!parsed.success) throw badInput(parsed.error.issues[0]!);
  const body = parsed.data;
  const { max_tokens: maxTokens, max_completion_tokens: maxCompletion } = body;
  if (typeof maxTokens === 'number' && typeof maxCompletion === 'number' && maxTokens !== maxCompletion) {
    throw new BadInputError('max_tokens and max_completion_tokens differ: send one', 'max_completion_tokens');
  }
  let chars = 0;
  let anyContent = false;
  for (const message of body.messages) {
    const text = textOf(message);
    chars += text.length;
    anyContent ||= text.trim().length > 0 || (message.tool_calls?.length ?? 0) > 0 || hasNonTextPart(message);
  }
  if (chars > limits.maxPromptChars) {
    throw new BadInputError(`The prompt is longer than ${limits.maxPromptChars} characters`, 'messages');
  }
  if (!anyContent) throw new BadInputError('At least one message must have content', 'messages');
  const requestId = checkedRequestId(request.requestId ?? null);
  const intent = request.intent?.trim() || null;
  if (intent !== null && intent.length > 64) throw new BadInputError('intent is too long', 'intent');
  const cap = maxCompletion ?? maxTokens;
  return {
    kind: UsageKind.CHAT,
    model: body.model?.trim() || 'auto',
    messages: body.messages,
    maxTokens: cap ?? DEFAULT_MAX_TOKENS,
    n: body.n ?? 1,
    temperature: body.temperature ?? null,
    requestId,
    intent,
    requiresReasoning: request.requiresReasoning === true,
    // Tollgate's reservation assumes a cap: a body without one gets the default, said to the upstream.
    body: typeof cap === 'number' ? body : { ...body, max_tokens: DEFAULT_MAX_TOKENS },
    inputTokens: 0,
    native: request.native ?? null,
  };
}

/** OpenAI caps one embeddings request at 2,048 inputs. */
const MAX_EMBEDDING_INPUTS = 2048;

const embeddingsSchema = z.looseObject({
  model: z
    .string({ error: 'must name an embedding model' })
    .trim()
    .min(1, 'must name an embedding model')
    .max(200),
  input: z.unknown(),
  dimensions: z.number({ error: 'must be a positive integer' }).int().min(1).max(65_536).nullish(),
  encoding_format: z.enum(['float', 'base64'], { error: 'must be float or base64' }).nullish(),
  user: z.string({ error: 'must be a string' }).nullish(),
});

/**
 * An embeddings request checked and read, like a chat request: `model` (no "auto": an embedding
 * space is chosen, not routed), `input` in one of OpenAI's four shapes, non-empty texts; the rest
 * forwarded as sent.
 */
export function validateEmbeddingRequest(request: CompletionRequest, limits: Limits): ValidRequest {
  const parsed = embeddingsSchema.safeParse(request.body);
  if (!parsed.success) throw badInput(parsed.error.issues[0]!);
  const body = parsed.data;
  if (body.model === 'auto')
    throw new BadInputError('model must name an embedding model ("auto" routes chat only)', 'model');
  const items = embeddingItems(body.input);
  if (!items) {
    throw new BadInputError(
      'input must be a string, an array of strings, or an array (of arrays) of token ids',
      'input',
    );
  }
  if (items.length > MAX_EMBEDDING_INPUTS) {
    throw new BadInputError(`input must hold at most ${MAX_EMBEDDING_INPUTS} items`, 'input');
  }
  if (items.some((item) => item.length === 0))
    throw new BadInputError('input must not hold an empty item', 'input');
  const chars = items.reduce((n, item) => n + (typeof item === 'string' ? item.length : item.length * 4), 0);
  if (chars > limits.maxPromptChars) {
    throw new BadInputError(`The input is longer than ${limits.maxPromptChars} characters`, 'input');
  }
  const requestId = checkedRequestId(request.requestId ?? null);
  return {
    kind: UsageKind.EMBEDDING,
    model: body.model,
    messages: [],
    maxTokens: 0,
    n: 1,
    temperature: null,
    requestId,
    intent: null,
    requiresReasoning: false,
    body,
    inputTokens: embeddingTokens(items),
    native: null,
  };
}

/** The first thing wrong with a body, named by its path (`messages[2].role`). */
function badInput(issue: z.core.$ZodIssue): BadInputError {
  const path = issue.path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
  return new BadInputError(`${path || 'The body'} ${issue.message}`, String(issue.path[0] ?? 'body'));
}

function checkedRequestId(requestId: string | null): string | null {
  if (requestId !== null && !REQUEST_ID.test(requestId)) {
    throw new BadInputError('requestId must be 1-200 characters of A-Z a-z 0-9 . _ : @ -', 'requestId');
  }
  return requestId;
}

/** A message's text: its string content, or its text parts joined (what the classifier measures). */
export function textOf(message: Pick<ChatMessage, 'content'>): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function hasNonTextPart(message: ChatMessage): boolean {
  return Array.isArray(message.content) && message.content.some((part) => part.type !== 'text');
}
