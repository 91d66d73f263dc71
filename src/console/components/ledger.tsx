import { formatDateTime, formatInt, formatMs, formatTime } from '../lib/format';
import { formatUsd } from '../lib/money';
import type { UsageRecord } from '../lib/queries';

/** Usage records (the ledger), newest first. */
export function LedgerTable({
  records,
  caption,
  compact,
}: {
  records: UsageRecord[];
  caption: string;
  compact?: boolean;
}) {
  if (records.length === 0) return <p class="empty">No calls recorded yet.</p>;
  return (
    <div class="table-wrap" role="region" aria-label={caption} tabIndex={0}>
      <table class="ledger">
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Model</th>
            <th scope="col">Tier</th>
            <th scope="col" class="num">
              Tokens
            </th>
            <th scope="col" class="num">
              Cost
            </th>
            <th scope="col" class="num">
              Latency
            </th>
            <th scope="col">Outcome</th>
            {!compact && <th scope="col">Key</th>}
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <tr key={r.id} data-record-id={r.id}>
              <td data-label="Time">
                <time dateTime={r.createdAt} title={formatDateTime(r.createdAt)}>
                  {compact ? formatTime(r.createdAt) : formatDateTime(r.createdAt)}
                </time>
              </td>
              <td data-label="Model">
                <span class="mono">{r.modelServed}</span>
                {r.modelRequested !== r.modelServed && <small class="muted"> asked {r.modelRequested}</small>}
                {r.downgraded && <span class="badge badge-warn">downgraded</span>}
              </td>
              <td data-label="Tier">{r.routeTier ?? 'explicit'}</td>
              <td
                class="num"
                data-label="Tokens"
                title={`prompt ${r.promptTokens} + completion ${r.completionTokens}`}
              >
                {formatInt(r.promptTokens)} + {formatInt(r.completionTokens)}
              </td>
              <td class="num mono" data-label="Cost" data-cell="cost">
                {formatUsd(r.cost)}
                {!r.priced && <span class="badge badge-warn">unpriced</span>}
              </td>
              <td
                class="num"
                data-label="Latency"
                title={`upstream ${formatMs(r.upstreamLatencyMs)}, ${r.attempts} attempt(s)`}
              >
                {formatMs(r.gatewayLatencyMs)}
              </td>
              <td data-label="Outcome">
                <span class={`outcome outcome-${r.outcome.toLowerCase()}`}>{r.outcome}</span>
                {r.errorCode && <small class="muted"> {r.errorCode}</small>}
              </td>
              {!compact && (
                <td data-label="Key">{r.apiKey ? `${r.apiKey.name} (${r.apiKey.prefix}…)` : '—'}</td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
