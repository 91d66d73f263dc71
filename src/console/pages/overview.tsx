import { useEffect } from 'preact/hooks';
import { AlertFeed } from '../components/alert-feed';
import { BudgetGauge } from '../components/gauge';
import { LedgerTable } from '../components/ledger';
import { formatTime } from '../lib/format';
import { useNow, useQuery } from '../lib/hooks';
import { useLive } from '../lib/live-context';
import { API_KEYS, USAGE_RECORDS, type ApiKey, type Budget, type UsageRecord } from '../lib/queries';
import { useSession } from '../lib/session-context';

/** Scope names for budgets: the project, or a key's name (ADMIN keys can list keys). */
export function useScopeName(): (budget: Budget) => string {
  const { isAdmin, me } = useSession();
  const keys = useQuery<{ apiKeys: ApiKey[] }>(isAdmin ? API_KEYS : null, {}, []);
  return (budget) => {
    if (!budget.apiKeyId) return 'project';
    if (budget.apiKeyId === me.apiKey?.id) return `key ${me.apiKey.name}`;
    const key = keys.data?.apiKeys.find((k) => k.id === budget.apiKeyId);
    return key ? `key ${key.name}` : `key ${budget.apiKeyId.slice(0, 8)}`;
  };
}

export function OverviewPage() {
  const live = useLive();
  const { isAdmin } = useSession();
  const now = useNow(15_000);
  const scopeName = useScopeName();
  const ledger = useQuery<{ usageRecords: { nodes: UsageRecord[] } }>(USAGE_RECORDS, { first: 8 }, [
    live.version,
  ]);
  const { resync } = live;
  useEffect(() => resync(), [resync]);

  return (
    <section class="page" aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">Overview</h1>
        <p class="muted" aria-live="off">
          {live.lastEventAt
            ? `Last live update ${formatTime(new Date(live.lastEventAt))}`
            : 'Updates arrive live as calls settle.'}
        </p>
      </div>
      <h2 class="section-title">Budgets</h2>
      {live.budgetsError && <p class="form-error">{live.budgetsError}</p>}
      {!live.budgets ? (
        <p class="muted">Loading budgets…</p>
      ) : live.budgets.length === 0 ? (
        <p class="empty">This project has no budget yet{isAdmin ? ': add one on the Admin page.' : '.'}</p>
      ) : (
        <div class="gauges" data-gauges>
          {live.budgets.map((s) => (
            <BudgetGauge key={s.budget.id} status={s} scope={scopeName(s.budget)} now={now} />
          ))}
        </div>
      )}
      <div class="columns">
        <section class="card" aria-labelledby="alerts-title">
          <h2 id="alerts-title">Alerts</h2>
          <div aria-live="polite" data-alert-feed>
            <AlertFeed alerts={live.alerts} fresh={live.freshAlertIds} now={now} />
          </div>
        </section>
        <section class="card" aria-labelledby="recent-title">
          <h2 id="recent-title">Recent calls</h2>
          {ledger.error && <p class="form-error">{ledger.error.message}</p>}
          {ledger.data && (
            <LedgerTable records={ledger.data.usageRecords.nodes} caption="Recent calls" compact />
          )}
        </section>
      </div>
    </section>
  );
}
