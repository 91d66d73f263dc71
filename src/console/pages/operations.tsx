import {
  formatDateTime,
  formatInt,
  formatMs,
  formatPercent,
  formatRelative,
  formatTime,
} from '../lib/format';
import { useNow, useQuery } from '../lib/hooks';
import { formatPrice } from '../lib/money';
import {
  MODELS,
  OPERATIONS,
  type Circuit,
  type LimiterStats,
  type Model,
  type Provider,
  type RateStatus,
} from '../lib/queries';

const REFRESH_MS = 3000;

/** Providers, upstream keys, circuits and limiter buckets, refreshed every few seconds. */
export function OperationsPage() {
  const ops = useQuery<{ providers: Provider[]; limiterStats: LimiterStats }>(OPERATIONS, {}, [], {
    pollMs: REFRESH_MS,
  });
  const models = useQuery<{ models: Model[] }>(MODELS, {}, [], { pollMs: REFRESH_MS * 2 });
  const now = useNow(REFRESH_MS);
  const stats = ops.data?.limiterStats;
  return (
    <section class="page" aria-labelledby="ops-title">
      <div class="page-head">
        <h1 id="ops-title">Operations</h1>
        <p class="muted">
          {ops.updatedAt
            ? `Updated ${formatTime(new Date(ops.updatedAt))}, every ${REFRESH_MS / 1000} s`
            : 'Loading…'}{' '}
          · figures of the instance that answered
        </p>
      </div>
      {ops.error && <p class="form-error">{ops.error.message}</p>}
      {stats && (
        <dl class="stats card" aria-label="Limiter">
          <div>
            <dt>Upstream calls in flight</dt>
            <dd data-figure="active">{formatInt(stats.active)}</dd>
          </div>
          <div>
            <dt>Waiting for a slot</dt>
            <dd data-figure="queued">{formatInt(stats.queued)}</dd>
          </div>
          <div>
            <dt>Project rate limit</dt>
            <dd>
              <RateText rate={stats.project} />
            </dd>
          </div>
          <div>
            <dt>Gateway limits counted</dt>
            <dd>{stats.distributed ? 'across instances (Redis)' : 'per instance'}</dd>
          </div>
        </dl>
      )}
      {ops.data?.providers.map((p) => (
        <ProviderCard
          key={p.id}
          provider={p}
          models={models.data?.models.filter((m) => m.provider === p.name) ?? []}
          now={now}
        />
      ))}
      {ops.data && ops.data.providers.length === 0 && <p class="empty">No providers configured.</p>}
      {stats && stats.gatewayKeys.length > 0 && (
        <section class="card" aria-labelledby="gw-title">
          <h2 id="gw-title">Gateway keys with limits</h2>
          <div class="table-wrap" role="region" aria-label="Gateway key limits" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Limits</th>
                  <th scope="col" class="num">
                    Used
                  </th>
                </tr>
              </thead>
              <tbody>
                {stats.gatewayKeys.map((k) => (
                  <tr key={k.apiKeyId}>
                    <th scope="row">
                      {k.name} <span class="muted mono">({k.prefix}…)</span>
                    </th>
                    <td>
                      <RateText rate={k} />
                    </td>
                    <td class="num">
                      <Bar ratio={k.utilization} label={`${k.name} rate bucket`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </section>
  );
}

function RateText({ rate }: { rate: RateStatus }) {
  if (rate.rpmLimit === null && rate.tpmLimit === null) return <>none</>;
  const parts = [];
  if (rate.rpmLimit !== null)
    parts.push(`${formatInt(rate.availableRequests)} of ${formatInt(rate.rpmLimit)} req/min left`);
  if (rate.tpmLimit !== null)
    parts.push(`${formatInt(rate.availableTokens)} of ${formatInt(rate.tpmLimit)} tokens/min left`);
  return <>{parts.join(' · ')}</>;
}

function Bar({ ratio, label }: { ratio: number; label: string }) {
  const pct = Math.max(0, Math.min(1, ratio));
  return (
    <span class="bar-wrap">
      <meter class="bar" min={0} max={1} low={0.75} high={0.9} optimum={0} value={pct} aria-label={label} />
      <span class="bar-text">{formatPercent(ratio)}</span>
    </span>
  );
}

function CircuitBadge({
  circuit,
  now,
}: {
  circuit: Pick<Circuit, 'state' | 'retryAt' | 'consecutiveFailures'>;
  now: number;
}) {
  const cls = circuit.state === 'CLOSED' ? 'ok' : circuit.state === 'OPEN' ? 'crit' : 'warn';
  return (
    <span
      class={`badge badge-${cls}`}
      title={`${circuit.consecutiveFailures} consecutive failures`}
      data-circuit={circuit.state}
    >
      {circuit.state.replace('_', '-')}
      {circuit.state === 'OPEN' && circuit.retryAt ? ` · probe ${formatRelative(circuit.retryAt, now)}` : ''}
    </span>
  );
}

function ProviderCard({ provider: p, models, now }: { provider: Provider; models: Model[]; now: number }) {
  const circuits = new Map(p.circuits.map((c) => [c.model, c]));
  return (
    <section class="card" aria-labelledby={`prov-${p.id}`} data-provider={p.name}>
      <div class="card-head">
        <h2 id={`prov-${p.id}`}>
          {p.name} <span class="badge">{p.kind}</span>
        </h2>
        <span class="muted">
          {p.baseUrl ?? 'built-in'} · {formatInt(p.requestsPerMinute)} req/min and{' '}
          {formatInt(p.maxConcurrency)} at once per key · timeout {formatMs(p.timeoutMs)}
          {p.simulation &&
            ` · simulated latency ${formatMs(p.simulation.latencyMs)}, failure rate ${formatPercent(p.simulation.failureRate)}`}
        </span>
      </div>
      <h3>Upstream keys</h3>
      <div class="table-wrap" role="region" aria-label={`${p.name} upstream keys`} tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Source</th>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Slots
              </th>
              <th scope="col" class="num">
                Queue
              </th>
              <th scope="col" class="num">
                RPM tokens
              </th>
              <th scope="col">Load</th>
            </tr>
          </thead>
          <tbody>
            {p.upstreamKeys.map((k) => (
              <tr key={k.index} data-upstream-key={k.index}>
                <td>{k.index}</td>
                <td class="mono">{k.source}</td>
                <td>
                  {k.failed ? (
                    <span
                      class="badge badge-crit"
                      title={k.failedUntil ? `until ${formatDateTime(k.failedUntil)}` : undefined}
                    >
                      refused{k.failedUntil ? ` · back ${formatRelative(k.failedUntil, now)}` : ''}
                    </span>
                  ) : (
                    <span class="badge badge-ok">ready</span>
                  )}
                </td>
                <td class="num">
                  {formatInt(k.active)} / {formatInt(k.maxConcurrency)}
                </td>
                <td class="num">{formatInt(k.queued)}</td>
                <td class="num">
                  {formatInt(k.availableTokens)} / {formatInt(k.requestsPerMinute)}
                </td>
                <td>
                  <Bar ratio={k.utilization} label={`key ${k.index} load`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Models and circuits</h3>
      <div class="table-wrap" role="region" aria-label={`${p.name} models`} tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Tiers</th>
              <th scope="col" class="num">
                Prompt
              </th>
              <th scope="col" class="num">
                Completion
              </th>
              <th scope="col">Circuit</th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => {
              const c = circuits.get(m.name);
              return (
                <tr key={m.id} class={m.enabled ? undefined : 'disabled'}>
                  <th scope="row" class="mono">
                    {m.name}
                    {!m.enabled && <span class="badge">disabled</span>}
                  </th>
                  <td>{m.tiers.join(', ').toLowerCase() || '—'}</td>
                  <td class="num mono">{formatPrice(m.promptPrice)}</td>
                  <td class="num mono">{formatPrice(m.completionPrice)}</td>
                  <td>
                    {c ? (
                      <CircuitBadge circuit={c} now={now} />
                    ) : (
                      <CircuitBadge
                        circuit={{
                          state: (m.circuit?.state as Circuit['state']) ?? 'CLOSED',
                          retryAt: null,
                          consecutiveFailures: 0,
                        }}
                        now={now}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
