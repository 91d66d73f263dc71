import crypto from 'node:crypto';
import type { Config } from '../../config';
import { DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { completionSeconds, completionsTotal } from '../../shared/metrics';
import type { ReservationService } from '../budgets/reservation.service';
import type { GatewayLimiter } from '../limits/gateway-limiter';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Catalog, CatalogService } from '../providers/catalog.service';
import type { Tier } from '../providers/model.entity';
import { classify } from '../routing/classifier';
import { worstCase, type RoutePlan, type RouterService } from '../routing/router.service';
import type { AttemptLoop } from './attempt-loop';
import type { CompletionRequest, CompletionResult } from './completion.types';
import { validateRequest, type ValidRequest } from './completion.validation';
import type { IdempotencyClaim, IdempotencyService } from './idempotency.service';
import type { PromptMargins } from '../providers/prompt-margin';
import { StreamMeter } from './stream-meter';
import { countChatTokensAsync } from '../../shared/tokenizer';

export interface CompletionDeps {
  config: Pick<
    Config,
    'maxMessages' | 'maxPromptChars' | 'maxOutputTokens' | 'routingRules' | 'callDeadlineMs'
  >;
  log: Logger;
  catalog: CatalogService;
  router: RouterService;
  limiter: GatewayLimiter;
  reservations: ReservationService;
  idempotency: IdempotencyService;
  attempts: AttemptLoop;
  margins: PromptMargins;
}

/** A call routed and estimated, before anything is held. */
interface PreparedCall {
  catalog: Catalog;
  /** Prompt tokens by our tokenizer. */
  promptTokens: number;
  plan: RoutePlan;
}

/**
 * The completion pipeline, in the order of SPEC.md: validate, idempotency, prepare (route and
 * estimate), admit (gateway rate limits, before anything is held), then the attempt loop (hold,
 * call, settle, fall back), whose recording announces alerts and metrics.
 */
export class CompletionService {
  private inflight = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly d: CompletionDeps) {}

  complete(who: KeyPrincipal, request: CompletionRequest, signal?: AbortSignal): Promise<CompletionResult> {
    return measured(() => this.serve(who, validateRequest(request, this.d.config), null, signal));
  }

  /**
   * The same call, streamed: `onDelta` gets each piece of text as the upstream produces it, and
   * the promise resolves with the settled result (usage and exact cost) at the end. A repeat of
   * a finished requestId replays its text as one piece. If the client goes away (`signal`), the
   * upstream request is aborted and the tokens produced so far are charged; a stream is cut at
   * maxTokens, so it never costs more completion than it reserved. `callId` names the call when
   * the request carries no requestId (a door that must send the id before the first piece).
   */
  stream(
    who: KeyPrincipal,
    request: CompletionRequest,
    onDelta: (text: string) => void,
    signal?: AbortSignal,
    callId?: string,
  ): Promise<CompletionResult> {
    return measured(async () => {
      const req = validateRequest(request, this.d.config);
      const result = await this.serve(who, req, { onDelta, callId }, signal);
      if (result.replayed) onDelta(result.content);
      return result;
    });
  }

  /** What a call would reserve: the routed model, prompt tokens by the tokenizer, worst-case cost with the model's margin. */
  async estimate(who: KeyPrincipal, request: CompletionRequest) {
    const req = validateRequest(request, this.d.config);
    const { catalog, promptTokens, plan } = await this.prepare(who, req, false);
    const model = plan.chain[0]!;
    const provider = catalog.providers.get(model.providerId);
    const reserved = provider
      ? this.d.margins.reservedPromptTokens(model, provider, promptTokens)
      : promptTokens;
    return {
      model: model.name,
      tier: plan.tier,
      promptTokens,
      reservedPromptTokens: reserved,
      maxTokens: req.maxTokens,
      worstCaseCost: worstCase(model, reserved, req.maxTokens),
    };
  }

  /** Resolves when no completion is in flight (graceful shutdown waits on it). */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  /** Idempotency, then the call: once per requestId when the client gave one. */
  private serve(
    who: KeyPrincipal,
    req: ValidRequest,
    stream: { onDelta: (text: string) => void; callId?: string } | null,
    signal: AbortSignal | undefined,
  ): Promise<CompletionResult> {
    if (!req.requestId) {
      const requestId = stream?.callId ?? crypto.randomUUID();
      return this.track(() => this.execute(who, req, requestId, null, stream?.onDelta ?? null, signal));
    }
    const requestId = req.requestId;
    return this.d.idempotency.once(who.projectId, requestId, requestHash(req), (claim) =>
      this.track(() => this.execute(who, req, requestId, claim, stream?.onDelta ?? null, signal)),
    );
  }

  /** Route and estimate: the classifier's tier, the tokenizer's prompt count, the router's plan. */
  private async prepare(who: KeyPrincipal, req: ValidRequest, advance: boolean): Promise<PreparedCall> {
    const catalog = await this.d.catalog.catalog(who.projectId);
    const tier: Tier = classify(req, this.d.config.routingRules);
    const promptTokens = await countChatTokensAsync(req.messages);
    const plan = this.d.router.plan(catalog, req.model, tier, promptTokens, req.maxTokens, advance);
    return { catalog, promptTokens, plan };
  }

  private async execute(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    claim: IdempotencyClaim | null,
    onDelta: ((text: string) => void) | null,
    clientSignal: AbortSignal | undefined,
  ): Promise<CompletionResult> {
    const started = performance.now();
    const { catalog, promptTokens, plan } = await this.prepare(who, req, true);
    // Gateway key and project limits, before any reservation: a refused call holds nothing.
    const admission = await this.d.limiter.admit(who, promptTokens + req.maxTokens);
    // Not AbortSignal.timeout: its timer would keep every call's signal alive for the whole deadline.
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error('the call passed its deadline')),
      this.d.config.callDeadlineMs,
    );
    const meter = onDelta ? new StreamMeter(req.maxTokens, onDelta) : null;
    const signals = [deadline.signal, clientSignal, meter?.cut.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let usedTokens = 0;
    try {
      // The first call of this requestId died with its instance: its holds are taken now (charged
      // as ABANDONED), so this call's charge can replace that placeholder.
      if (claim?.tookOver) await this.d.reservations.abandonHoldsOf(who.projectId, requestId);
      const result = await this.d.attempts.callAlongChain({
        who,
        req,
        requestId,
        catalog,
        promptEstimate: promptTokens,
        tier: plan.tier,
        fallbacks: [],
        started,
        meter,
        claim,
        plan,
        signal: AbortSignal.any(signals),
        clientGone: () => clientSignal?.aborted === true,
        deadlinePassed: () => deadline.signal.aborted,
      });
      usedTokens = result.totalTokens;
      return result;
    } finally {
      clearTimeout(timer);
      admission.refundUnusedTokens(usedTokens);
    }
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
}

/**
 * What identifies a request for its idempotency key: everything that shapes the call (not the key
 * itself, and not whether it is streamed: a stream may replay a plain call's result and back).
 */
export function requestHash(req: ValidRequest): string {
  const { requestId: _id, ...shape } = req;
  return crypto.hash('sha256', JSON.stringify(shape), 'hex');
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
