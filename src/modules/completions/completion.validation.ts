import type { Config } from '../../config';
import { BadInputError } from '../../shared/errors';
import { CHAT_ROLES, type ChatMessage } from '../upstream/upstream.types';
import type { CompletionRequest } from './completion.types';

export const DEFAULT_MAX_TOKENS = 1024;
const REQUEST_ID = /^[A-Za-z0-9._:@-]{1,200}$/;

export interface ValidRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number | null;
  requestId: string | null;
  intent: string | null;
  requiresReasoning: boolean;
}

type Limits = Pick<Config, 'maxMessages' | 'maxPromptChars' | 'maxOutputTokens'>;

/** Checks a request before anything is touched; every refusal is a BAD_USER_INPUT naming the field. */
export function validateRequest(req: CompletionRequest, limits: Limits): ValidRequest {
  const messages = req.messages;
  if (!Array.isArray(messages) || messages.length === 0)
    throw new BadInputError('messages must not be empty', 'messages');
  if (messages.length > limits.maxMessages) {
    throw new BadInputError(`At most ${limits.maxMessages} messages are allowed`, 'messages');
  }
  let chars = 0;
  const clean: ChatMessage[] = messages.map((m, i) => {
    if (!CHAT_ROLES.includes(m.role)) {
      throw new BadInputError(`messages[${i}].role must be one of ${CHAT_ROLES.join(', ')}`, 'messages');
    }
    if (typeof m.content !== 'string')
      throw new BadInputError(`messages[${i}].content must be text`, 'messages');
    chars += m.content.length;
    if (m.name !== undefined && m.name !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(m.name)) {
      throw new BadInputError(`messages[${i}].name must be 1-64 letters, digits, _ or -`, 'messages');
    }
    return m.name ? { role: m.role, content: m.content, name: m.name } : { role: m.role, content: m.content };
  });
  if (chars > limits.maxPromptChars) {
    throw new BadInputError(`The prompt is longer than ${limits.maxPromptChars} characters`, 'messages');
  }
  if (!clean.some((m) => m.content.trim().length > 0)) {
    throw new BadInputError('At least one message must have content', 'messages');
  }
  const maxTokens = req.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > limits.maxOutputTokens) {
    throw new BadInputError(`maxTokens must be an integer from 1 to ${limits.maxOutputTokens}`, 'maxTokens');
  }
  const temperature = req.temperature ?? null;
  if (temperature !== null && !(Number.isFinite(temperature) && temperature >= 0 && temperature <= 2)) {
    throw new BadInputError('temperature must be between 0 and 2', 'temperature');
  }
  const model = (req.model ?? 'auto').trim() || 'auto';
  if (model.length > 200) throw new BadInputError('model is too long', 'model');
  const requestId = req.requestId ?? null;
  if (requestId !== null && !REQUEST_ID.test(requestId)) {
    throw new BadInputError('requestId must be 1-200 characters of A-Z a-z 0-9 . _ : @ -', 'requestId');
  }
  const intent = req.intent?.trim() || null;
  if (intent !== null && intent.length > 64) throw new BadInputError('intent is too long', 'intent');
  return {
    model,
    messages: clean,
    maxTokens,
    temperature,
    requestId,
    intent,
    requiresReasoning: req.requiresReasoning === true,
  };
}
