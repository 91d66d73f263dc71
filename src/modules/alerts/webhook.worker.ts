import { request, type Dispatcher } from 'undici';
import { backoffDelay } from '../../shared/backoff';
import { EgressRefusedError, type EgressPolicy } from '../../shared/egress';
import { In, type DataSource } from 'typeorm';
import type { Logger } from '../../shared/logger';
import { WebhookEndpoint } from './webhook-endpoint.entity';
import { sign, SIGNATURE_HEADER, TIMESTAMP_HEADER, type WebhookService } from './webhook.service';

const BATCH = 20;
const LEASE_SECONDS = 60;
const TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 12;

interface DueRow {
  id: string;
  endpoint_id: string;
  payload: Record<string, unknown>;
  attempts: number;
}

/**
 * Delivers the webhook outbox: claims due rows with a lease (SKIP LOCKED, so several instances
 * share the work), posts each signed body, and reschedules failures with exponential backoff.
 * It never runs on a completion's path.
 */
export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Aborted by stop(): a receiver that never answers must not hold up a shutdown. */
  private abort = new AbortController();
  /** Every delivery connects through the operator's egress policy (checked on the resolved address). */
  private readonly dispatcher: Dispatcher;

  constructor(
    private readonly db: DataSource,
    private readonly webhooks: WebhookService,
    private readonly log: Logger,
    private readonly pollMs: number,
    private readonly backoffMs: number,
    egress: EgressPolicy,
  ) {
    this.dispatcher = egress.dispatcher({ keepAliveTimeout: 10_000, connections: 16 });
  }

  start(): void {
    this.stopped = false;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    this.schedule(0);
  }

  /** Runs a round soon (after an alert was queued). */
  nudge(): void {
    if (!this.stopped && !this.running) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.round()
        .then(() => undefined)
        .catch((error: unknown) => this.log.warn({ err: error }, 'webhook round failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.schedule(this.pollMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass over the due deliveries; returns how many it attempted. */
  async round(): Promise<number> {
    const [due = []]: DueRow[][] = await this.db.query(
      `UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '${LEASE_SECONDS} seconds'
        WHERE d.id IN (SELECT id FROM webhook_deliveries WHERE status = 'PENDING' AND next_attempt_at <= now()
                        ORDER BY next_attempt_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING d.id, d.endpoint_id, d.payload, d.attempts`,
    );
    if (due.length === 0) return 0;
    const ids = [...new Set(due.map((d) => d.endpoint_id))];
    const found = await this.db.getRepository(WebhookEndpoint).find({ where: { id: In(ids) } });
    const endpoints = new Map(found.map((e) => [e.id, e]));
    await Promise.all(due.map((row) => this.deliver(row, endpoints.get(row.endpoint_id))));
    return due.length;
  }

  private async deliver(row: DueRow, endpoint: WebhookEndpoint | undefined): Promise<void> {
    const attempts = row.attempts + 1;
    if (!endpoint) return;
    const body = JSON.stringify(row.payload);
    const timestamp = Math.floor(Date.now() / 1000).toString();
    let status: number | null = null;
    let error: string | null = null;
    /** The real reason, for the operator's log only. */
    let cause: string | undefined;
    try {
      const response = await request(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tollgate-Webhook/1',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: sign(this.webhooks.openSecret(endpoint), timestamp, body),
          'x-tollgate-delivery': row.id,
        },
        body,
        dispatcher: this.dispatcher,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
        signal: AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), this.abort.signal]),
      });
      status = response.statusCode;
      await response.body.dump();
      if (status >= 300) error = `receiver answered ${status}`;
    } catch (e) {
      if (this.abort.signal.aborted) {
        // Cut short by our own shutdown: not the receiver's failure. Give the lease back so the
        // next instance up retries it now.
        await this.db.query(`UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1`, [row.id]);
        return;
      }
      error = deliveryError(e);
      cause = e instanceof Error ? e.message : String(e);
    }
    if (error === null) {
      await this.db.query(
        `UPDATE webhook_deliveries SET status = 'DELIVERED', attempts = $2, last_status_code = $3,
                last_error = NULL, delivered_at = now() WHERE id = $1`,
        [row.id, attempts, status],
      );
      return;
    }
    const backoffSeconds = backoffDelay(attempts, { baseMs: this.backoffMs, maxMs: 3_600_000 }) / 1000;
    await this.db.query(
      `UPDATE webhook_deliveries SET attempts = $2, last_status_code = $3, last_error = $4,
              status = CASE WHEN $2 >= ${MAX_ATTEMPTS} THEN 'FAILED' ELSE 'PENDING' END,
              next_attempt_at = now() + make_interval(secs => $5)
        WHERE id = $1`,
      [row.id, attempts, status, error.slice(0, 1000), backoffSeconds],
    );
    this.log.info({ delivery: row.id, attempts, error, cause }, 'webhook delivery failed; will retry');
  }
}

/**
 * What a delivery's `lastError` says when no HTTP answer came: the same words whether the port was
 * closed, filtered, reset or slow, so the log cannot be used to map a network; only the operator's
 * own refusal is named as such.
 */
function deliveryError(error: unknown): string {
  const cause = error instanceof Error ? ((error as { cause?: unknown }).cause ?? error) : error;
  if (error instanceof EgressRefusedError || cause instanceof EgressRefusedError) {
    return 'refused: the address is not one the operator allows webhooks to reach';
  }
  return 'no HTTP response from the receiver (connection failed or timed out)';
}
