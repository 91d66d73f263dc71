import type { Model } from './model.entity';
import type { Provider } from './provider.entity';

/** Models whose prompts our tokenizer (o200k_base) counts as their upstream does, give or take framing. */
const OWN_TOKENIZER = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-|text-embedding-3)/;

/** Margin for OpenAI models: our count is theirs up to the chat framing. */
export const NATIVE_MARGIN = 0.05;
/**
 * Margin for every other model: other tokenizers count the same English text differently, Claude's
 * up to about a third more than o200k_base; 35% covers that.
 */
export const FOREIGN_MARGIN = 0.35;

/** How fast the learned ratio follows new observations, and how many deviations it keeps above the mean. */
const ALPHA = 0.2;
const DEVIATIONS = 3;
/** Estimates smaller than this say too little about a tokenizer's ratio to learn from. */
const MIN_SAMPLE_TOKENS = 20;

/** The margin a model gets when its own is not set. */
export function defaultMargin(model: Pick<Model, 'upstreamName'>, provider: Pick<Provider, 'kind'>): number {
  if (provider.kind === 'SIMULATED') return 0; // it counts with our tokenizer
  return OWN_TOKENIZER.test(model.upstreamName) ? NATIVE_MARGIN : FOREIGN_MARGIN;
}

/**
 * How many prompt tokens to reserve for a call: our estimate times (1 + the model's margin), or
 * more when the upstream has been seen counting more than that (the ratio of what it reported to
 * what we estimated, learned per model: its moving mean plus three moving deviations), so a
 * tokenizer that drifts widens the reservation by itself. Learned per instance, from every settle
 * whose upstream reported its usage.
 */
export class PromptMargins {
  private readonly learned = new Map<string, { mean: number; deviation: number }>();

  /** The factor the estimate is multiplied by for this model. */
  factor(model: Model, provider: Pick<Provider, 'kind'>): number {
    const configured = 1 + (model.promptMargin ?? defaultMargin(model, provider));
    const seen = this.learned.get(model.id);
    return seen ? Math.max(configured, seen.mean + DEVIATIONS * seen.deviation) : configured;
  }

  reservedPromptTokens(model: Model, provider: Pick<Provider, 'kind'>, estimate: number): number {
    return Math.ceil(estimate * this.factor(model, provider));
  }

  /** Learns from a settle: the upstream counted `actual` prompt tokens where we estimated `estimate`. */
  observe(model: Model, estimate: number, actual: number): void {
    if (estimate < MIN_SAMPLE_TOKENS || actual <= 0) return;
    const ratio = actual / estimate;
    const seen = this.learned.get(model.id);
    if (!seen) {
      this.learned.set(model.id, { mean: ratio, deviation: 0 });
      return;
    }
    seen.deviation = (1 - ALPHA) * seen.deviation + ALPHA * Math.abs(ratio - seen.mean);
    seen.mean = (1 - ALPHA) * seen.mean + ALPHA * ratio;
  }
}
