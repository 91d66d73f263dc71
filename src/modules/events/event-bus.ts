import { createPubSub } from '@graphql-yoga/subscription';

/** What subscribers receive. Payloads are plain JSON so they can cross instances. */
export interface BusEvents {
  budgetMetrics: { projectId: string; at: string };
  alert: { projectId: string; alertId: string };
  /** An API key was revoked: every instance closes its sockets and forgets it. */
  keyRevoked: { projectId: string; keyId: string };
}
export type BusTopic = keyof BusEvents;
export const BUS_TOPICS: readonly BusTopic[] = ['budgetMetrics', 'alert', 'keyRevoked'];

/** Subscribe with this instead of a project id to hear a topic's events of every project (server-side only). */
export const ALL_PROJECTS = '*';

/** Live events, scoped by project, delivered to subscribers on every instance. */
export interface EventBus {
  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void;
  /** A project's events of `topic`, or every project's with ALL_PROJECTS. */
  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]>;
  close(): Promise<void>;
}

type Channels = { [K in `${BusTopic}:${string}`]: [BusEvents[BusTopic]] };

/** One process only: the embedded default, and the local fan-out of the shared buses. */
export class LocalEventBus implements EventBus {
  private readonly pubsub = createPubSub<Channels>();

  publish<T extends BusTopic>(topic: T, event: BusEvents[T]): void {
    this.pubsub.publish(`${topic}:${event.projectId}`, event);
    this.pubsub.publish(`${topic}:${ALL_PROJECTS}`, event);
  }

  subscribe<T extends BusTopic>(topic: T, projectId: string): AsyncIterable<BusEvents[T]> {
    return this.pubsub.subscribe(`${topic}:${projectId}`) as AsyncIterable<BusEvents[T]>;
  }

  async close(): Promise<void> {}
}

/** The wire format shared by the cross-instance buses. */
export function encodeEvent(topic: BusTopic, event: BusEvents[BusTopic]): string {
  return JSON.stringify({ t: topic, e: event });
}

export function decodeEvent(text: string): { topic: BusTopic; event: BusEvents[BusTopic] } | null {
  try {
    const parsed = JSON.parse(text) as { t?: unknown; e?: { projectId?: unknown } };
    if (!BUS_TOPICS.includes(parsed.t as BusTopic) || typeof parsed.e?.projectId !== 'string') return null;
    return { topic: parsed.t as BusTopic, event: parsed.e as BusEvents[BusTopic] };
  } catch {
    return null;
  }
}
