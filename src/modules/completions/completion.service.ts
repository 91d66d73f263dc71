import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { completionSeconds, completionsTotal } from '../../server/metrics';
import { DomainError, UpstreamError, UpstreamUnavailableError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { BudgetExceededError } from '../budgets/budget.errors';
import type { ReservationService } from '../budgets/reservation.service';
import type { GatewayLimiter } from '../limits/gateway-limiter';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Catalog, CatalogService } from '../providers/catalog.service';
import type { Model } from '../providers/model.entity';
import { UpstreamCallFailed, type CallResult, type UpstreamClient } from '../providers/upstream.client';
import { classify } from '../routing/classifier';
import { worstCase, type RoutePlan, type RouterService } from '../routing/router.service';
import type { CompletionRequest, CompletionResult } from './completion.types';
import { validateRequest, type ValidRequest } from './completion.validation';
import type { IdempotencyService } from './idempotency.service';
import { checkUsage, type Attempt, type CallContext, type CompletionLedger } from './completion.ledger';
import { countChatTokensAsync, countTextTokens } from './tokenizer';

export interface CompletionDeps {
  db: DataSource;
  config: Config;
  log: Logger;
  catalog: CatalogService;
  router: RouterService;
  limiter: GatewayLimiter;
  reservations: ReservationService;
  upstream: UpstreamClient;
  ledger: CompletionLedger;
  idempotency: IdempotencyService;
}

/** Where a streamed call's text goes, and how much of it there is so far. */
interface StreamSink {
  onDelta: (text: string) => void;
  text: string;
  tokens: number;
  /** Set when the stream reached maxTokens and was cut there. */
  capped: boolean;
  cut: AbortController;
}

class StreamCapReached extends Error {}

/**
 * The completion pipeline, in the order of SPEC.md: validate, idempotency, route, estimate,
 * rate-limit (before anything is reserved), reserve, call, settle, alert and publish.
 */
export class CompletionService {
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly d: CompletionDeps) {}

  create(who: KeyPrincipal, request: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    return measured(async () => {
      const req = validateRequest(request, this.d.config);
      return this.once(who, req, () => this.run(who, req, req.requestId ?? crypto.randomUUID(), signal));
    });
  }

  /**
   * The same call, streamed: `onDelta` gets each piece of text as the upstream produces it, and
   * the promise resolves with the settled result (usage and exact cost) at the end. A repeat of
   * a finished requestId replays its text as one piece. If the client goes away (`signal`), the
   * upstream request is aborted and the tokens produced so far are charged; a stream is cut at
   * maxTokens, so it never costs more than it reserved.
   */
  stream(
    who: KeyPrincipal,
    request: CompletionRequest,
    onDelta: (text: string) => void,
    signal?: AbortSignal,
    /** The id to record the call under when the request carries no requestId (a door that must name it first). */
    callId?: string,
  ): Promise<CompletionResult> {
    return measured(() => this.streamed(who, request, onDelta, signal, callId));
  }

  private async streamed(
    who: KeyPrincipal,
    request: CompletionRequest,
    onDelta: (text: string) => void,
    signal?: AbortSignal,
    callId?: string,
  ): Promise<CompletionResult> {
    const req = validateRequest(request, this.d.config);
    const cut = new AbortController();
    const sink: StreamSink = { text: '', tokens: 0, capped: false, cut, onDelta: () => undefined };
    sink.onDelta = (text) => {
      if (sink.capped) return;
      const tokens = countTextTokens(text);
      if (sink.tokens + tokens > req.maxTokens) {
        sink.capped = true;
        cut.abort(new StreamCapReached('maxTokens reached'));
        return;
      }
      sink.tokens += tokens;
      sink.text += text;
      onDelta(text);
    };
    const both = signal ? AbortSignal.any([signal, cut.signal]) : cut.signal;
    const result = await this.once(who, req, () =>
      this.run(who, req, req.requestId ?? callId ?? crypto.randomUUID(), both, sink),
    );
    if (result.replayed) onDelta(result.content);
    return result;
  }

  /** Runs `work` once per requestId (when one is given), and counts it as in flight. */
  private once(
    who: KeyPrincipal,
    req: ValidRequest,
    work: () => Promise<CompletionResult>,
  ): Promise<CompletionResult> {
    if (!req.requestId) return this.track(work);
    return this.d.idempotency.run(who.projectId, req.requestId, () => this.track(work));
  }

  /** What a call would reserve: the routed model, prompt tokens by the tokenizer, worst-case cost. */
  async estimate(who: KeyPrincipal, request: CompletionRequest) {
    const req = validateRequest(request, this.d.config);
    const catalog = await this.d.catalog.catalog(who.projectId);
    const promptTokens = await countChatTokensAsync(req.messages);
    const tier = classify(req, this.d.config.routingRules);
    const plan = this.d.router.plan(catalog, req.model, tier, promptTokens, req.maxTokens, false);
    const model = plan.chain[0];
    return {
      model: model.name,
      tier: plan.tier,
      promptTokens,
      maxTokens: req.maxTokens,
      worstCaseCost: worstCase(model, promptTokens, req.maxTokens),
    };
  }

  /** Resolves when no completion is in flight (graceful shutdown waits on it). */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  private async track<T>(fn: () => Promise<T>): Promise<T> {
    this.inflight++;
    try {
      return await fn();
    } finally {
      if (--this.inflight === 0 && this.drained) {
        this.drained();
        this.drained = undefined;
      }
    }
  }

  private async run(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    signal?: AbortSignal,
    sink?: StreamSink,
  ): Promise<CompletionResult> {
    const started = performance.now();
    const catalog = await this.d.catalog.catalog(who.projectId);
    const tier = classify(req, this.d.config.routingRules);
    const promptTokens = await countChatTokensAsync(req.messages);
    const plan = this.d.router.plan(catalog, req.model, tier, promptTokens, req.maxTokens);
    // Gateway key and project limits, before any reservation: a refused call holds nothing.
    const admission = await this.d.limiter.admit(who, promptTokens + req.maxTokens);
    let usedTokens = 0;
    try {
      const ctx: CallContext = {
        who,
        req,
        requestId,
        catalog,
        promptEstimate: promptTokens,
        tier: plan.tier,
        fallbacks: [],
        started,
        streamed: sink !== undefined,
      };
      const result = await this.callAlongChain(ctx, plan, signal, sink);
      usedTokens = result.totalTokens;
      return result;
    } finally {
      admission.settle(usedTokens);
    }
  }

  /** Calls the plan's first usable model; on an unavailable upstream, falls back along the chain. */
  private async callAlongChain(
    ctx: CallContext,
    plan: RoutePlan,
    signal?: AbortSignal,
    sink?: StreamSink,
  ): Promise<CompletionResult> {
    const { who, req, requestId, catalog, promptEstimate } = ctx;
    let index = this.nextUsable(catalog, plan.chain, 0);
    if (index < 0) {
      throw new UpstreamUnavailableError(
        `Model "${plan.chain[0].name}" is unavailable: its circuit is open or every upstream key failed`,
        { model: plan.chain[0].name },
      );
    }
    const reserve = (model: Model) =>
      this.reserveFor(who, requestId, model, catalog, promptEstimate, req.maxTokens);
    let attempt = await reserve(plan.chain[index]);
    for (;;) {
      const provider = catalog.providers.get(attempt.model.providerId);
      let call: CallResult;
      try {
        if (!provider) throw new Error(`model ${attempt.model.name} has no provider`);
        call = await this.d.upstream.call({
          provider,
          model: attempt.model,
          messages: req.messages,
          maxTokens: req.maxTokens,
          temperature: req.temperature,
          signal,
          onDelta: sink?.onDelta,
          fallbackOnTimeout: !attempt.downgraded && this.nextUsable(catalog, plan.chain, index + 1) >= 0,
        });
        if (call.reply.usage && !checkUsage(call.reply.usage)) {
          const refused = new UpstreamError('Upstream reported inconsistent token usage', {
            provider: provider.name,
          });
          throw new UpstreamCallFailed(refused, call.attempts, call.upstreamLatencyMs, true);
        }
      } catch (error) {
        if (sink && sink.text.length > 0) return this.settlePartial(ctx, attempt, sink, signal, error);
        await this.d.ledger.recordFailure(ctx, attempt, error, provider?.name);
        const retryable = error instanceof UpstreamCallFailed && error.error.code === 'UPSTREAM_UNAVAILABLE';
        const next = retryable && !attempt.downgraded ? this.nextUsable(catalog, plan.chain, index + 1) : -1;
        if (next < 0) throw error instanceof UpstreamCallFailed ? error.error : error;
        ctx.fallbacks.push(attempt.model.name);
        index = next;
        attempt = await reserve(plan.chain[index]);
        continue;
      }
      // A stream cut at maxTokens may still have been read to its end: charge what was passed on.
      if (sink?.capped) return this.settlePartial(ctx, attempt, sink, signal, null, call);
      return this.d.ledger.settle(ctx, attempt, call);
    }
  }

  /**
   * A stream that ended after text reached the client: cut at maxTokens (a success, finish
   * reason "length"), abandoned by the client (CANCELLED), or broken upstream (UPSTREAM_ERROR).
   * Either way the tokens produced are charged, counted by the tokenizer.
   */
  private async settlePartial(
    ctx: CallContext,
    attempt: Attempt,
    sink: StreamSink,
    signal: AbortSignal | undefined,
    error: unknown,
    call?: CallResult,
  ): Promise<CompletionResult> {
    const failed = error instanceof UpstreamCallFailed ? error : null;
    const outcome = sink.capped ? 'SUCCESS' : signal?.aborted ? 'CANCELLED' : 'UPSTREAM_ERROR';
    const result = await this.d.ledger.settle(
      ctx,
      attempt,
      {
        reply: {
          content: sink.text,
          finishReason: sink.capped ? 'length' : outcome === 'CANCELLED' ? 'cancelled' : 'error',
          model: attempt.model.upstreamName,
          usage: null,
        },
        attempts: call?.attempts ?? failed?.attempts ?? 1,
        upstreamLatencyMs:
          call?.upstreamLatencyMs ?? failed?.upstreamLatencyMs ?? Math.round(performance.now() - ctx.started),
      },
      outcome,
    );
    if (outcome === 'SUCCESS') return result;
    throw failed ? failed.error : error;
  }

  /** The first model of the chain from `from` on that routing may still use (health changes mid-call). */
  private nextUsable(catalog: Catalog, chain: Model[], from: number): number {
    for (let i = from; i < chain.length; i++) if (this.d.router.isUsable(catalog, chain[i])) return i;
    return -1;
  }

  /** Holds the worst-case cost; under a DOWNGRADE budget, falls to the cheapest model that fits. */
  private async reserveFor(
    who: KeyPrincipal,
    requestId: string,
    model: Model,
    catalog: Catalog,
    promptTokens: number,
    maxTokens: number,
  ): Promise<Attempt> {
    const estimate = worstCase(model, promptTokens, maxTokens);
    try {
      return {
        model,
        hold: await this.d.reservations.reserve(who.projectId, who.keyId, requestId, estimate),
        downgraded: false,
      };
    } catch (error) {
      if (!(error instanceof BudgetExceededError) || error.shortfall.policy !== 'DOWNGRADE') throw error;
      const cheaper = [...catalog.models.values()]
        .filter((m) => m.enabled && m !== model && this.d.router.isUsable(catalog, m))
        .map((m) => ({ m, cost: worstCase(m, promptTokens, maxTokens) }))
        .filter((c) => c.cost < estimate)
        .sort((a, b) => (a.cost < b.cost ? -1 : a.cost > b.cost ? 1 : 0));
      for (const { m, cost } of cheaper) {
        try {
          return {
            model: m,
            hold: await this.d.reservations.reserve(who.projectId, who.keyId, requestId, cost),
            downgraded: true,
          };
        } catch (inner) {
          if (!(inner instanceof BudgetExceededError)) throw inner;
          if (inner.shortfall.policy !== 'DOWNGRADE') throw inner;
        }
      }
      throw error;
    }
  }
}

/**
 * Counts a call by outcome (SUCCESS, REPLAYED, or the error code it was answered with) on
 * `tollgate_completions_total`, and times the successful ones on `tollgate_completion_seconds`.
 */
async function measured(call: () => Promise<CompletionResult>): Promise<CompletionResult> {
  const started = performance.now();
  try {
    const result = await call();
    completionsTotal.inc({ outcome: result.replayed ? 'REPLAYED' : 'SUCCESS' });
    if (!result.replayed) completionSeconds.observe((performance.now() - started) / 1000);
    return result;
  } catch (error) {
    completionsTotal.inc({ outcome: error instanceof DomainError ? error.code : 'INTERNAL_SERVER_ERROR' });
    throw error;
  }
}
