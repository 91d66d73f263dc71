import type { Logger } from '../../shared/logger';
import type { EventBus } from '../events/event-bus';

/**
 * Coalesces budget-metric pushes: a settle marks its project dirty, and at most one event per
 * project goes out per window. Subscribers read the figures when the event arrives, so the last
 * message of a burst is exact.
 */
export class MetricsPublisher {
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly bus: EventBus,
    private readonly windowMs: number,
    private readonly log: Logger,
  ) {}

  touch(projectId: string): void {
    if (this.pending.has(projectId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(projectId);
      try {
        this.bus.publish('budgetMetrics', { projectId, at: new Date().toISOString() });
      } catch (error) {
        this.log.warn({ err: error }, 'budget metrics publish failed');
      }
    }, this.windowMs);
    this.pending.set(projectId, timer);
  }

  /** Sends whatever is pending now (at shutdown). */
  flush(): void {
    for (const [projectId, timer] of this.pending) {
      clearTimeout(timer);
      this.bus.publish('budgetMetrics', { projectId, at: new Date().toISOString() });
    }
    this.pending.clear();
  }
}
