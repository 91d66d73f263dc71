import { z } from 'zod';
import { describeIssues } from '../../shared/zod';
import type { Tier } from '../providers/model.entity';

export interface ClassifierRules {
  /** Simple: at most this many messages... */
  simpleMaxMessages: number;
  /** ...none longer than this many characters. */
  simpleMaxMessageChars: number;
  /** Complex: more than this many messages... */
  complexOverMessages: number;
  /** ...or more than this many characters of context in all. */
  complexOverContextChars: number;
  /** Intents that are simple whatever their size (lower case). */
  simpleIntents: string[];
  /** Intents that are complex whatever their size (lower case). */
  complexIntents: string[];
}

/** The reference article's thresholds. */
export const DEFAULT_RULES: ClassifierRules = {
  simpleMaxMessages: 2,
  simpleMaxMessageChars: 500,
  complexOverMessages: 5,
  complexOverContextChars: 2000,
  simpleIntents: ['classification', 'extraction'],
  complexIntents: [],
};

const WHOLE = 'must be a whole number >= 0';
const count = z.number({ error: WHOLE }).int(WHOLE).min(0, WHOLE);
const intents = z
  .array(
    z.string().trim().min(1, 'must be an array of non-empty strings'),
    'must be an array of non-empty strings',
  )
  .transform((list) => list.map((v) => v.toLowerCase()));

/** TOLLGATE_ROUTING_RULES (and a configuration file's `routing.rules`): any of the rules, nothing else. */
export const RulesInput = z
  .strictObject(
    {
      simpleMaxMessages: count,
      simpleMaxMessageChars: count,
      complexOverMessages: count,
      complexOverContextChars: count,
      simpleIntents: intents,
      complexIntents: intents,
    },
    'routing rules must be a JSON object',
  )
  .partial();

/**
 * Reads TOLLGATE_ROUTING_RULES: a JSON object whose fields replace the defaults' (unnamed ones
 * keep theirs). Throws with the reason on unknown fields, wrong types or contradictory rules.
 */
export function parseRoutingRules(raw: string, base: ClassifierRules = DEFAULT_RULES): ClassifierRules {
  let input: unknown;
  try {
    input = JSON.parse(raw);
  } catch {
    throw new Error('routing rules must be a JSON object');
  }
  const parsed = RulesInput.safeParse(input);
  if (!parsed.success) throw new Error(describeIssues(parsed.error));
  return mergeRoutingRules(parsed.data, base);
}

/** Rules given over `base`; throws with the reason when they contradict each other. */
export function mergeRoutingRules(
  given: z.output<typeof RulesInput>,
  base: ClassifierRules = DEFAULT_RULES,
): ClassifierRules {
  const rules: ClassifierRules = { ...base, ...given };
  if (rules.simpleMaxMessages > rules.complexOverMessages) {
    throw new Error('simpleMaxMessages must not exceed complexOverMessages');
  }
  const both = rules.simpleIntents.filter((i) => rules.complexIntents.includes(i));
  if (both.length > 0) throw new Error(`intent(s) both simple and complex: ${both.join(', ')}`);
  return rules;
}

export interface ClassifyInput {
  /** The messages' text (each message's string content, or its text parts joined). */
  messages: readonly { content: string }[];
  intent?: string | null;
  requiresReasoning?: boolean | null;
}

/**
 * Simple / moderate / complex. Explicit flags win over heuristics: `requiresReasoning` is always
 * complex, a simple intent is simple, a complex intent complex; then size decides.
 */
export function classify(input: ClassifyInput, rules: ClassifierRules = DEFAULT_RULES): Tier {
  if (input.requiresReasoning) return 'COMPLEX';
  const intent = input.intent?.trim().toLowerCase();
  if (intent && rules.simpleIntents.includes(intent)) return 'SIMPLE';
  if (intent && rules.complexIntents.includes(intent)) return 'COMPLEX';
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
