import { Client } from 'pg';
import { backoffDelay } from '../../shared/backoff';
import type { DataSource } from 'typeorm';
import type { Logger } from '../../shared/logger';
import {
  decodeEvent,
  encodeEvent,
  LocalEventBus,
  type BusEvents,
  type BusTopic,
  type EventBus,
} from './event-bus';

const CHANNEL = 'tollgate_events';
/** 250 ms, doubling to 10 s. */
const RECONNECT = { baseMs: 250, maxMs: 10_000 };

/**
 * Events across instances through Postgres LISTEN/NOTIFY: publish is a NOTIFY on the pool; one
 * dedicated connection per instance LISTENs and fans out locally (our own events included, so
 * every subscriber sees every event exactly once, whichever instance caused it). Reconnects
 * with backoff if the listening connection drops.
 */
export class PgEventBus implements EventBus {
  private readonly local = new LocalEventBus();
  private client: Client | undefined;
  private closed = false;
  /** Reconnects since the connection was last up. */
  private failures = 0;

  private constructor(
    private readonly url: string,
    private readonly db: DataSource,
    private readonly log: Logger,
  ) {}

  static async start(url: string, db: DataSource, log: Logger): Promise<PgEventBus> {
    const bus = new PgEventBus(url, db, log);
    await bus.connect();
    return bus;
  }

  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void {
    this.db
      .query('SELECT pg_notify($1, $2)', [CHANNEL, encodeEvent(topic, event)])
      .catch((error: unknown) => {
        this.log.warn({ err: error, topic }, 'event publish failed');
      });
  }

  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]> {
    return this.local.subscribe(topic, projectId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      const decoded = msg.payload ? decodeEvent(msg.payload) : null;
      if (decoded) this.local.publish(decoded.topic, decoded.event);
    });
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.scheduleReconnect();
    };
    client.on('error', (error) => {
      this.log.warn({ err: error }, 'event listener connection failed; reconnecting');
      lost();
    });
    client.on('end', lost);
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
    this.failures = 0;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = backoffDelay(++this.failures, RECONNECT);
    setTimeout(() => {
      if (!this.closed) this.connect().catch(() => this.scheduleReconnect());
    }, delay).unref();
  }
}
