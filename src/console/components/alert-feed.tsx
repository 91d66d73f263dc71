import { formatAgo, formatDateTime, formatPercent } from '../lib/format';
import { formatUsd } from '../lib/money';
import type { Alert } from '../lib/queries';

const TYPE_TITLES: Record<string, string> = {
  BUDGET_THRESHOLD: 'Threshold crossed',
  DAILY_BUDGET_EXCEEDED: 'Daily budget reached',
  MONTHLY_BUDGET_EXCEEDED: 'Monthly budget reached',
  PROJECTED_OVERRUN: 'Projected overrun',
  CIRCUIT_OPEN: 'Circuit opened',
  RESERVATION_EXCEEDED: 'Billed above reservation',
};

export function alertTitle(alert: Alert): string {
  const title = TYPE_TITLES[alert.type] ?? alert.type;
  return alert.type === 'BUDGET_THRESHOLD' && alert.threshold !== null
    ? `${title}: ${formatPercent(alert.threshold)}`
    : title;
}

/** Alerts, newest first; ones that arrived live in this session are marked "new". */
export function AlertFeed({
  alerts,
  fresh,
  now,
  limit = 50,
}: {
  alerts: Alert[];
  fresh: ReadonlySet<string>;
  now: number;
  limit?: number;
}) {
  if (alerts.length === 0) return <p class="empty">No alerts in the last 7 days.</p>;
  return (
    <ol class="alert-feed" aria-label="Alerts, newest first">
      {alerts.slice(0, limit).map((a) => (
        <li
          key={a.id}
          class={`alert alert-${a.severity.toLowerCase()}${fresh.has(a.id) ? ' alert-fresh' : ''}`}
          data-alert-id={a.id}
          data-alert-type={a.type}
        >
          <div class="alert-head">
            <span class={`badge badge-${a.severity === 'CRITICAL' ? 'crit' : 'warn'}`}>{a.severity}</span>
            <strong>{alertTitle(a)}</strong>
            {fresh.has(a.id) && <span class="badge badge-new">new</span>}
            <time dateTime={a.createdAt} title={formatDateTime(a.createdAt)}>
              {formatAgo(a.createdAt, now)}
            </time>
          </div>
          <p class="alert-message">{a.message}</p>
          {a.snapshot && (a.snapshot.spent || a.snapshot.limit) && (
            <p class="alert-snapshot">
              spent {formatUsd(a.snapshot.spent)} of {formatUsd(a.snapshot.limit)}
              {a.snapshot.projected ? ` · projected ${formatUsd(a.snapshot.projected)}` : ''} · utilization{' '}
              {formatPercent(a.utilization)}
            </p>
          )}
        </li>
      ))}
    </ol>
  );
}
