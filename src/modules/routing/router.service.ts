import { BadInputError, UpstreamUnavailableError } from '../../shared/errors';
import { costOf, type Pico } from '../../shared/money';
import type { Catalog } from '../providers/catalog.service';
import { TIERS, type Model, type Tier } from '../providers/model.entity';

export interface RoutePlan {
  /** Null for an explicit model. */
  tier: Tier | null;
  /** Models to try, in order: the first, then its fallbacks. */
  chain: Model[];
}

/** Worst-case cost of a call on a model: the prompt estimate plus every allowed completion token. */
export function worstCase(model: Model, promptTokens: number, maxTokens: number): Pico {
  return costOf(promptTokens, maxTokens, { prompt: model.promptPrice, completion: model.completionPrice });
}

/**
 * Picks models. Explicit: exactly that model. Auto: the cheapest enabled model of the tier for
 * this call's tokens, ties broken round-robin (never at random), then the rest of the tier,
 * then cheaper tiers as fallbacks.
 */
export class RouterService {
  private readonly roundRobin = new Map<string, number>();

  plan(catalog: Catalog, requested: string, tier: Tier, promptTokens: number, maxTokens: number): RoutePlan {
    if (requested !== 'auto') {
      const model = catalog.models.get(requested);
      if (!model || !model.enabled) throw new BadInputError(`Unknown model "${requested}"`, 'model');
      return { tier: null, chain: [model] };
    }
    const byCost = (tierName: Tier) =>
      [...catalog.models.values()]
        .filter((m) => m.enabled && m.tiers.includes(tierName))
        .map((m) => ({ m, cost: worstCase(m, promptTokens, maxTokens) }))
        .sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : a.m.name.localeCompare(b.m.name)));
    const own = byCost(tier);
    if (own.length > 0 && own[1] && own[1].cost === own[0].cost) {
      const cheapest = own.filter((c) => c.cost === own[0].cost);
      const turn = this.roundRobin.get(tier) ?? 0;
      this.roundRobin.set(tier, turn + 1);
      const shift = turn % cheapest.length;
      own.splice(0, cheapest.length, ...cheapest.slice(shift), ...cheapest.slice(0, shift));
    }
    const chain = own.map((c) => c.m);
    for (const lower of TIERS.slice(0, TIERS.indexOf(tier)).reverse()) {
      for (const { m } of byCost(lower)) if (!chain.includes(m)) chain.push(m);
    }
    if (chain.length === 0) throw new UpstreamUnavailableError(`No model is configured for tier ${tier}`);
    return { tier, chain };
  }
}
