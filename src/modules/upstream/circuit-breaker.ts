/** CLOSED: calls pass. OPEN: calls are refused. HALF_OPEN: the next call is a probe. */
export const CircuitState = { CLOSED: 'CLOSED', OPEN: 'OPEN', HALF_OPEN: 'HALF_OPEN' } as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

export interface BreakerPolicy {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before one probe is let through. */
  openMs: number;
}

export const DEFAULT_BREAKER: BreakerPolicy = { failureThreshold: 5, openMs: 60_000 };

/** The provider a breaker belongs to, as much as an alert needs. */
export interface BreakerOwner {
  id: string;
  projectId: string;
  name: string;
}

export interface CircuitOpened {
  projectId: string;
  providerId: string;
  provider: string;
  model: string;
  openedAt: Date;
  retryAt: Date;
  failures: number;
}

export interface CircuitView {
  providerId: string;
  model: string;
  state: CircuitState;
  consecutiveFailures: number;
  openedAt: Date | null;
  /** When an open circuit lets its next probe through. */
  retryAt: Date | null;
}

/** What `tryPass` granted: an ordinary call through a closed circuit, or the half-open probe. */
export type Pass = 'CALL' | 'PROBE';

/**
 * One upstream model's breaker. CLOSED counts consecutive failures and opens at the threshold;
 * OPEN refuses everything until `openMs` has passed, then (HALF_OPEN) lets exactly one probe
 * through: its success closes the circuit, its failure opens it again for another `openMs`.
 * Only the probe decides a half-open or open circuit: a call that passed before the circuit
 * opened and ends while it is open says nothing about the model now, success or failure.
 */
export class CircuitBreaker {
  private state: CircuitState = 'CLOSED';
  private failures = 0;
  private openedAt = 0;
  private probing = false;

  constructor(private readonly policy: BreakerPolicy) {}

  /** The state as a reader sees it: an open circuit whose time is up reads HALF_OPEN. */
  stateAt(now = Date.now()): CircuitState {
    if (this.state === 'OPEN' && now - this.openedAt >= this.policy.openMs) return 'HALF_OPEN';
    return this.state;
  }

  /** Whether a call could pass now, without claiming anything (routing uses this). */
  isAvailable(now = Date.now()): boolean {
    const state = this.stateAt(now);
    return state === 'CLOSED' || (state === 'HALF_OPEN' && !this.probing);
  }

  /** Claims the right to call: always when closed, only the single probe when half-open; null when refused. */
  tryPass(now = Date.now()): Pass | null {
    const state = this.stateAt(now);
    if (state === 'CLOSED') return 'CALL';
    if (state === 'OPEN' || this.probing) return null;
    this.state = 'HALF_OPEN';
    this.probing = true;
    return 'PROBE';
  }

  onSuccess(pass: Pass): void {
    if (pass === 'PROBE' || this.state === 'CLOSED') {
      this.state = 'CLOSED';
      this.failures = 0;
      this.probing = false;
    }
  }

  /** Records a failure; returns true when this failure opened the circuit. */
  onFailure(pass: Pass, now = Date.now()): boolean {
    if (pass === 'CALL' && this.state !== 'CLOSED') return false; // late news from before the opening
    this.failures++;
    if (pass === 'PROBE' || this.failures >= this.policy.failureThreshold) {
      this.state = 'OPEN';
      this.openedAt = now;
      this.probing = false;
      return true;
    }
    return false;
  }

  /** A passed call ended with no verdict on the model (its key was refused, a 429): frees the probe. */
  onNeutral(pass: Pass): void {
    if (pass === 'PROBE') this.probing = false;
  }

  view(now = Date.now()): Omit<CircuitView, 'providerId' | 'model'> {
    const state = this.stateAt(now);
    const opened = state !== 'CLOSED';
    return {
      state,
      consecutiveFailures: this.failures,
      openedAt: opened ? new Date(this.openedAt) : null,
      retryAt: opened ? new Date(this.openedAt + this.policy.openMs) : null,
    };
  }
}

/**
 * The breakers of this instance, one per provider and model, made on first use. `onOpen` hears
 * every opening (the composition root turns it into a CIRCUIT_OPEN alert).
 */
export class BreakerRegistry {
  private readonly breakers = new Map<
    string,
    { providerId: string; model: string; breaker: CircuitBreaker }
  >();

  constructor(
    private readonly policy: BreakerPolicy,
    private readonly onOpen: (event: CircuitOpened) => void = () => undefined,
  ) {}

  get(providerId: string, model: string): CircuitBreaker {
    const key = `${providerId}\u0000${model}`;
    let entry = this.breakers.get(key);
    if (!entry) {
      entry = { providerId, model, breaker: new CircuitBreaker(this.policy) };
      this.breakers.set(key, entry);
    }
    return entry.breaker;
  }

  isAvailable(providerId: string, model: string, now = Date.now()): boolean {
    return this.breakers.get(`${providerId}\u0000${model}`)?.breaker.isAvailable(now) ?? true;
  }

  /** Records a failure and announces an opening. */
  fail(provider: BreakerOwner, model: string, pass: Pass, now = Date.now()): void {
    const breaker = this.get(provider.id, model);
    if (!breaker.onFailure(pass, now)) return;
    const view = breaker.view(now);
    this.onOpen({
      projectId: provider.projectId,
      providerId: provider.id,
      provider: provider.name,
      model,
      openedAt: view.openedAt!,
      retryAt: view.retryAt!,
      failures: view.consecutiveFailures,
    });
  }

  view(providerId: string, model: string, now = Date.now()): CircuitView {
    const breaker = this.breakers.get(`${providerId}\u0000${model}`)?.breaker;
    const base = breaker?.view(now) ?? {
      state: 'CLOSED',
      consecutiveFailures: 0,
      openedAt: null,
      retryAt: null,
    };
    return { providerId, model, ...base };
  }

  /** Every breaker this instance has used for these providers. */
  list(providerIds: ReadonlySet<string>, now = Date.now()): CircuitView[] {
    return [...this.breakers.values()]
      .filter((e) => providerIds.has(e.providerId))
      .map((e) => ({ providerId: e.providerId, model: e.model, ...e.breaker.view(now) }));
  }
}
