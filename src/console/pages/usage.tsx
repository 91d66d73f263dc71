import { useMemo, useState } from 'preact/hooks';
import { SpendChart, type ChartSeries } from '../components/chart';
import { LedgerTable } from '../components/ledger';
import { formatInt, formatMs, formatPercent } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { useLive } from '../lib/live-context';
import { formatUsd, sumUsd } from '../lib/money';
import {
  API_KEYS,
  MODELS,
  ROUTING_REPORT,
  USAGE_RECORDS,
  USAGE_TABLES,
  usageSeriesQuery,
  type ApiKey,
  type Model,
  type RoutingReport,
  type UsageGroup,
  type UsageRecord,
  type UsageReport,
} from '../lib/queries';
import { useSession } from '../lib/session-context';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MAX_DAYS = 92;
const MAX_HOURS = 72;

/** A UTC calendar date as YYYY-MM-DD. */
function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

interface Range {
  from: string;
  to: string;
}

function lastDays(n: number): Range {
  const today = isoDay(Date.now());
  return { from: isoDay(dayStart(today) - (n - 1) * DAY_MS), to: today };
}

/** [from, to) in ms for the inclusive UTC dates of the range. */
function bounds(range: Range): { from: number; to: number } {
  return { from: dayStart(range.from), to: dayStart(range.to) + DAY_MS };
}

/** Bucket starts (ms): UTC days, or hours (at most 72, ending at the current hour). */
function buckets(range: Range, hourly: boolean): number[] {
  const { from, to } = bounds(range);
  if (!hourly) {
    const days = Math.min(MAX_DAYS, Math.round((to - from) / DAY_MS));
    return Array.from({ length: days }, (_, i) => to - (days - i) * DAY_MS);
  }
  const end = Math.min(to, Math.floor(Date.now() / HOUR_MS) * HOUR_MS + HOUR_MS);
  const hours = Math.max(1, Math.min(MAX_HOURS, Math.round((end - from) / HOUR_MS)));
  return Array.from({ length: hours }, (_, i) => end - (hours - i) * HOUR_MS);
}

export function UsagePage() {
  const [range, setRange] = useState<Range>(() => lastDays(7));
  const [hourly, setHourly] = useState(false);
  const { from, to } = bounds(range);
  const valid = from < to;
  const span = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };

  return (
    <section class="page" aria-labelledby="usage-title">
      <div class="page-head">
        <h1 id="usage-title">Usage</h1>
      </div>
      <form class="card toolbar" aria-label="Date range" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="range-from">From (UTC)</label>
          <input
            id="range-from"
            type="date"
            value={range.from}
            max={range.to}
            onChange={(e) => e.currentTarget.value && setRange({ ...range, from: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="range-to">To (UTC, inclusive)</label>
          <input
            id="range-to"
            type="date"
            value={range.to}
            min={range.from}
            onChange={(e) => e.currentTarget.value && setRange({ ...range, to: e.currentTarget.value })}
          />
        </div>
        <div class="presets" role="group" aria-label="Presets">
          {[
            ['Today', 1],
            ['7 days', 7],
            ['30 days', 30],
            ['90 days', 90],
          ].map(([label, n]) => (
            <button key={label} type="button" class="ghost" onClick={() => setRange(lastDays(n as number))}>
              {label}
            </button>
          ))}
        </div>
        <fieldset class="segmented">
          <legend>Per</legend>
          <label>
            <input type="radio" name="granularity" checked={!hourly} onChange={() => setHourly(false)} /> day
          </label>
          <label>
            <input type="radio" name="granularity" checked={hourly} onChange={() => setHourly(true)} /> hour
          </label>
        </fieldset>
      </form>
      {!valid ? (
        <p class="form-error">The start date must not be after the end date.</p>
      ) : (
        <>
          <SpendOverTime range={range} hourly={hourly} />
          <UsageTables span={span} />
          <RoutingSection span={span} />
        </>
      )}
      <Ledger />
    </section>
  );
}

function SpendOverTime({ range, hourly: perHour }: { range: Range; hourly: boolean }) {
  // a single day per day would be one point: show its hours instead
  const oneDay = bounds(range).to - bounds(range).from <= DAY_MS;
  const hourly = perHour || oneDay;
  const starts = useMemo(() => buckets(range, hourly), [range.from, range.to, hourly]);
  const step = hourly ? HOUR_MS : DAY_MS;
  const variables = useMemo(
    () =>
      Object.fromEntries(
        starts.map((s, i) => [
          `b${i}`,
          { from: new Date(s).toISOString(), to: new Date(s + step).toISOString(), groupBy: 'MODEL' },
        ]),
      ),
    [starts, step],
  );
  const query = useMemo(() => usageSeriesQuery(starts.length), [starts.length]);
  const result = useQuery<Record<string, { groups: Pick<UsageGroup, 'key' | 'cost' | 'requests'>[] }>>(
    query,
    variables,
    [variables],
  );

  const chart = useMemo(() => {
    if (!result.data) return undefined;
    const data = result.data;
    const models = [
      ...new Set(starts.flatMap((_, i) => data[`b${i}`]?.groups.map((g) => g.key) ?? [])),
    ].sort();
    const series: ChartSeries[] = models.map((model) => {
      const exact = starts.map((_, i) => data[`b${i}`]?.groups.find((g) => g.key === model)?.cost ?? '0');
      return { label: model, exact, values: exact.map(Number) };
    });
    return { x: starts.map((s) => s / 1000), series };
  }, [result.data]);

  const truncated = hourly && bounds(range).to - bounds(range).from > MAX_HOURS * HOUR_MS;
  return (
    <section class="card" aria-labelledby="spend-title">
      <h2 id="spend-title">Spend over time, by model</h2>
      {truncated && <p class="hint">Per hour shows the last {MAX_HOURS} hours of the range.</p>}
      {oneDay && !perHour && <p class="hint">One day: shown per hour.</p>}
      {!hourly && bounds(range).to - bounds(range).from > MAX_DAYS * DAY_MS && (
        <p class="hint">Per day shows the last {MAX_DAYS} days of the range.</p>
      )}
      {result.error && <p class="form-error">{result.error.message}</p>}
      {chart && chart.series.length === 0 && <p class="empty">No calls in this range.</p>}
      {chart && chart.series.length > 0 && (
        <SpendChart
          x={chart.x}
          series={chart.series}
          hourly={hourly}
          label={`Spend per ${hourly ? 'hour' : 'day'} by model: ${chart.series.map((s) => `${s.label} ${formatUsd(sumUsd(s.exact.map((v) => v ?? '0')))}`).join(', ')}`}
        />
      )}
      {!chart && !result.error && <p class="muted">Loading…</p>}
    </section>
  );
}

function useKeyNames(): (id: string) => string {
  const { isAdmin, me } = useSession();
  const keys = useQuery<{ apiKeys: ApiKey[] }>(isAdmin ? API_KEYS : null, {}, []);
  return (id) => {
    if (!id) return '(no key)';
    const key = keys.data?.apiKeys.find((k) => k.id === id) ?? (me.apiKey?.id === id ? me.apiKey : undefined);
    return key ? `${key.name} (${key.prefix}…)` : `key ${id.slice(0, 8)}`;
  };
}

function UsageTables({ span }: { span: { from: string; to: string } }) {
  const live = useLive();
  const keyName = useKeyNames();
  const result = useQuery<{ byModel: UsageReport; byKey: UsageReport; byRoute: UsageReport }>(
    USAGE_TABLES,
    {
      model: { ...span, groupBy: 'MODEL' },
      key: { ...span, groupBy: 'API_KEY' },
      route: { ...span, groupBy: 'ROUTE' },
    },
    [span.from, span.to, live.version],
  );
  if (result.error) return <p class="form-error">{result.error.message}</p>;
  if (!result.data) return <p class="muted">Loading usage…</p>;
  const d = result.data;
  return (
    <div class="tables">
      <GroupTable title="By model" keyTitle="Model" report={d.byModel} />
      <GroupTable title="By key" keyTitle="Key" report={d.byKey} label={keyName} />
      <GroupTable title="By route" keyTitle="Tier:model" report={d.byRoute} />
    </div>
  );
}

function GroupTable({
  title,
  keyTitle,
  report,
  label,
}: {
  title: string;
  keyTitle: string;
  report: UsageReport;
  label?: (key: string) => string;
}) {
  return (
    <section class="card" aria-label={title}>
      <h2>{title}</h2>
      {report.groups.length === 0 ? (
        <p class="empty">No calls in this range.</p>
      ) : (
        <div class="table-wrap" role="region" aria-label={`${title} table`} tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">{keyTitle}</th>
                <th scope="col" class="num">
                  Calls
                </th>
                <th scope="col" class="num">
                  Tokens
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {report.groups.map((g) => (
                <tr key={g.key}>
                  <th scope="row" class="mono wrap">
                    {label ? label(g.key) : g.key}
                  </th>
                  <td class="num">{formatInt(g.requests)}</td>
                  <td
                    class="num"
                    title={`prompt ${formatInt(g.promptTokens)} + completion ${formatInt(g.completionTokens)}`}
                  >
                    {formatInt(g.totalTokens)}
                  </td>
                  <td class="num mono">{formatUsd(g.cost)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td class="num">{formatInt(report.total.requests)}</td>
                <td
                  class="num"
                  title={`prompt ${formatInt(report.total.promptTokens)} + completion ${formatInt(report.total.completionTokens)}`}
                >
                  {formatInt(report.total.totalTokens)}
                </td>
                <td class="num mono">{formatUsd(report.total.cost)}</td>
              </tr>
            </tfoot>
          </table>
        </div>
      )}
    </section>
  );
}

function RoutingSection({ span }: { span: { from: string; to: string } }) {
  const live = useLive();
  const models = useQuery<{ models: Model[] }>(MODELS, {}, []);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const names = models.data?.models.map((m) => m.name) ?? [];
  const baseline = chosen ?? (names.includes('gpt-4.1') ? 'gpt-4.1' : names[0]);
  const report = useQuery<{ routingReport: RoutingReport }>(
    baseline ? ROUTING_REPORT : null,
    { baseline, ...span },
    [baseline, span.from, span.to, live.version],
  );
  const r = report.data?.routingReport;
  const saved = r && !r.savings.startsWith('-');
  return (
    <section class="card" aria-labelledby="routing-title">
      <div class="card-head">
        <h2 id="routing-title">Routing report</h2>
        <div class="field inline">
          <label for="baseline">Savings against</label>
          <select id="baseline" value={baseline} onChange={(e) => setChosen(e.currentTarget.value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
      </div>
      {report.error && <p class="form-error">{report.error.message}</p>}
      {r && (
        <>
          <dl class="stats">
            <div>
              <dt>Requests</dt>
              <dd>{formatInt(r.requests)}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd class="mono">{formatUsd(r.cost)}</dd>
            </div>
            <div>
              <dt>Average per request</dt>
              <dd class="mono">{formatUsd(r.averageCostPerRequest)}</dd>
            </div>
            <div>
              <dt>All on {r.baselineModel}</dt>
              <dd class="mono">{formatUsd(r.baselineCost)}</dd>
            </div>
            <div class={saved ? 'good' : 'bad'}>
              <dt>{saved ? 'Saved' : 'Extra cost'}</dt>
              <dd class="mono" data-figure="savings">
                {formatUsd(r.savings)} <small>({formatPercent(r.savingsRatio)})</small>
              </dd>
            </div>
            <div>
              <dt>Failures · unpriced</dt>
              <dd>
                {formatInt(r.failures)} · {formatInt(r.unpricedRequests)}
              </dd>
            </div>
          </dl>
          {r.routes.length > 0 && (
            <div class="table-wrap" role="region" aria-label="Routes" tabIndex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Route</th>
                    <th scope="col" class="num">
                      Requests
                    </th>
                    <th scope="col" class="num">
                      Failures
                    </th>
                    <th scope="col" class="num">
                      Tokens
                    </th>
                    <th scope="col" class="num">
                      Cost
                    </th>
                    <th scope="col" class="num">
                      Per request
                    </th>
                    <th scope="col" class="num">
                      On baseline
                    </th>
                    <th scope="col" class="num">
                      Savings
                    </th>
                    <th scope="col" class="num">
                      Latency
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {r.routes.map((route) => (
                    <tr key={route.key}>
                      <th scope="row" class="mono">
                        {route.key}
                      </th>
                      <td class="num">{formatInt(route.requests)}</td>
                      <td class="num">{formatInt(route.failures)}</td>
                      <td class="num">{formatInt(route.promptTokens + route.completionTokens)}</td>
                      <td class="num mono">{formatUsd(route.cost)}</td>
                      <td class="num mono">{formatUsd(route.costPerRequest)}</td>
                      <td class="num mono">{formatUsd(route.baselineCost)}</td>
                      <td class="num mono">{formatUsd(route.savings)}</td>
                      <td class="num" title={`upstream ${formatMs(route.averageUpstreamLatencyMs)}`}>
                        {formatMs(route.averageLatencyMs)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

const PAGE_SIZE = 20;

function Ledger() {
  const live = useLive();
  // cursors of the pages before the current one; [] is the newest page
  const [cursors, setCursors] = useState<(string | null)[]>([]);
  const after = cursors.length ? cursors[cursors.length - 1] : null;
  const page = useQuery<{
    usageRecords: { nodes: UsageRecord[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
  }>(
    USAGE_RECORDS,
    { first: PAGE_SIZE, after },
    // the newest page follows the live events; older pages stay put
    [after, after === null ? live.version : 0],
  );
  const data = page.data?.usageRecords;
  return (
    <section class="card" aria-labelledby="ledger-title">
      <div class="card-head">
        <h2 id="ledger-title">Ledger</h2>
        <span class="muted">newest first, all dates · page {cursors.length + 1}</span>
      </div>
      {page.error && <p class="form-error">{page.error.message}</p>}
      {data && <LedgerTable records={data.nodes} caption="Usage records" />}
      <div class="pager">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors([])}>
          Newest
        </button>
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← Newer
        </button>
        <button
          type="button"
          disabled={!data?.pageInfo.hasNextPage}
          onClick={() => data?.pageInfo.endCursor && setCursors([...cursors, data.pageInfo.endCursor])}
        >
          Older →
        </button>
      </div>
    </section>
  );
}
