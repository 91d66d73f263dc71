import {
  BreakerRegistry,
  CircuitBreaker,
  type CircuitOpened,
} from '../../src/modules/limits/circuit-breaker';

const policy = { failureThreshold: 3, openMs: 1000 };

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, not before; a success in between resets the count', () => {
    const b = new CircuitBreaker(policy);
    expect(b.onFailure(0)).toBe(false);
    expect(b.onFailure(0)).toBe(false);
    b.onSuccess();
    expect(b.onFailure(0)).toBe(false);
    expect(b.onFailure(0)).toBe(false);
    expect(b.stateAt(0)).toBe('CLOSED');
    expect(b.onFailure(10)).toBe(true);
    expect(b.stateAt(10)).toBe('OPEN');
    expect(b.tryPass(500)).toBe(false);
    expect(b.isAvailable(1009)).toBe(false);
  });

  it('half-opens after its timeout and lets exactly one probe through; success closes', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure(0);
    expect(b.stateAt(1000)).toBe('HALF_OPEN');
    expect(b.isAvailable(1000)).toBe(true);
    expect(b.tryPass(1000)).toBe(true);
    expect(b.tryPass(1000)).toBe(false); // the probe is out
    expect(b.isAvailable(1000)).toBe(false);
    b.onSuccess();
    expect(b.stateAt(1001)).toBe('CLOSED');
    expect(b.tryPass(1001)).toBe(true);
    expect(b.view(1001)).toEqual({ state: 'CLOSED', consecutiveFailures: 0, openedAt: null, retryAt: null });
  });

  it('a failed probe opens it again for another full timeout', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure(0);
    expect(b.tryPass(1500)).toBe(true);
    expect(b.onFailure(1600)).toBe(true);
    expect(b.stateAt(2599)).toBe('OPEN');
    expect(b.stateAt(2600)).toBe('HALF_OPEN');
  });

  it('a neutral outcome (key refused) frees the probe without deciding', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure(0);
    expect(b.tryPass(1000)).toBe(true);
    b.onNeutral();
    expect(b.tryPass(1000)).toBe(true);
  });
});

describe('BreakerRegistry', () => {
  it('keeps one breaker per provider and model and announces each opening once, with its time', () => {
    const opened: CircuitOpened[] = [];
    const registry = new BreakerRegistry(policy, (e) => opened.push(e));
    const provider = { id: 'p1', projectId: 'proj', name: 'upstream' };
    for (let i = 0; i < 5; i++) registry.fail(provider, 'gpt-4.1', 100);
    registry.fail(provider, 'deepseek-chat', 100);
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ projectId: 'proj', model: 'gpt-4.1', failures: 3 });
    expect(opened[0].openedAt.getTime()).toBe(100);
    expect(opened[0].retryAt.getTime()).toBe(1100);
    expect(registry.isAvailable('p1', 'deepseek-chat', 100)).toBe(true);
    expect(registry.isAvailable('p1', 'gpt-4.1', 100)).toBe(false);
    expect(registry.isAvailable('p2', 'gpt-4.1', 100)).toBe(true);
    // the failed probe is a new opening, announced again
    registry.get('p1', 'gpt-4.1').tryPass(1200);
    registry.fail(provider, 'gpt-4.1', 1300);
    expect(opened).toHaveLength(2);
    expect(opened[1].openedAt.getTime()).toBe(1300);
  });
});
