import type { DataSource } from 'typeorm';
import { isConnectionFailure } from '../../shared/db-errors';
import type { DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { costOf, minPico, type Pico } from '../../shared/money';
import type { Alert } from '../alerts/alert.entity';
import type { AlertService } from '../alerts/alert.service';
import type { EventBus } from '../alerts/event-bus';
import type { WebhookWorker } from '../alerts/webhook.worker';
import type { MetricsPublisher } from '../budgets/metrics.publisher';
import type { Hold, ReservationService } from '../budgets/reservation.service';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Catalog } from '../providers/catalog.service';
import type { Model } from '../providers/model.entity';
import { UpstreamCallFailed, type CallResult } from '../providers/upstream.client';
import type { UpstreamUsage } from '../providers/upstream.types';
import type { UsageOutcome } from '../usage/usage-record.entity';
import { usageJson, type NewUsageRecord, type UsageService } from '../usage/usage.service';
import type { CompletionResult } from './completion.types';
import type { ValidRequest } from './completion.validation';
import { countTextTokens } from './tokenizer';

export interface LedgerDeps {
  db: DataSource;
  log: Logger;
  reservations: ReservationService;
  usage: UsageService;
  alerts: AlertService;
  metrics: MetricsPublisher;
  bus: EventBus;
  webhooks: WebhookWorker;
}

/** One model tried for a call, with what it holds on the budgets. */
export interface Attempt {
  model: Model;
  hold: Hold;
  downgraded: boolean;
}

/** Everything settle needs to know about the call besides its reply. */
export interface CallContext {
  who: KeyPrincipal;
  req: ValidRequest;
  requestId: string;
  catalog: Catalog;
  promptEstimate: number;
  tier: CompletionResult['tier'];
  fallbacks: string[];
  started: number;
  /** A stream may never cost more than it reserved. */
  streamed: boolean;
}

/**
 * The settle step: turns a hold into the actual charge in the same transaction that writes the
 * usage record and fires alerts, or releases the hold of a failed attempt; then publishes.
 */
export class CompletionLedger {
  constructor(private readonly d: LedgerDeps) {}

  async settle(
    ctx: CallContext,
    attempt: Attempt,
    call: CallResult,
    outcome: UsageOutcome = 'SUCCESS',
  ): Promise<CompletionResult> {
    const { reply } = call;
    const usage = checkUsage(reply.usage) ?? counted(ctx.promptEstimate, countTextTokens(reply.content));
    const served = servedModel(ctx.catalog, attempt.model, reply.model);
    let cost: Pico = served
      ? costOf(usage.promptTokens, usage.completionTokens, {
          prompt: served.promptPrice,
          completion: served.completionPrice,
        })
      : 0n;
    if (!served) {
      this.d.log.warn(
        { model: reply.model, requestId: ctx.requestId },
        'upstream served a model with no price; recorded at $0 and flagged',
      );
    }
    if (ctx.streamed && cost > attempt.hold.amount) {
      this.d.log.warn(
        { requestId: ctx.requestId },
        'a stream cost more than its reservation; charged the reservation',
      );
      cost = minPico(cost, attempt.hold.amount);
    }
    const provider = ctx.catalog.providers.get(attempt.model.providerId)?.name ?? 'unknown';
    const latencyMs = Math.round(performance.now() - ctx.started);
    const now = new Date();
    const usageRecord: NewUsageRecord = {
      projectId: ctx.who.projectId,
      apiKeyId: ctx.who.keyId,
      requestId: ctx.requestId,
      modelRequested: ctx.req.model,
      modelServed: served?.name ?? reply.model,
      provider,
      routeTier: ctx.tier,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      cost,
      priced: served !== null,
      gatewayLatencyMs: latencyMs,
      upstreamLatencyMs: call.upstreamLatencyMs,
      attempts: call.attempts,
      outcome,
      errorCode: null,
      fallbacks: ctx.fallbacks,
      downgraded: attempt.downgraded,
    };
    const charge = {
      cost,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      countRequest: true,
    };
    // One step: the usage record, the reservation and the counters (batched with concurrent settles).
    const hold = attempt.hold;
    // The upstream has answered (and will bill): the settle is retried through a database outage
    // rather than lost. It is idempotent, and a retry first looks for what an earlier try committed.
    const settled = await this.durably(ctx.requestId, async (retry) => {
      const earlier = retry ? await this.recorded(ctx) : null;
      if (earlier) return earlier;
      const result = await this.d.reservations.settleRecorded(hold, charge, usageJson(usageRecord));
      if (result === null) throw new Error(`reservation ${hold.id} was already settled`);
      return result;
    });
    const record = { id: settled.usageId, createdAt: settled.createdAt };
    const alerts = await this.d.alerts.fire(ctx.who.projectId, settled.counters, now, cost);
    this.announce(ctx.who.projectId, attempt.hold, alerts);
    return {
      id: record.id,
      requestId: ctx.requestId,
      modelRequested: ctx.req.model,
      model: served?.name ?? reply.model,
      provider,
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
      tier: ctx.tier,
      fallbacks: ctx.fallbacks,
      downgraded: attempt.downgraded,
      replayed: false,
      createdAt: record.createdAt,
    };
  }

  /** Runs `fn` until it succeeds, retrying connection failures for up to SETTLE_RETRY_MS. */
  private async durably<T>(requestId: string, fn: (retry: boolean) => Promise<T>): Promise<T> {
    const deadline = Date.now() + SETTLE_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt > 0);
      } catch (error) {
        if (!isConnectionFailure(error) || Date.now() > deadline) throw error;
        this.d.log.warn(
          { err: error, requestId, attempt },
          'settle failed on the database connection; retrying',
        );
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** The usage record an earlier try of this settle committed, if any (its counters are the alert sweep's). */
  private async recorded(ctx: CallContext) {
    const [row]: { id: string; created_at: Date }[] = await this.d.db.query(
      `SELECT id, created_at FROM usage_records
        WHERE project_id = $1 AND request_id = $2 AND outcome <> 'UPSTREAM_ERROR' ORDER BY created_at DESC LIMIT 1`,
      [ctx.who.projectId, ctx.requestId],
    );
    return row ? { usageId: row.id, createdAt: row.created_at, counters: [] } : null;
  }

  /** Releases the hold of a failed attempt and, when the upstream was reached, records it at $0. */
  async recordFailure(
    ctx: CallContext,
    attempt: Attempt,
    error: unknown,
    provider: string | undefined,
  ): Promise<void> {
    const failed = error instanceof UpstreamCallFailed ? error : null;
    await this.d.db.transaction(async (em) => {
      await this.d.reservations.release(attempt.hold, em);
      if (!failed?.reached) return;
      await this.d.usage.insert(em, {
        projectId: ctx.who.projectId,
        apiKeyId: ctx.who.keyId,
        requestId: ctx.requestId,
        modelRequested: ctx.req.model,
        modelServed: attempt.model.name,
        provider: provider ?? 'unknown',
        routeTier: ctx.tier,
        promptTokens: 0,
        completionTokens: 0,
        cost: 0n,
        priced: true,
        gatewayLatencyMs: Math.round(performance.now() - ctx.started),
        upstreamLatencyMs: failed.upstreamLatencyMs,
        attempts: failed.attempts,
        outcome: 'UPSTREAM_ERROR',
        errorCode: (failed.error as DomainError).code,
        fallbacks: [...ctx.fallbacks],
        downgraded: attempt.downgraded,
      });
    });
    if (!failed) this.d.log.error({ err: error, requestId: ctx.requestId }, 'completion failed');
  }

  private announce(projectId: string, hold: Hold, alerts: Alert[]): void {
    if (hold.budgets.length > 0) this.d.metrics.touch(projectId);
    for (const alert of alerts) this.d.bus.publish('alert', { projectId, alertId: alert.id });
    if (alerts.length > 0) this.d.webhooks.nudge();
  }
}

const SETTLE_RETRY_MS = 30_000;
/** Usage the gateway counted itself (the upstream sent none, or none that adds up). */
function counted(promptTokens: number, completionTokens: number): UpstreamUsage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}

/** Usage as the upstream reported it when sane (total = prompt + completion, whole, not negative); else null. */
export function checkUsage(usage: UpstreamUsage | null): UpstreamUsage | null {
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
