import type { Tier } from '../providers/model.entity';
import type { ChatMessage } from '../providers/upstream.types';

export interface ClassifierRules {
  /** Simple: at most this many messages... */
  simpleMaxMessages: number;
  /** ...none longer than this many characters. */
  simpleMaxMessageChars: number;
  /** Complex: more than this many messages... */
  complexOverMessages: number;
  /** ...or more than this many characters of context in all. */
  complexOverContextChars: number;
  /** Intents that are simple whatever their size. */
  simpleIntents: string[];
}

/** The reference article's thresholds. */
export const DEFAULT_RULES: ClassifierRules = {
  simpleMaxMessages: 2,
  simpleMaxMessageChars: 500,
  complexOverMessages: 5,
  complexOverContextChars: 2000,
  simpleIntents: ['classification', 'extraction'],
};

export interface ClassifyInput {
  messages: readonly ChatMessage[];
  intent?: string | null;
  requiresReasoning?: boolean | null;
}

/**
 * Simple / moderate / complex. Explicit flags win over heuristics: `requiresReasoning` is always
 * complex, a simple intent is simple; then size decides.
 */
export function classify(input: ClassifyInput, rules: ClassifierRules = DEFAULT_RULES): Tier {
  if (input.requiresReasoning) return 'COMPLEX';
  if (input.intent && rules.simpleIntents.includes(input.intent.toLowerCase())) return 'SIMPLE';
  const context = input.messages.reduce((n, m) => n + m.content.length, 0);
  if (input.messages.length > rules.complexOverMessages || context > rules.complexOverContextChars)
    return 'COMPLEX';
  if (
    input.messages.length <= rules.simpleMaxMessages &&
    input.messages.every((m) => m.content.length <= rules.simpleMaxMessageChars)
  ) {
    return 'SIMPLE';
  }
  return 'MODERATE';
}
