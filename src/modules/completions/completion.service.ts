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
import { worstCaseCost } from '../providers/pricing';
import { classify } from '../routing/classifier';
import type { RoutePlan, RouterService } from '../routing/router.service';
import { chunksOf } from '../upstream/chat-answer';
import type { AttemptLoop } from './attempt-loop';
import type { CallOptions, CompletionChunk, CompletionRequest, CompletionResult } from './completion.types';
import {
  textOf,
  validateEmbeddingRequest,
  validateRequest,
  type ValidRequest,
} from './completion.validation';
import { UsageKind } from '../usage/usage-record.entity';
import type { IdempotencyClaim, IdempotencyService } from './idempotency.service';
import type { PromptMargins } from '../providers/prompt-margin';
import { StreamMeter } from './stream-meter';
import { estimatePromptTokensAsync } from '../../shared/prompt-estimate.async';
import { NO_SPAN, type CallSpan } from '../../shared/tracing';
import { requestAttributes, resultAttributes } from './call-attributes';

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

  complete(
    who: KeyPrincipal,
    request: CompletionRequest,
    options: CallOptions = {},
  ): Promise<CompletionResult> {
    return measured(() => this.serve(who, validateRequest(request, this.d.config), null, options));
  }

  /**
   * The same call, streamed: `onChunk` gets each chunk (OpenAI's chat.completion.chunk) as the
   * upstream produces it, and the promise resolves with the settled result (usage and exact cost)
   * at the end. A repeat of a finished requestId replays its answer as chunks. If the client goes
   * away (`options.signal`), the upstream request is aborted and the tokens produced so far are
   * charged; a stream is cut at maxTokens, so it never uses more completion than it reserved.
   */
  stream(
    who: KeyPrincipal,
    request: CompletionRequest,
    onChunk: (chunk: CompletionChunk) => void,
    options: CallOptions = {},
  ): Promise<CompletionResult> {
    return measured(async () => {
      const req = validateRequest(request, this.d.config);
      const result = await this.serve(who, req, onChunk, options);
      if (result.replayed) for (const chunk of chunksOf(result.completion)) onChunk(chunk);
      return result;
    });
  }

  /**
   * OpenAI embeddings on the same keys, budgets, limits, idempotency and ledger: the named model
   * only (no routing, no fallback, no downgrade), held at its prompt price for the input's tokens.
   */
  embed(who: KeyPrincipal, request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResult> {
    return measured(() => this.serve(who, validateEmbeddingRequest(request, this.d.config), null, options));
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
      worstCaseCost: worstCaseCost(model, reserved, req.maxTokens * req.n),
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
    onChunk: ((chunk: CompletionChunk) => void) | null,
    options: CallOptions,
  ): Promise<CompletionResult> {
    const span = options.span ?? NO_SPAN;
    if (span.recording) span.set(requestAttributes(req, onChunk !== null));
    if (!req.requestId) {
      const requestId = options.callId ?? crypto.randomUUID();
      return this.track(() => this.execute(who, req, requestId, null, onChunk, { ...options, span }));
    }
    const requestId = req.requestId;
    return this.d.idempotency.once(who.projectId, requestId, requestHash(req), (claim) =>
      this.track(() => this.execute(who, req, requestId, claim, onChunk, { ...options, span })),
    );
  }

  /**
   * Route and estimate: the classifier's tier (on the messages' text), the prompt estimate (text,
   * tools, tool calls, schemas, images, by the tokenizer), the router's plan.
   */
  private async prepare(who: KeyPrincipal, req: ValidRequest, advance: boolean): Promise<PreparedCall> {
    const catalog = await this.d.catalog.catalog(who.projectId);
    if (req.kind === UsageKind.EMBEDDING) {
      const plan = { tier: null, chain: [this.d.router.named(catalog, req.model)] };
      return { catalog, promptTokens: req.inputTokens, plan };
    }
    const messages = req.messages.map((m) => ({ content: textOf(m) }));
    const tier: Tier = classify({ ...req, messages }, this.d.config.routingRules);
    const promptTokens = (await estimatePromptTokensAsync(req.body)).tokens;
    const plan = this.d.router.plan(catalog, req.model, tier, promptTokens, req.maxTokens, advance);
    return { catalog, promptTokens, plan };
  }

  private async execute(
    who: KeyPrincipal,
    req: ValidRequest,
    requestId: string,
    claim: IdempotencyClaim | null,
    onChunk: ((chunk: CompletionChunk) => void) | null,
    options: CallOptions & { span: CallSpan },
  ): Promise<CompletionResult> {
    const { signal: clientSignal, span, door } = options;
    const started = performance.now();
    const { catalog, promptTokens, plan } = await span.within('route', async (step) => {
      const prepared = await this.prepare(who, req, true);
      if (step.recording) {
        step.set({
          'tollgate.route.tier': prepared.plan.tier ?? 'EXPLICIT',
          'tollgate.route.chain': prepared.plan.chain.map((m) => m.name),
          'tollgate.prompt_estimate': prepared.promptTokens,
        });
      }
      return prepared;
    });
    // Gateway key and project limits, before any reservation: a refused call holds nothing.
    const admission = await this.d.limiter.admit(who, promptTokens + req.maxTokens);
    // One controller for the call, aborted by its deadline, by the client going away or by the
    // stream reaching its cap. (Not AbortSignal.timeout: its timer would keep every call's signal
    // alive for the whole deadline; nor AbortSignal.any, whose weak links the GC has to clear.)
    const call = new AbortController();
    let deadlinePassed = false;
    const timer = setTimeout(() => {
      deadlinePassed = true;
      call.abort(new Error('the call passed its deadline'));
    }, this.d.config.callDeadlineMs);
    const meter = onChunk ? new StreamMeter(req.maxTokens * req.n, onChunk) : null;
    const causes = [clientSignal, meter?.cut.signal].filter((s): s is AbortSignal => s !== undefined);
    const follow = (event: Event) => call.abort((event.target as AbortSignal).reason);
    for (const cause of causes) {
      if (cause.aborted) call.abort(cause.reason);
      else cause.addEventListener('abort', follow, { once: true });
    }
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
        signal: call.signal,
        clientGone: () => clientSignal?.aborted === true,
        deadlinePassed: () => deadlinePassed,
        span,
        door,
      });
      usedTokens = result.usage.prompt + result.usage.completion;
      if (span.recording) span.set(resultAttributes(result));
      return result;
    } finally {
      clearTimeout(timer);
      for (const cause of causes) cause.removeEventListener('abort', follow);
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
  const { stream: _stream, stream_options: _options, ...body } = req.body;
  // A request from another format's door is what its client sent (its OpenAI view may leave out
  // what only its own upstreams take).
  const native = req.native && { ...req.native.body, stream: undefined };
  const shape = native
    ? [req.native!.format, native, req.intent, req.requiresReasoning]
    : [body, req.intent, req.requiresReasoning];
  // (a chat request hashes as it did before embeddings existed: stored keys keep their meaning)
  return crypto.hash(
    'sha256',
    canonicalJson(req.kind === UsageKind.CHAT ? shape : [req.kind, ...shape]),
    'hex',
  );
}

/** JSON with every object's keys in order, so the same request hashes the same however it was written. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
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
