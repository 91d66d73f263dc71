import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from './api';
import { useSession } from './session-context';

export interface QueryState<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Fetches again (keeps showing the previous data meanwhile). */
  refresh(): void;
  /** When the shown data arrived (ms). */
  updatedAt: number | undefined;
}

/**
 * A query over HTTP, re-run when `deps` change, by `refresh()`, and every `pollMs` while the
 * tab is visible. Answers that arrive out of order are dropped.
 */
export function useQuery<T>(
  query: string | null,
  variables: Record<string, unknown>,
  deps: readonly unknown[],
  options: { pollMs?: number } = {},
): QueryState<T> {
  const { key } = useSession();
  const [state, setState] = useState<Omit<QueryState<T>, 'refresh'>>({
    data: undefined,
    error: undefined,
    loading: query !== null,
    updatedAt: undefined,
  });
  const seq = useRef(0);
  const vars = useRef(variables);
  vars.current = variables;

  const run = useCallback(() => {
    if (query === null) return;
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    gql<T>(key, query, vars.current).then(
      (data) => {
        if (mine === seq.current) setState({ data, error: undefined, loading: false, updatedAt: Date.now() });
      },
      (error: unknown) => {
        if (mine !== seq.current) return;
        const apiError = error instanceof ApiError ? error : new ApiError(String(error), 'UNKNOWN');
        setState((s) => ({ ...s, error: apiError, loading: false }));
      },
    );
  }, [key, query, ...deps]);

  useEffect(() => {
    run();
    return () => {
      seq.current++;
    };
  }, [run]);

  useInterval(run, options.pollMs);
  return { ...state, refresh: run };
}

/** Calls `fn` every `ms` while the document is visible (none when ms is undefined). */
export function useInterval(fn: () => void, ms: number | undefined): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (!ms) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') latest.current();
    }, ms);
    return () => clearInterval(timer);
  }, [ms]);
}

/** A value that re-renders every `ms` (relative times, countdowns). */
export function useNow(ms = 30_000): number {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}
