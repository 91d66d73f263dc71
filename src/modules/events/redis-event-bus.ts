import Redis from 'ioredis';
import type { Logger } from '../../shared/logger';
import {
  decodeEvent,
  encodeEvent,
  LocalEventBus,
  type BusEvents,
  type BusTopic,
  type EventBus,
} from './event-bus';

const CHANNEL = 'tollgate:events';

/** Events across instances through Redis pub/sub (when REDIS_URL is set). ioredis reconnects by itself. */
export class RedisEventBus implements EventBus {
  private readonly local = new LocalEventBus();

  private constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly log: Logger,
  ) {}

  static async start(url: string, log: Logger): Promise<RedisEventBus> {
    const pub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    const sub = new Redis(url, { lazyConnect: true });
    await Promise.all([pub.connect(), sub.connect()]);
    const bus = new RedisEventBus(pub, sub, log);
    sub.on('message', (_channel: string, text: string) => {
      const decoded = decodeEvent(text);
      if (decoded) bus.local.publish(decoded.topic, decoded.event);
    });
    await sub.subscribe(CHANNEL);
    return bus;
  }

  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void {
    this.pub.publish(CHANNEL, encodeEvent(topic, event)).catch((error: unknown) => {
      this.log.warn({ err: error, topic }, 'event publish failed');
    });
  }

  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]> {
    return this.local.subscribe(topic, projectId);
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
