import {
  BreakerRegistry,
  CircuitBreaker,
  type CircuitOpened,
} from '../../src/modules/upstream/circuit-breaker';

const policy = { failureThreshold: 3, openMs: 1000 };

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, not before; a success in between resets the count', () => {
    const b = new CircuitBreaker(policy);
    expect(b.onFailure('CALL', 0)).toBe(false);
    expect(b.onFailure('CALL', 0)).toBe(false);
    b.onSuccess('CALL');
    expect(b.onFailure('CALL', 0)).toBe(false);
    expect(b.onFailure('CALL', 0)).toBe(false);
    expect(b.stateAt(0)).toBe('CLOSED');
    expect(b.onFailure('CALL', 10)).toBe(true);
    expect(b.stateAt(10)).toBe('OPEN');
    expect(b.tryPass(500)).toBeNull();
    expect(b.isAvailable(1009)).toBe(false);
  });

  it('half-opens after its timeout and lets exactly one probe through; success closes', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure('CALL', 0);
    expect(b.stateAt(1000)).toBe('HALF_OPEN');
    expect(b.isAvailable(1000)).toBe(true);
    expect(b.tryPass(1000)).toBe('PROBE');
    expect(b.tryPass(1000)).toBeNull(); // the probe is out
    expect(b.isAvailable(1000)).toBe(false);
    b.onSuccess('PROBE');
    expect(b.stateAt(1001)).toBe('CLOSED');
    expect(b.tryPass(1001)).toBe('CALL');
    expect(b.view(1001)).toEqual({ state: 'CLOSED', consecutiveFailures: 0, openedAt: null, retryAt: null });
  });

  it('a success of a call that passed before the circuit opened does not close it', () => {
    const b = new CircuitBreaker(policy);
    const slow = b.tryPass(0); // passes while closed, answers late
    expect(slow).toBe('CALL');
    for (let i = 0; i < 3; i++) b.onFailure('CALL', 5);
    expect(b.stateAt(10)).toBe('OPEN');
    b.onSuccess(slow!);
    expect(b.stateAt(10)).toBe('OPEN');
    expect(b.isAvailable(10)).toBe(false);
    // nor does it decide while the probe is out
    expect(b.tryPass(1005)).toBe('PROBE');
    b.onSuccess('CALL');
    expect(b.isAvailable(1006)).toBe(false);
    expect(b.view(1006).state).toBe('HALF_OPEN');
    // and a late failure does not re-open or extend it
    expect(b.onFailure('CALL', 1007)).toBe(false);
    b.onSuccess('PROBE');
    expect(b.stateAt(1008)).toBe('CLOSED');
  });

  it('a failed probe opens it again for another full timeout', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure('CALL', 0);
    expect(b.tryPass(1500)).toBe('PROBE');
    expect(b.onFailure('PROBE', 1600)).toBe(true);
    expect(b.stateAt(2599)).toBe('OPEN');
    expect(b.stateAt(2600)).toBe('HALF_OPEN');
  });

  it('a neutral outcome (key refused, 429) frees the probe without deciding', () => {
    const b = new CircuitBreaker(policy);
    for (let i = 0; i < 3; i++) b.onFailure('CALL', 0);
    expect(b.tryPass(1000)).toBe('PROBE');
    b.onNeutral('PROBE');
    expect(b.tryPass(1000)).toBe('PROBE');
  });
});

describe('BreakerRegistry', () => {
  it('keeps one breaker per provider and model and announces each opening once, with its time', () => {
    const opened: CircuitOpened[] = [];
    const registry = new BreakerRegistry(policy, (e) => opened.push(e));
    const provider = { id: 'p1', projectId: 'proj', name: 'upstream' };
    for (let i = 0; i < 5; i++) registry.fail(provider, 'gpt-4.1', 'CALL', 100);
    registry.fail(provider, 'deepseek-chat', 'CALL', 100);
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ projectId: 'proj', model: 'gpt-4.1', failures: 3 });
    expect(opened[0]!.openedAt.getTime()).toBe(100);
    expect(opened[0]!.retryAt.getTime()).toBe(1100);
    expect(registry.isAvailable('p1', 'deepseek-chat', 100)).toBe(true);
    expect(registry.isAvailable('p1', 'gpt-4.1', 100)).toBe(false);
    expect(registry.isAvailable('p2', 'gpt-4.1', 100)).toBe(true);
    // the failed probe is a new opening, announced again
    const probe = registry.get('p1', 'gpt-4.1').tryPass(1200);
    registry.fail(provider, 'gpt-4.1', probe!, 1300);
    expect(opened).toHaveLength(2);
    expect(opened[1]!.openedAt.getTime()).toBe(1300);
  });
});
