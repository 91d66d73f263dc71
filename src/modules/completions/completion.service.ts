import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Config } from '../../config';
import { UpstreamError, UpstreamUnavailableError, type DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { costOf, type Pico } from '../../shared/money';
import type { Alert } from '../alerts/alert.entity';
import type { AlertService } from '../alerts/alert.service';
import type { EventBus } from '../alerts/event-bus';
import type { WebhookWorker } from '../alerts/webhook.worker';
import { BudgetExceededError } from '../budgets/budget.errors';
import type { MetricsPublisher } from '../budgets/metrics.publisher';
import type { Hold, ReservationService } from '../budgets/reservation.service';
import type { GatewayLimiter } from '../limits/gateway-limiter';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Catalog, CatalogService } from '../providers/catalog.service';
import type { Model } from '../providers/model.entity';
import { UpstreamCallFailed, type CallResult, type UpstreamClient } from '../providers/upstream.client';
import type { UpstreamUsage } from '../providers/upstream.types';
import { classify } from '../routing/classifier';
import { worstCase, type RoutePlan, type RouterService } from '../routing/router.service';
import type { UsageService } from '../usage/usage.service';
import type { CompletionRequest, CompletionResult } from './completion.types';
import { validateRequest, type ValidRequest } from './completion.validation';
import type { IdempotencyService } from './idempotency.service';
import { countChatTokens, countTextTokens } from './tokenizer';

export interface CompletionDeps {
  db: DataSource;
  config: Config;
  log: Logger;
  catalog: CatalogService;
  router: RouterService;
  limiter: GatewayLimiter;
  reservations: ReservationService;
  upstream: UpstreamClient;
  usage: UsageService;
  alerts: AlertService;
  idempotency: IdempotencyService;
  metrics: MetricsPublisher;
  bus: EventBus;
  webhooks: WebhookWorker;
}

interface Attempt {
  model: Model;
  hold: Hold;
  downgraded: boolean;
}

/**
 * The completion pipeline, in the order of SPEC.md: validate, idempotency, route, estimate,
 * rate-limit (before anything is reserved), reserve, call, settle, alert and publish.
 */
export class CompletionService {
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly d: CompletionDeps) {}

  async create(
    who: KeyPrincipal,
    request: CompletionRequest,
    signal?: AbortSignal,
  ): Promise<CompletionResult> {
    const req = validateRequest(request, this.d.config);
    if (!req.requestId) return this.track(() => this.run(who, req, crypto.randomUUID(), signal));
    const requestId = req.requestId;
    return this.d.idempotency.run(who.projectId, requestId, () =>
      this.track(() => this.run(who, req, requestId, signal)),
    );
  }

  /** What a call would reserve: the routed model, prompt tokens by the tokenizer, worst-case cost. */
  async estimate(who: KeyPrincipal, request: CompletionRequest) {
    const req = validateRequest(request, this.d.config);
    const catalog = await this.d.catalog.catalog(who.projectId);
    const promptTokens = countChatTokens(req.messages);
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
  ): Promise<CompletionResult> {
    const started = performance.now();
    const catalog = await this.d.catalog.catalog(who.projectId);
    const tier = classify(req, this.d.config.routingRules);
    const promptTokens = countChatTokens(req.messages);
    const plan = this.d.router.plan(catalog, req.model, tier, promptTokens, req.maxTokens);
    // Gateway key and project limits, before any reservation: a refused call holds nothing.
    const admission = await this.d.limiter.admit(who, promptTokens + req.maxTokens);
    let usedTokens = 0;
    try {
      const result = await this.callAlongChain(
        who,
        req,
        requestId,
        plan,
        catalog,
        promptTokens,
        started,
        signal,
      );
      usedTokens = result.totalTokens;
      return result;
    } finally {
      admission.settle(usedTokens);
    }
  }

  /** Calls the plan's first usable model; on an unavailable upstream, falls back along the chain. */
  private async callAlongChain(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    plan: RoutePlan,
    catalog: Catalog,
    promptTokens: number,
    started: number,
    signal?: AbortSignal,
  ): Promise<CompletionResult> {
    const fallbacks: string[] = [];
    let index = this.nextUsable(catalog, plan.chain, 0);
    if (index < 0) {
      throw new UpstreamUnavailableError(
        `Model "${plan.chain[0].name}" is unavailable: its circuit is open or every upstream key failed`,
        { model: plan.chain[0].name },
      );
    }
    let attempt = await this.reserveFor(
      who,
      requestId,
      plan.chain[index],
      catalog,
      promptTokens,
      req.maxTokens,
    );
    for (;;) {
      const provider = catalog.providers.get(attempt.model.providerId);
      let call: CallResult;
      try {
        if (!provider) throw new Error(`model ${attempt.model.name} has no provider`);
        call = await this.d.upstream.call(
          provider,
          attempt.model,
          req.messages,
          req.maxTokens,
          req.temperature,
          signal,
        );
        if (call.reply.usage && !checkUsage(call.reply.usage)) {
          const refused = new UpstreamError('Upstream reported inconsistent token usage', {
            provider: provider.name,
          });
          throw new UpstreamCallFailed(refused, call.attempts, call.upstreamLatencyMs, true);
        }
      } catch (error) {
        await this.recordFailure(
          who,
          req,
          requestId,
          attempt,
          plan.tier,
          fallbacks,
          error,
          started,
          provider?.name,
        );
        const retryable = error instanceof UpstreamCallFailed && error.error.code === 'UPSTREAM_UNAVAILABLE';
        const next = retryable && !attempt.downgraded ? this.nextUsable(catalog, plan.chain, index + 1) : -1;
        if (next < 0) throw error instanceof UpstreamCallFailed ? error.error : error;
        fallbacks.push(attempt.model.name);
        index = next;
        attempt = await this.reserveFor(
          who,
          requestId,
          plan.chain[index],
          catalog,
          promptTokens,
          req.maxTokens,
        );
        continue;
      }
      return this.settle(
        who,
        req,
        requestId,
        attempt,
        call,
        catalog,
        promptTokens,
        plan.tier,
        fallbacks,
        started,
      );
    }
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
        .filter((m) => m.enabled && m !== model)
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

  private async settle(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    attempt: Attempt,
    call: CallResult,
    catalog: Catalog,
    promptEstimate: number,
    tier: CompletionResult['tier'],
    fallbacks: string[],
    started: number,
  ): Promise<CompletionResult> {
    const { reply } = call;
    const usage = checkUsage(reply.usage) ?? {
      promptTokens: promptEstimate,
      completionTokens: countTextTokens(reply.content),
      totalTokens: promptEstimate + countTextTokens(reply.content),
    };
    const served = servedModel(catalog, attempt.model, reply.model);
    const cost: Pico = served
      ? costOf(usage.promptTokens, usage.completionTokens, {
          prompt: served.promptPrice,
          completion: served.completionPrice,
        })
      : 0n;
    if (!served)
      this.d.log.warn(
        { model: reply.model, requestId },
        'upstream served a model with no price; recorded at $0 and flagged',
      );
    const latencyMs = Math.round(performance.now() - started);
    const now = new Date();
    const { record, alerts } = await this.d.db.transaction(async (em) => {
      const counters = await this.d.reservations.settle(em, attempt.hold, {
        cost,
        promptTokens: usage.promptTokens,
        completionTokens: usage.completionTokens,
        countRequest: true,
      });
      const record = await this.d.usage.insert(em, {
        projectId: who.projectId,
        apiKeyId: who.keyId,
        requestId,
        modelRequested: req.model,
        modelServed: served?.name ?? reply.model,
        provider: catalog.providers.get(attempt.model.providerId)?.name ?? 'unknown',
        routeTier: tier,
        promptTokens: usage.promptTokens,
        completionTokens: usage.completionTokens,
        cost,
        priced: served !== null,
        gatewayLatencyMs: latencyMs,
        upstreamLatencyMs: call.upstreamLatencyMs,
        attempts: call.attempts,
        outcome: 'SUCCESS',
        errorCode: null,
        fallbacks,
        downgraded: attempt.downgraded,
      });
      const alerts = await this.d.alerts.evaluate(em, who.projectId, counters, now);
      return { record, alerts };
    });
    this.announce(who.projectId, attempt.hold, alerts);
    return {
      id: record.id,
      requestId,
      modelRequested: req.model,
      model: served?.name ?? reply.model,
      provider: catalog.providers.get(attempt.model.providerId)?.name ?? 'unknown',
      content: reply.content,
      finishReason: reply.finishReason,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      totalTokens: usage.promptTokens + usage.completionTokens,
      cost,
      priced: served !== null,
      latencyMs,
      upstreamLatencyMs: call.upstreamLatencyMs,
      attempts: call.attempts,
      tier,
      fallbacks,
      downgraded: attempt.downgraded,
      replayed: false,
      createdAt: record.createdAt,
    };
  }

  /** Releases the hold of a failed attempt and, when the upstream was reached, records it at $0. */
  private async recordFailure(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    attempt: Attempt,
    tier: CompletionResult['tier'],
    fallbacks: string[],
    error: unknown,
    started: number,
    provider: string | undefined,
  ): Promise<void> {
    const failed = error instanceof UpstreamCallFailed ? error : null;
    await this.d.db.transaction(async (em) => {
      await this.d.reservations.release(attempt.hold, em);
      if (!failed?.reached) return;
      await this.d.usage.insert(em, {
        projectId: who.projectId,
        apiKeyId: who.keyId,
        requestId,
        modelRequested: req.model,
        modelServed: attempt.model.name,
        provider: provider ?? 'unknown',
        routeTier: tier,
        promptTokens: 0,
        completionTokens: 0,
        cost: 0n,
        priced: true,
        gatewayLatencyMs: Math.round(performance.now() - started),
        upstreamLatencyMs: failed.upstreamLatencyMs,
        attempts: failed.attempts,
        outcome: 'UPSTREAM_ERROR',
        errorCode: (failed.error as DomainError).code,
        fallbacks: [...fallbacks],
        downgraded: attempt.downgraded,
      });
    });
    if (!failed) this.d.log.error({ err: error, requestId }, 'completion failed');
  }

  private announce(projectId: string, hold: Hold, alerts: Alert[]): void {
    if (hold.budgets.length > 0) this.d.metrics.touch(projectId);
    for (const alert of alerts) this.d.bus.publish('alert', { projectId, alertId: alert.id });
    if (alerts.length > 0) this.d.webhooks.nudge();
  }
}

/** Usage as the upstream reported it when sane (total = prompt + completion, whole, not negative); else null. */
function checkUsage(usage: UpstreamUsage | null): UpstreamUsage | null {
  if (!usage) return null;
  const { promptTokens: p, completionTokens: c, totalTokens: t } = usage;
  const ok = [p, c, t].every((n) => Number.isInteger(n) && n >= 0) && t === p + c;
  return ok ? usage : null;
}

/**
 * The catalog model that actually served: the one asked when the upstream echoes its name (or
 * a dated snapshot of it), another catalog model when the upstream names that one, else null
 * (unpriced, flagged; never priced as another model).
 */
function servedModel(catalog: Catalog, asked: Model, reported: string): Model | null {
  if (
    reported === asked.upstreamName ||
    reported === asked.name ||
    reported.startsWith(`${asked.upstreamName}-`)
  ) {
    return asked;
  }
  for (const model of catalog.models.values()) {
    if (model.providerId === asked.providerId && (model.upstreamName === reported || model.name === reported))
      return model;
  }
  return null;
}
