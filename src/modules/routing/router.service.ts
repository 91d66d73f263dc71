import { BadInputError, UpstreamUnavailableError } from '../../shared/errors';
import { costOf, type Pico } from '../../shared/money';
import type { Catalog } from '../providers/catalog.service';
import { TIERS, type Model, type Tier } from '../providers/model.entity';
import type { Provider } from '../providers/provider.entity';

export interface RoutePlan {
  /** Null for an explicit model. */
  tier: Tier | null;
  /** Models to try, in order: the first, then its fallbacks. */
  chain: Model[];
}

/** What the router asks about a model before choosing it (the upstream client answers). */
export interface ModelHealth {
  /** Its circuit lets calls through and one of its provider's keys is usable. */
  isHealthy(provider: Provider, model: Model): boolean;
  /** A request could start on its provider right now (free slot, RPM token). */
  hasCapacity(provider: Provider): boolean;
}

/**
 * One step of the fallback chain after the first choice: `tier` (the rest of the tier,
 * cheapest first), `cheaper` (each cheaper tier in turn, cheapest first), or one named model.
 */
export type FallbackStep = { kind: 'tier' } | { kind: 'cheaper' } | { kind: 'model'; name: string };

export const DEFAULT_FALLBACK: readonly FallbackStep[] = [{ kind: 'tier' }, { kind: 'cheaper' }];

/**
 * Parses TOLLGATE_FALLBACK_CHAIN: comma-separated `tier`, `cheaper`, `model:NAME`, or `none`
 * (no fallback). Throws with the reason on anything else.
 */
export function parseFallbackChain(raw: string): FallbackStep[] {
  const parts = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 1 && parts[0] === 'none') return [];
  return parts.map((part) => {
    if (part === 'tier' || part === 'cheaper') return { kind: part };
    const model = /^model:(.+)$/.exec(part)?.[1];
    if (model) return { kind: 'model', name: model.trim() };
    throw new Error(`unknown fallback step "${part}" (use tier, cheaper, model:NAME or none)`);
  });
}

/** Worst-case cost of a call on a model: the prompt estimate plus every allowed completion token. */
export function worstCase(model: Model, promptTokens: number, maxTokens: number): Pico {
  return costOf(promptTokens, maxTokens, { prompt: model.promptPrice, completion: model.completionPrice });
}

const ALWAYS_HEALTHY: ModelHealth = { isHealthy: () => true, hasCapacity: () => true };

/**
 * Picks models. Explicit: exactly that model, never another. Auto: the cheapest healthy model
 * of the tier for this call's tokens, preferring one whose provider has capacity now, ties
 * taken in turn (round robin, never at random); then the fallback chain, unhealthy models left out.
 */
export class RouterService {
  private readonly turns = new Map<Tier, number>();

  constructor(
    private readonly health: ModelHealth = ALWAYS_HEALTHY,
    private readonly fallback: readonly FallbackStep[] = DEFAULT_FALLBACK,
  ) {}

  /** `advance: false` (estimates) leaves the round-robin turn where it is. */
  plan(
    catalog: Catalog,
    requested: string,
    tier: Tier,
    promptTokens: number,
    maxTokens: number,
    advance = true,
  ): RoutePlan {
    if (requested !== 'auto') return { tier: null, chain: [this.named(catalog, requested)] };
    const ranked = (t: Tier) =>
      [...catalog.models.values()]
        .filter((m) => m.enabled && m.tiers.includes(t))
        .map((m) => ({ m, cost: worstCase(m, promptTokens, maxTokens) }))
        .sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : a.m.name.localeCompare(b.m.name)));
    const healthy = (m: Model) => {
      const provider = catalog.providers.get(m.providerId);
      return provider !== undefined && this.health.isHealthy(provider, m);
    };
    const configured = ranked(tier);
    const own = configured.filter((c) => healthy(c.m));

    const chain: Model[] = [];
    const push = (m: Model) => {
      if (!chain.includes(m) && healthy(m)) chain.push(m);
    };
    const first = this.first(catalog, tier, own, advance);
    if (first) chain.push(first);
    for (const step of this.fallback) {
      if (step.kind === 'tier') own.forEach((c) => push(c.m));
      else if (step.kind === 'cheaper') {
        for (const lower of TIERS.slice(0, TIERS.indexOf(tier)).reverse())
          ranked(lower).forEach((c) => push(c.m));
      } else {
        const named = catalog.models.get(step.name);
        if (named?.enabled) push(named);
      }
    }
    if (chain.length === 0) {
      throw new UpstreamUnavailableError(
        configured.length === 0
          ? `No model is configured for tier ${tier}`
          : `No healthy model for tier ${tier}: every circuit is open or every upstream key failed`,
        { tier },
      );
    }
    return { tier, chain };
  }

  /** The model a call names: exactly that one, enabled, or a BAD_USER_INPUT naming it. */
  named(catalog: Catalog, name: string): Model {
    const model = catalog.models.get(name);
    if (!model || !model.enabled) throw new BadInputError(`Unknown model "${name}"`, 'model');
    return model;
  }

  /**
   * The enabled chat models routing may send to now, whatever their tier (what a DOWNGRADE may
   * move a call to): a model in no tier (an embedding model, or one kept for explicit calls) is
   * never a call's replacement.
   */
  healthyModels(catalog: Catalog): Model[] {
    return [...catalog.models.values()].filter(
      (m) => m.enabled && m.tiers.length > 0 && this.isUsable(catalog, m),
    );
  }

  /** True when routing may still send to this model (re-checked before each fallback). */
  isUsable(catalog: Catalog, model: Model): boolean {
    const provider = catalog.providers.get(model.providerId);
    return provider !== undefined && this.health.isHealthy(provider, model);
  }

  /** The cheapest of the tier's healthy models, preferring those with capacity; ties in turn. */
  private first(
    catalog: Catalog,
    tier: Tier,
    own: { m: Model; cost: Pico }[],
    advance: boolean,
  ): Model | undefined {
    const withCapacity = own.filter((c) => {
      const provider = catalog.providers.get(c.m.providerId);
      return provider !== undefined && this.health.hasCapacity(provider);
    });
    const pool = withCapacity.length > 0 ? withCapacity : own;
    const cheapest = pool[0];
    if (!cheapest) return undefined;
    const ties = pool.filter((c) => c.cost === cheapest.cost);
    if (ties.length === 1) return cheapest.m;
    const turn = this.turns.get(tier) ?? 0;
    if (advance) this.turns.set(tier, turn + 1);
    return ties[turn % ties.length]!.m;
  }
}
