import { UpstreamError, UpstreamUnavailableError } from '../../shared/errors';
import { holdWithPolicy, type HeldModel } from '../budgets/downgrade';
import type { HoldRequest, ReservationService } from '../budgets/reservation.service';
import type { Model } from '../providers/model.entity';
import { UsageKind } from '../usage/usage-record.entity';
import { worstCaseCost } from '../providers/pricing';
import { formatUsd } from '../../shared/money';
import { UpstreamCallFailed, type CallResult, type UpstreamClient } from '../upstream/upstream.client';
import type { RoutePlan, RouterService } from '../routing/router.service';
import type { CallContext, CallRecorder } from './call-recorder';
import type { PromptMargins } from '../providers/prompt-margin';

/** A call on its way along the plan's models: the context, its abort signals, and the plan. */
export interface AttemptContext extends CallContext {
  plan: RoutePlan;
  /** Aborts the upstream call: the client left, the deadline passed, or the stream reached its cap. */
  signal: AbortSignal;
  /** The client went away (a stream it abandoned is CANCELLED, not failed). */
  clientGone: () => boolean;
  /** The call's deadline passed: no further attempt. */
  deadlinePassed: () => boolean;
}

/**
 * The second half of the pipeline: for each model of the plan in turn (the first usable one, then
 * its fallbacks), hold the call's worst case on the budgets (DOWNGRADE may move it to a cheaper
 * model), call the upstream, check the usage it reports, and record the outcome. A model whose
 * upstream is unavailable hands the call to the next usable one; one that refused the request,
 * a downgraded call, and a stream that already reached the client do not fall back.
 */
export class AttemptLoop {
  constructor(
    private readonly d: {
      router: RouterService;
      upstream: UpstreamClient;
      reservations: ReservationService;
      recorder: CallRecorder;
      margins: PromptMargins;
    },
  ) {}

  async callAlongChain(ctx: AttemptContext) {
    const { chain } = ctx.plan;
    let index = this.nextUsable(ctx, 0);
    if (index < 0) {
      throw new UpstreamUnavailableError(
        `Model "${chain[0]!.name}" is unavailable: its circuit is open or every upstream key failed`,
        { model: chain[0]!.name },
      );
    }
    let held = await this.hold(ctx, chain[index]!);
    for (;;) {
      const last = held.downgraded || this.nextUsable(ctx, index + 1) < 0;
      const stopRenewing = this.d.reservations.keepAlive(held.hold);
      try {
        let call: CallResult;
        try {
          call = await this.call(ctx, held, last);
        } catch (error) {
          if (ctx.meter?.started) {
            return await this.d.recorder.recordPartial(ctx, held, ctx.meter, ctx.clientGone(), error);
          }
          await this.d.recorder.recordFailure(ctx, held, error);
          const next = this.fallbackAfter(ctx, error, held, index);
          if (next < 0) throw this.finalError(ctx, error);
          ctx.fallbacks.push(held.model.name);
          index = next;
          held = await this.hold(ctx, chain[index]!);
          continue;
        }
        // A stream cut at maxTokens may still have been read to its end: charge what was passed on.
        if (ctx.meter?.capped)
          return await this.d.recorder.recordPartial(ctx, held, ctx.meter, false, null, call);
        return await this.d.recorder.recordAnswer(ctx, held, call);
      } finally {
        stopRenewing();
      }
    }
  }

  /** One model's upstream call (with its own retries and key rotation); refuses usage that does not add up. */
  private async call(ctx: AttemptContext, held: HeldModel, last: boolean): Promise<CallResult> {
    const provider = ctx.catalog.providers.get(held.model.providerId);
    if (!provider) throw new Error(`model ${held.model.name} has no provider`);
    const call = await this.d.upstream.call({
      provider,
      model: held.model,
      operation: ctx.req.kind === UsageKind.EMBEDDING ? 'embeddings' : 'chat',
      body: ctx.req.body,
      ...(ctx.req.native ? { native: ctx.req.native } : {}),
      signal: ctx.signal,
      span: ctx.span,
      onChunk: ctx.meter?.onChunk,
      fallbackOnTimeout: !last,
    });
    if (call.reply.inconsistentUsage) {
      const refused = new UpstreamError('Upstream reported inconsistent token usage', {
        provider: provider.name,
      });
      throw new UpstreamCallFailed(refused, call.attempts, call.upstreamLatencyMs, true);
    }
    return call;
  }

  /** The index of the model to fall back on after `error`, or -1 when the call ends here. */
  private fallbackAfter(ctx: AttemptContext, error: unknown, held: HeldModel, index: number): number {
    const unavailable = error instanceof UpstreamCallFailed && error.error.code === 'UPSTREAM_UNAVAILABLE';
    if (!unavailable || held.downgraded || ctx.deadlinePassed() || ctx.clientGone()) return -1;
    return this.nextUsable(ctx, index + 1);
  }

  private finalError(ctx: AttemptContext, error: unknown): unknown {
    if (ctx.deadlinePassed() && !ctx.clientGone()) {
      return new UpstreamUnavailableError('The call passed its deadline (TOLLGATE_CALL_DEADLINE_MS)', {
        deadline: true,
      });
    }
    return error instanceof UpstreamCallFailed ? error.error : error;
  }

  /** Holds the call's worst case for `model`, or a cheaper healthy model under a DOWNGRADE budget. */
  private hold(ctx: AttemptContext, model: Model): Promise<HeldModel> {
    // Embeddings are never moved: another model's vectors live in another space.
    const alternatives = ctx.req.kind === UsageKind.CHAT ? this.d.router.healthyModels(ctx.catalog) : [];
    return ctx.span.within(
      'reserve',
      async (span) => {
        const held = await holdWithPolicy(this.d.reservations, model, alternatives, (m) =>
          this.holdRequest(ctx, m),
        );
        if (span.recording) {
          span.set({
            'tollgate.reserved_usd': formatUsd(held.hold.amount),
            'tollgate.budget.decision': held.downgraded ? 'DOWNGRADED' : 'ALLOWED',
            'tollgate.budgets': held.hold.budgets.length,
            'tollgate.model': held.model.name,
          });
        }
        return held;
      },
      { 'tollgate.model': model.name },
    );
  }

  /**
   * What a call on `model` holds: the prompt estimate with the model's margin, at the dearest a
   * prompt token can cost (a cache write may cost more), plus every allowed completion token of
   * every choice; and the record to write if the call is abandoned.
   */
  private holdRequest(ctx: AttemptContext, model: Model): HoldRequest {
    const provider = ctx.catalog.providers.get(model.providerId);
    const prompt = provider
      ? this.d.margins.reservedPromptTokens(model, provider, ctx.promptEstimate)
      : ctx.promptEstimate;
    const completion = ctx.req.maxTokens * ctx.req.n;
    const amount = worstCaseCost(model, prompt, completion);
    return {
      projectId: ctx.who.projectId,
      apiKeyId: ctx.who.keyId,
      requestId: ctx.requestId,
      amount,
      abandoned: {
        kind: ctx.req.kind,
        model_requested: ctx.req.model,
        model_served: model.name,
        provider: provider?.name ?? 'unknown',
        route_tier: ctx.tier,
        prompt_tokens: prompt,
        completion_tokens: completion,
        fallbacks: [...ctx.fallbacks],
      },
    };
  }

  /** The first model of the chain from `from` on that routing may still use (health changes mid-call). */
  private nextUsable(ctx: AttemptContext, from: number): number {
    const { chain } = ctx.plan;
    for (let i = from; i < chain.length; i++) if (this.d.router.isUsable(ctx.catalog, chain[i]!)) return i;
    return -1;
  }
}
