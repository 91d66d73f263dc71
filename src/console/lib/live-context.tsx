import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { gql } from './api';
import { createLiveClient, type ConnectionState, type LiveClient } from './live';
import { ALERT_FEED, ALERTS, BUDGET_METRICS, BUDGET_STATUS, type Alert, type BudgetStatus } from './queries';
import { useSession } from './session-context';

/** What every page may show live: budgets, alerts and the connection behind them. */
export interface Live {
  client: LiveClient;
  connection: ConnectionState;
  budgets: BudgetStatus[] | undefined;
  budgetsError: string | undefined;
  /** Newest first. */
  alerts: Alert[];
  /** Ids of alerts that arrived over the subscription during this session. */
  freshAlertIds: ReadonlySet<string>;
  /** Bumped on every budgetMetrics event and every reconnection: pages refetch what they show. */
  version: number;
  lastEventAt: number | undefined;
  /** Reads budgets and alerts again over HTTP (after an edit that sends no event). */
  resync(): void;
}

const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error('useLive outside LiveProvider');
  return live;
}

const ALERT_DAYS = 7;

export function LiveProvider({ children }: { children: ComponentChildren }) {
  const { key, signOut } = useSession();
  const client = useMemo(
    () => createLiveClient(key, (detail) => signOut(`The live connection refused the key: ${detail}`)),
    [key],
  );
  const [connection, setConnection] = useState<ConnectionState>({
    status: 'connecting',
    retries: 0,
    since: Date.now(),
  });
  const [budgets, setBudgets] = useState<BudgetStatus[] | undefined>(undefined);
  const [budgetsError, setBudgetsError] = useState<string | undefined>(undefined);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [version, setVersion] = useState(0);
  const [lastEventAt, setLastEventAt] = useState<number | undefined>(undefined);
  const resyncRef = useRef<() => void>(() => undefined);
  const resync = useCallback(() => resyncRef.current(), []);

  useEffect(() => {
    let alive = true;
    let metricsEvents = 0;
    // Snapshots over HTTP: at start and after every reconnection (events may have been missed).
    const snapshot = () => {
      const eventsBefore = metricsEvents;
      gql<{ budgetStatus: BudgetStatus[] }>(key, BUDGET_STATUS).then(
        (d) => {
          // a metrics event that came in meanwhile is at least as new as this snapshot
          if (!alive || metricsEvents !== eventsBefore) return;
          setBudgets(d.budgetStatus);
          setBudgetsError(undefined);
        },
        (e: unknown) => alive && setBudgetsError(e instanceof Error ? e.message : String(e)),
      );
      gql<{ alerts: Alert[] }>(key, ALERTS, { days: ALERT_DAYS }).then(
        (d) => alive && setAlerts((current) => mergeAlerts(current, d.alerts)),
        () => undefined,
      );
    };
    resyncRef.current = snapshot;
    snapshot();
    const offState = client.onState(setConnection);
    const offConnected = client.onConnected((reconnected) => {
      if (reconnected) {
        snapshot();
        setVersion((v) => v + 1);
      }
    });
    const offMetrics = client.subscribe<{ budgetMetrics: { at: string; budgets: BudgetStatus[] } }>(
      BUDGET_METRICS,
      {},
      {
        next: (d) => {
          metricsEvents++;
          setBudgets(d.budgetMetrics.budgets);
          setVersion((v) => v + 1);
          setLastEventAt(Date.now());
        },
      },
    );
    const offAlerts = client.subscribe<{ alerts: Alert }>(
      ALERT_FEED,
      {},
      {
        next: (d) => {
          setAlerts((current) => mergeAlerts(current, [d.alerts]));
          setFresh((s) => new Set([...s, d.alerts.id]));
          setLastEventAt(Date.now());
        },
      },
    );
    return () => {
      alive = false;
      offState();
      offConnected();
      offMetrics();
      offAlerts();
      client.dispose();
    };
  }, [client, key]);

  const live: Live = {
    client,
    connection,
    budgets,
    budgetsError,
    alerts,
    freshAlertIds: fresh,
    version,
    lastEventAt,
    resync,
  };
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>;
}

function mergeAlerts(current: Alert[], incoming: Alert[]): Alert[] {
  const byId = new Map(current.map((a) => [a.id, a]));
  for (const a of incoming) byId.set(a.id, a);
  return [...byId.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 200);
}
