import { createPubSub } from '@graphql-yoga/subscription';

/** What subscribers receive. Payloads are plain JSON so they can cross instances. */
export interface BusEvents {
  budgetMetrics: { projectId: string; at: string };
  alert: { projectId: string; alertId: string };
}
export type BusTopic = keyof BusEvents;

/**
 * Live events, scoped by project. In-process here; a cross-instance transport (Postgres
 * LISTEN/NOTIFY or Redis) plugs in behind the same two methods.
 */
export interface EventBus {
  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void;
  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]>;
  close(): Promise<void>;
}

type Channels = { [K in `${BusTopic}:${string}`]: [BusEvents[BusTopic]] };

export class LocalEventBus implements EventBus {
  private readonly pubsub = createPubSub<Channels>();

  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void {
    this.pubsub.publish(`${topic}:${event.projectId}`, event);
  }

  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]> {
    return this.pubsub.subscribe(`${topic}:${projectId}`) as AsyncIterable<BusEvents[T]>;
  }

  async close(): Promise<void> {}
}
