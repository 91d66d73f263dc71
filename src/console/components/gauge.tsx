import { formatUsd } from '../lib/money';
import { formatDateTime, formatInt, formatPercent, formatRelative } from '../lib/format';
import type { BudgetStatus } from '../lib/queries';

const CX = 100;
const CY = 100;
const R = 80;

function point(fraction: number): string {
  const angle = Math.PI * (1 - Math.min(1, Math.max(0, fraction)));
  return `${(CX + R * Math.cos(angle)).toFixed(2)} ${(CY - R * Math.sin(angle)).toFixed(2)}`;
}

function arc(from: number, to: number): string {
  return `M ${point(from)} A ${R} ${R} 0 0 1 ${point(to)}`;
}

export function level(utilization: number): 'ok' | 'warn' | 'crit' {
  if (utilization >= 0.9) return 'crit';
  if (utilization >= 0.75) return 'warn';
  return 'ok';
}

/** A fraction of the limit as a float, for drawing only (figures are printed from the strings). */
function share(amount: string, limit: string): number {
  const l = Number(limit);
  return l > 0 ? Number(amount) / l : 0;
}

export interface GaugeProps {
  status: BudgetStatus;
  /** "Project" or the key's name. */
  scope: string;
  now: number;
  compact?: boolean;
}

/** One budget: spent and reserved against the limit, thresholds, projection and period. */
export function BudgetGauge({ status, scope, now, compact }: GaugeProps) {
  const { budget } = status;
  const spent = share(status.spent, status.limit);
  const reserved = share(status.reserved, status.limit);
  const lvl = level(status.utilization);
  const periodName = budget.period === 'DAILY' ? 'Daily' : 'Monthly';
  const label = `${periodName} budget, ${scope}`;
  return (
    <article
      class={`card gauge gauge-${lvl}${compact ? ' gauge-compact' : ''}`}
      data-budget-id={budget.id}
      aria-label={label}
    >
      <header class="gauge-head">
        <h3>
          {periodName} · {scope}
        </h3>
        <span
          class={`badge policy-${budget.policy.toLowerCase()}`}
          title="What happens to a call that would exceed it"
        >
          {budget.policy}
        </span>
      </header>
      <div class="gauge-body">
        <svg
          class="gauge-dial"
          viewBox="0 0 200 112"
          role="meter"
          aria-label={`${label}: utilization`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(status.utilization * 10000) / 100}
          aria-valuetext={`${formatPercent(status.utilization)} used: ${formatUsd(status.spent)} of ${formatUsd(status.limit)}`}
        >
          <path class="dial-track" d={arc(0, 1)} />
          {reserved > 0 && (
            <path class="dial-reserved" d={arc(spent, Math.min(1, spent + Math.max(reserved, 0.004)))} />
          )}
          {spent > 0 && <path class={`dial-spent dial-${lvl}`} d={arc(0, Math.max(spent, 0.004))} />}
          {budget.thresholds.map((t) => {
            const angle = Math.PI * (1 - t);
            const x1 = CX + (R - 11) * Math.cos(angle);
            const y1 = CY - (R - 11) * Math.sin(angle);
            const x2 = CX + (R + 11) * Math.cos(angle);
            const y2 = CY - (R + 11) * Math.sin(angle);
            return (
              <line
                key={t}
                class={`dial-tick${status.utilization >= t ? ' dial-tick-passed' : ''}`}
                x1={x1}
                y1={y1}
                x2={x2}
                y2={y2}
              />
            );
          })}
          <text class="dial-value" x={CX} y={CY - 10} text-anchor="middle" data-figure="utilization">
            {formatPercent(status.utilization)}
          </text>
          <text class="dial-caption" x={CX} y={CY + 9} text-anchor="middle">
            of {formatUsd(status.limit)}
          </text>
        </svg>
        <dl class="figures">
          <div>
            <dt>Spent</dt>
            <dd data-figure="spent">{formatUsd(status.spent)}</dd>
          </div>
          <div>
            <dt>Reserved</dt>
            <dd data-figure="reserved">{formatUsd(status.reserved)}</dd>
          </div>
          <div>
            <dt>Limit</dt>
            <dd data-figure="limit">{formatUsd(status.limit)}</dd>
          </div>
          <div>
            <dt>Remaining</dt>
            <dd data-figure="remaining">{formatUsd(status.remaining)}</dd>
          </div>
          <div class={status.projection.overrun ? 'overrun' : undefined}>
            <dt>Projected at period end</dt>
            <dd data-figure="projected">
              {formatUsd(status.projection.projectedSpend)}
              {status.projection.overrun && <span class="badge badge-crit">over limit</span>}
            </dd>
          </div>
          {!compact && (
            <div>
              <dt>Calls · tokens</dt>
              <dd data-figure="requests">
                {formatInt(status.requests)} · {formatInt(status.totalTokens)}
              </dd>
            </div>
          )}
        </dl>
      </div>
      <p class="gauge-period">
        <span data-figure="period">
          {budget.period} · {budget.timeZone}
        </span>
        {!compact && (
          <>
            {' '}
            · {formatDateTime(status.periodStart, budget.timeZone)} →{' '}
            {formatDateTime(status.periodEnd, budget.timeZone)}
          </>
        )}{' '}
        · resets {formatRelative(status.periodEnd, now)}
      </p>
    </article>
  );
}
