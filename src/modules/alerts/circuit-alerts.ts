import type { Logger } from '../../shared/logger';
import type { CircuitOpened } from '../upstream/circuit-breaker';
import type { AlertService } from './alert.service';

/**
 * Turns each circuit opening into a CIRCUIT_OPEN alert, announced to subscribers and queued for
 * webhooks. The dedupe key carries the opening time, so each opening alerts exactly once (and a
 * circuit that re-opens after a failed probe alerts again). Off the request path.
 */
export function circuitAlerts(alerts: AlertService, log: Logger): (event: CircuitOpened) => void {
  return (event) => {
    const openedAt = event.openedAt.toISOString();
    log.warn(
      { provider: event.provider, model: event.model, failures: event.failures, retryAt: event.retryAt },
      'circuit opened',
    );
    alerts
      .raise(event.projectId, {
        budgetId: null,
        periodStart: null,
        type: 'CIRCUIT_OPEN',
        severity: 'CRITICAL',
        threshold: null,
        utilization: 0,
        snapshot: {
          provider: event.provider,
          model: event.model,
          failures: event.failures,
          openedAt,
          retryAt: event.retryAt.toISOString(),
        },
        dedupeKey: `CIRCUIT_OPEN:${event.providerId}:${event.model}:${openedAt}`,
        message: `Circuit opened for ${event.model} on ${event.provider} after ${event.failures} consecutive failures; next probe at ${event.retryAt.toISOString()}`,
      })
      .then((alert) => alerts.announce(event.projectId, alert ? [alert] : []))
      .catch((error: unknown) => log.error({ err: error }, 'could not record a CIRCUIT_OPEN alert'));
  };
}
