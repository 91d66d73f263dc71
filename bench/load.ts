import autocannon from 'autocannon';
import { Pool } from 'undici';

/**
 * The two load shapes. Closed loop (autocannon, N connections each sending the next request as
 * soon as the last answered, optionally capped by autocannon's per-second `overallRate`) and
 * open loop (`runPaced`: one request every 1/rate seconds, whatever the answers do).
 *
 * Both stop *gracefully*: at the deadline they send nothing new but wait for every answer, so
 * no completion is abandoned in flight, every request the gateway settled was answered and
 * counted here, and the ledger check can demand equality. (Left to its own `duration`,
 * autocannon would destroy its sockets with requests in flight.)
 */

/** The longest a closed-loop run waits for its last answers after the deadline. */
const MAX_DRAIN_S = 60;

export interface Target {
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** True when a 2xx body reports a failure (GraphQL "errors"). */
  failed?: (body: string) => boolean;
}

export interface LoadResult {
  /** Measured requests that got an answer. */
  responses: number;
  ok: number;
  non2xx: number;
  /** 2xx answers whose body carried an error (GraphQL "errors"). */
  bodyErrors: number;
  /** Connection errors and timeouts. */
  netErrors: number;
  /** From the first request to the last measured answer. */
  elapsedS: number;
  /** Milliseconds, one per answered request (any status). */
  latencies: number[];
  firstError: string | undefined;
  /** Open loop only: how late the generator sent its worst request (ms). */
  maxSendLagMs?: number;
  /** Open loop only: requests not sent because a second's worth was already waiting. */
  unsent?: number;
}

/** What an open-loop run has counted so far, readable while it runs (soak mode samples it). */
export interface LiveCounts {
  readonly responses: number;
  readonly ok: number;
  /** Milliseconds, in the order the answers came. */
  readonly latencies: readonly number[];
}

class Tally implements LiveCounts {
  responses = 0;
  ok = 0;
  non2xx = 0;
  bodyErrors = 0;
  netErrors = 0;
  latencies: number[] = [];
  firstError: string | undefined;
  last = 0;

  constructor(private readonly failed: ((body: string) => boolean) | undefined) {}

  answer(status: number, body: string, latencyMs: number): void {
    this.latency(latencyMs);
    this.outcome(status, body);
  }

  latency(ms: number): void {
    this.latencies.push(ms);
  }

  outcome(status: number, body: string): void {
    this.responses++;
    this.last = performance.now();
    if (status < 200 || status >= 300) {
      this.non2xx++;
      this.firstError ??= `HTTP ${status}: ${body.slice(0, 300)}`;
    } else if (this.failed?.(body)) {
      this.bodyErrors++;
      this.firstError ??= body.slice(0, 300);
    } else {
      this.ok++;
    }
  }

  error(error: unknown): void {
    this.netErrors++;
    this.firstError ??= error instanceof Error ? error.message : String(error);
  }

  result(started: number, extra: Partial<LoadResult> = {}): LoadResult {
    const { responses, ok, non2xx, bodyErrors, netErrors, latencies, firstError } = this;
    const elapsedS = Math.max(this.last - started, 1) / 1000;
    return { responses, ok, non2xx, bodyErrors, netErrors, elapsedS, latencies, firstError, ...extra };
  }
}

export interface ClosedLoopOptions {
  connections: number;
  durationS: number;
  /** autocannon `overallRate`: requests per second over all connections (sent in per-second bursts). */
  overallRate?: number;
  /** Called once the measured window is over (before the drain). */
  onDeadline?: () => void;
}

export async function runClosedLoop(target: Target, options: ClosedLoopOptions): Promise<LoadResult> {
  const tally = new Tally(target.failed);
  const clients: autocannon.Client[] = [];
  const started = performance.now();
  const deadline = setTimeout(() => {
    options.onDeadline?.();
    // Each connection sends nothing more once its request in flight is answered; autocannon
    // ends when the last one has (it reads `responseMax` before every request it sends).
    for (const client of clients) (client as autocannon.Client & { responseMax?: number }).responseMax = 1;
  }, options.durationS * 1000);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.origin,
        connections: options.connections,
        duration: options.durationS + MAX_DRAIN_S,
        sampleInt: 100, // how soon autocannon notices that every connection is done
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        setupClient: (client) => clients.push(client),
        requests: [
          {
            method: 'POST',
            path: target.path,
            headers: { 'content-type': 'application/json', ...target.headers },
            body: target.body,
            onResponse: (status, body) => tally.outcome(status, body),
          },
        ],
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
    instance.on('response', (_client, _status, _bytes, ms) => tally.latency(ms));
  });
  clearTimeout(deadline);
  tally.netErrors += result.errors;
  return tally.result(started);
}

/**
 * Open loop: `rate` requests per second, evenly spaced, for `durationS`; waits for every answer.
 * When one second's worth of requests is already waiting, it sends no more (counted as
 * `unsent`): the target cannot keep up, and this bounds how long the run can take.
 */
export async function runPaced(
  target: Target,
  rate: number,
  durationS: number,
  hooks: { onDeadline?: () => void; onStart?: (live: LiveCounts) => void } = {},
): Promise<LoadResult> {
  const tally = new Tally(target.failed);
  hooks.onStart?.(tally);
  const pool = new Pool(target.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
  const headers = { 'content-type': 'application/json', ...target.headers };
  let waiting = 0;
  const one = async (): Promise<void> => {
    const t0 = performance.now();
    waiting++;
    try {
      const response = await pool.request({ method: 'POST', path: target.path, headers, body: target.body });
      const text = await response.body.text();
      tally.answer(response.statusCode, text, performance.now() - t0);
    } catch (error) {
      tally.error(error);
    } finally {
      waiting--;
    }
  };
  const interval = 1000 / rate;
  const total = Math.round(rate * durationS);
  const maxWaiting = Math.max(1, Math.round(rate));
  const pending: Promise<void>[] = [];
  let maxSendLagMs = 0;
  let unsent = 0;
  const started = performance.now();
  for (let slot = 0; slot < total;) {
    const due = started + slot * interval;
    const now = performance.now();
    if (now < due) {
      await new Promise((r) => setTimeout(r, due - now));
      continue;
    }
    slot++;
    if (waiting >= maxWaiting) {
      unsent++;
      continue;
    }
    maxSendLagMs = Math.max(maxSendLagMs, now - due);
    pending.push(one());
  }
  hooks.onDeadline?.();
  await Promise.all(pending);
  await pool.close();
  return tally.result(started, { maxSendLagMs, unsent });
}

export interface LatencyStats {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function latencyStats(latencies: number[]): LatencyStats {
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted.at(-1) ?? NaN };
}
