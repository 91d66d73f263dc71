import crypto from 'node:crypto';
import { backoffDelay } from '../../shared/backoff';
import { isConnectionFailure } from '../../shared/db-errors';
import type { DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { formatUsd, ratio, type Pico } from '../../shared/money';
import {
  addedSeconds,
  noteBudgetUtilization,
  modelLabel,
  spendUsdTotal,
  tokensTotal,
  upstreamSeconds,
} from '../../shared/metrics';
import type { TokenUsage } from '../../shared/token-usage';
import type { AlertService } from '../alerts/alert.service';
import type { HeldModel } from '../budgets/downgrade';
import type { UsageRow } from '../budgets/ledger.types';
import type { RecordedUsage, ReservationService } from '../budgets/reservation.service';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Catalog } from '../providers/catalog.service';
import type { Model, Tier } from '../providers/model.entity';
import { priceUsage } from '../providers/pricing';
import { UpstreamCallFailed, type CallResult } from '../upstream/upstream.client';
import type { UpstreamReply } from '../upstream/upstream.types';
import type { UsageOutcome } from '../usage/usage-record.entity';
import type { CompletionResult, Door } from './completion.types';
import type { ValidRequest } from './completion.validation';
import { storedResult, type IdempotencyClaim } from './idempotency.service';
import type { PromptMargins } from '../providers/prompt-margin';
import type { StreamMeter } from './stream-meter';
import { countTextTokens } from '../../shared/tokenizer';
import type { CallSpan } from '../../shared/tracing';

/** Everything the recording of a call needs to know besides its reply. */
export interface CallContext {
  who: KeyPrincipal;
  req: ValidRequest;
  requestId: string;
  catalog: Catalog;
  /** Prompt tokens by our tokenizer. */
  promptEstimate: number;
  tier: Tier | null;
  fallbacks: string[];
  /** performance.now() when the call entered the pipeline. */
  started: number;
  /** Set on a streamed call. */
  meter: StreamMeter | null;
  /** The requestId's idempotency claim, when the client gave one. */
  claim: IdempotencyClaim | null;
  /** The call's root span: its steps are its children. */
  span: CallSpan;
  /** The door the call came through. */
  door: Door | undefined;
}

/** How long a settle is retried through a lost database connection before it gives up. */
const SETTLE_RETRY_MS = 30_000;
/** 100 ms, doubling to 2 s: a database restart takes seconds. */
const SETTLE_BACKOFF = { baseMs: 100, maxMs: 2_000 };

/**
 * Writes calls into the ledger: the exact charge of a call that was answered (its usage record,
 * the reservation and the counters in one step), the partial charge of a stream that ended early,
 * and the record of a failed attempt with its hold given back; then announces what that changed.
 */
export class CallRecorder {
  constructor(
    private readonly d: {
      log: Logger;
      reservations: ReservationService;
      alerts: AlertService;
      margins: PromptMargins;
    },
  ) {}

  /** Charges an answered call at what it cost, by the upstream's usage (or our count when it sent none). */
  async recordAnswer(
    ctx: CallContext,
    held: HeldModel,
    call: CallResult,
    outcome: UsageOutcome = 'SUCCESS',
  ): Promise<CompletionResult> {
    const { reply } = call;
    const usage = reply.usage ?? counted(ctx.promptEstimate, reply);
    if (reply.usage) this.d.margins.observe(held.model, ctx.promptEstimate, reply.usage.prompt);
    const served = servedModel(ctx.catalog, held.model, reply.model);
    const priced = served
      ? priceUsage(usage, served)
      : {
          cost: 0n,
          cacheSavings: 0n,
          note: `the served model "${reply.model}" has no price: recorded at $0`,
        };
    if (!served) {
      this.d.log.warn(
        { model: reply.model, requestId: ctx.requestId },
        'upstream served a model with no price; recorded at $0 and flagged',
      );
    }
    const provider = providerName(ctx, held.model);
    const result: Omit<CompletionResult, 'id' | 'createdAt'> = {
      requestId: ctx.requestId,
      modelRequested: ctx.req.model,
      model: served?.name ?? reply.model,
      provider,
      content: reply.content,
      toolCalls: reply.toolCalls,
      refusal: reply.refusal,
      finishReason: reply.finishReason,
      completion: reply.completion,
      native: reply.native ?? null,
      passedThrough: reply.passedThrough === true,
      dropped: reply.dropped ?? [],
      usage,
      cost: priced.cost,
      cacheSavings: priced.cacheSavings,
      priced: priced.note === null,
      priceNote: priced.note,
      latencyMs: Math.round(performance.now() - ctx.started),
      upstreamLatencyMs: call.upstreamLatencyMs,
      attempts: call.attempts,
      tier: ctx.tier,
      fallbacks: ctx.fallbacks,
      downgraded: held.downgraded,
      replayed: false,
    };
    const row = usageRow(ctx, held, {
      model_served: result.model,
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      cached_prompt_tokens: usage.cachedPrompt,
      cache_write_tokens: usage.cacheWrite,
      reasoning_tokens: usage.reasoning,
      cost: formatUsd(priced.cost),
      cache_savings: formatUsd(priced.cacheSavings),
      priced: result.priced,
      price_note: priced.note,
      upstream_latency_ms: call.upstreamLatencyMs,
      attempts: call.attempts,
      outcome,
      error_code: null,
    });
    // Only a result the client got is kept for replay; a cancelled stream may be asked again.
    const done =
      ctx.claim && outcome === 'SUCCESS'
        ? { project: ctx.claim.projectId, request: ctx.claim.requestId, response: storedResult(result) }
        : null;
    const recorded = await ctx.span.within(
      'settle',
      () =>
        this.durably(ctx.requestId, () =>
          this.d.reservations.recordUsage(held.hold, row, { supersede: ctx.claim?.tookOver ?? false, done }),
        ),
      { 'tollgate.cost_usd': row.cost, 'tollgate.outcome': outcome },
    );
    await this.announce(ctx, held, recorded, priced.cost);
    measure(ctx, result, usage, priced.cost);
    return { ...result, id: recorded.usageId, createdAt: recorded.createdAt };
  }

  /**
   * A stream that ended after something reached the client: cut at maxTokens (a success, finish
   * reason "length"), abandoned by the client (CANCELLED), or broken upstream (UPSTREAM_ERROR).
   * What was passed on is charged, counted by the tokenizer; a call that did not succeed then throws.
   */
  async recordPartial(
    ctx: CallContext,
    held: HeldModel,
    meter: StreamMeter,
    clientLeft: boolean,
    error: unknown,
    call?: CallResult,
  ): Promise<CompletionResult> {
    const failed = error instanceof UpstreamCallFailed ? error : null;
    const outcome: UsageOutcome = meter.capped ? 'SUCCESS' : clientLeft ? 'CANCELLED' : 'UPSTREAM_ERROR';
    const finish = meter.capped ? 'length' : outcome === 'CANCELLED' ? 'cancelled' : 'error';
    const result = await this.recordAnswer(
      ctx,
      held,
      {
        reply: meter.passedOn(held.model.upstreamName, finish),
        attempts: call?.attempts ?? failed?.attempts ?? 1,
        upstreamLatencyMs:
          call?.upstreamLatencyMs ?? failed?.upstreamLatencyMs ?? Math.round(performance.now() - ctx.started),
      },
      outcome,
    );
    if (outcome === 'SUCCESS') return result;
    throw failed ? failed.error : error;
  }

  /** Gives back the hold of a failed attempt and, when the upstream was reached, records the attempt at $0. */
  async recordFailure(ctx: CallContext, held: HeldModel, error: unknown): Promise<void> {
    const failed = error instanceof UpstreamCallFailed ? error : null;
    const row = failed?.reached
      ? usageRow(ctx, held, {
          model_served: held.model.name,
          prompt_tokens: 0,
          completion_tokens: 0,
          cached_prompt_tokens: 0,
          cache_write_tokens: 0,
          reasoning_tokens: 0,
          cost: '0',
          cache_savings: '0',
          priced: true,
          price_note: null,
          upstream_latency_ms: failed.upstreamLatencyMs,
          attempts: failed.attempts,
          outcome: 'UPSTREAM_ERROR',
          error_code: (failed.error as DomainError).code,
        })
      : null;
    await this.d.reservations.releaseHold(held.hold, row);
    if (!failed) this.d.log.error({ err: error, requestId: ctx.requestId }, 'completion failed');
  }

  /**
   * The alerts a charge crossed, and a RESERVATION_EXCEEDED alert when the upstream billed more than
   * the call held (its prompt counted past our estimate and margin: the budget may pass its limit
   * by the difference, and the model's learned margin widens).
   */
  private async announce(
    ctx: CallContext,
    held: HeldModel,
    recorded: RecordedUsage,
    cost: Pico,
  ): Promise<void> {
    for (const counter of recorded.counters) {
      const { budget } = counter;
      noteBudgetUtilization(budget.id, budget.period, ratio(counter.spent + counter.reserved, budget.limit));
    }
    const alerts = await this.d.alerts.fire(ctx.who.projectId, recorded.counters, new Date(), cost);
    if (held.hold.id !== null && cost > held.hold.amount) {
      const exceeded = await this.d.alerts
        .reservationExceeded(ctx.who.projectId, {
          reservationId: held.hold.id,
          requestId: ctx.requestId,
          model: held.model.name,
          reserved: held.hold.amount,
          charged: cost,
          promptEstimate: ctx.promptEstimate,
        })
        .catch((error: unknown) => {
          this.d.log.error({ err: error }, 'could not record a RESERVATION_EXCEEDED alert');
          return null;
        });
      if (exceeded) alerts.push(exceeded);
    }
    this.d.alerts.announce(ctx.who.projectId, alerts, held.hold.budgets.length > 0);
  }

  /**
   * The upstream has answered (and will bill): the settle is retried through a database outage
   * rather than lost. It is idempotent (the same record id), so a try that committed before its
   * connection broke is found, not repeated.
   */
  private async durably(requestId: string, settle: () => Promise<RecordedUsage>): Promise<RecordedUsage> {
    const deadline = Date.now() + SETTLE_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await settle();
      } catch (error) {
        if (!isConnectionFailure(error) || Date.now() > deadline) throw error;
        this.d.log.warn(
          { err: error, requestId, attempt },
          'settle failed on the database connection; retrying',
        );
        await new Promise((r) => setTimeout(r, backoffDelay(attempt + 1, SETTLE_BACKOFF)));
      }
    }
  }
}

/** The operator metrics of a charged call: spend and tokens by model, upstream and added latency. */
function measure(
  ctx: CallContext,
  result: Omit<CompletionResult, 'id' | 'createdAt'>,
  usage: TokenUsage,
  cost: Pico,
): void {
  // A model the catalog does not know (the upstream named another) is one series, not one each.
  const unknown = !result.priced && result.priceNote?.startsWith('the served model') === true;
  const model = modelLabel.of(unknown ? 'unpriced' : result.model);
  spendUsdTotal.inc({ model, kind: ctx.req.kind }, Number(cost) / 1e12);
  const classes: [string, number][] = [
    ['prompt', usage.prompt],
    ['cached_prompt', usage.cachedPrompt],
    ['cache_write', usage.cacheWrite],
    ['completion', usage.completion],
    ['reasoning', usage.reasoning],
  ];
  for (const [name, tokens] of classes) if (tokens > 0) tokensTotal.inc({ model, class: name }, tokens);
  upstreamSeconds.observe({ model }, result.upstreamLatencyMs / 1000);
  addedSeconds.observe(
    { door: ctx.door ?? 'graphql' },
    Math.max(0, result.latencyMs - result.upstreamLatencyMs) / 1000,
  );
}

function providerName(ctx: CallContext, model: Model): string {
  return ctx.catalog.providers.get(model.providerId)?.name ?? 'unknown';
}

/** The parts of a call's usage record that vary with its outcome; the rest comes from the call. */
type RowParts = Omit<
  UsageRow,
  | 'id'
  | 'project_id'
  | 'api_key_id'
  | 'request_id'
  | 'kind'
  | 'model_requested'
  | 'provider'
  | 'route_tier'
  | 'total_tokens'
  | 'gateway_latency_ms'
  | 'fallbacks'
  | 'downgraded'
>;

/** A usage record of this call (a fresh id, so a retried settle finds its first try). */
function usageRow(ctx: CallContext, held: HeldModel, parts: RowParts): UsageRow {
  return {
    id: crypto.randomUUID(),
    project_id: ctx.who.projectId,
    api_key_id: ctx.who.keyId,
    request_id: ctx.requestId,
    kind: ctx.req.kind,
    model_requested: ctx.req.model,
    provider: providerName(ctx, held.model),
    route_tier: ctx.tier,
    total_tokens: parts.prompt_tokens + parts.completion_tokens,
    gateway_latency_ms: Math.round(performance.now() - ctx.started),
    fallbacks: [...ctx.fallbacks],
    downgraded: held.downgraded,
    ...parts,
  };
}

/** Usage the gateway counted itself (the upstream sent none, or none that adds up): no classes known. */
function counted(promptTokens: number, reply: UpstreamReply): TokenUsage {
  const completion =
    countTextTokens(reply.content) +
    countTextTokens(reply.refusal ?? '') +
    reply.toolCalls.reduce(
      (n, c) => n + countTextTokens(c.function.name) + 1 + countTextTokens(c.function.arguments),
      0,
    );
  return { prompt: promptTokens, cachedPrompt: 0, cacheWrite: 0, completion, reasoning: 0 };
}

/**
 * The catalog model that actually served: the one asked when the upstream echoes its name (or
 * a dated snapshot of it), another catalog model when the upstream names that one, else null
 * (unpriced, flagged; never priced as another model).
 */
export function servedModel(catalog: Catalog, asked: Model, reported: string): Model | null {
  if (
    reported === asked.upstreamName ||
    reported === asked.name ||
    reported.startsWith(`${asked.upstreamName}-`)
  ) {
    return asked;
  }
  for (const model of catalog.models.values()) {
    if (
      model.providerId === asked.providerId &&
      (model.upstreamName === reported || model.name === reported)
    ) {
      return model;
    }
  }
  return null;
}
