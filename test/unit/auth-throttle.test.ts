import { AuthThrottle } from '../../src/modules/projects/auth-throttle';
import { UnauthenticatedError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/logger';

describe('AuthThrottle', () => {
  const log = createLogger('silent');

  it('lets 10 failures a minute through freely, then doubles the wait from 100 ms up to 5 s', () => {
    const throttle = new AuthThrottle(log);
    const t0 = 1_000_000;
    for (let i = 0; i < 9; i++) throttle.failed('a', t0);
    expect(throttle.delayFor('a', t0)).toBe(0);
    throttle.failed('a', t0);
    expect(throttle.delayFor('a', t0)).toBe(100);
    throttle.failed('a', t0);
    expect(throttle.delayFor('a', t0)).toBe(200);
    for (let i = 0; i < 10; i++) throttle.failed('a', t0);
    expect(throttle.delayFor('a', t0)).toBe(5_000);
    expect(throttle.delayFor('b', t0)).toBe(0); // per source
    expect(throttle.delayFor('a', t0 + 60_001)).toBe(0); // the window passed
  });

  it('counts only authentication failures of the attempts it checks', async () => {
    const throttle = new AuthThrottle(log);
    const refused = () => Promise.reject(new UnauthenticatedError('bad key'));
    const broken = () => Promise.reject(new Error('database down'));
    for (let i = 0; i < 10; i++) await expect(throttle.check('a', broken)).rejects.toThrow('database down');
    expect(throttle.delayFor('a')).toBe(0);
    for (let i = 0; i < 10; i++) await expect(throttle.check('a', refused)).rejects.toThrow('bad key');
    expect(throttle.delayFor('a')).toBe(100);
    expect(await throttle.check('b', () => Promise.resolve('ok'))).toBe('ok');
  });
});

describe('AuthThrottle under a flood of sources', () => {
  it('keeps a busy source throttled while 150,000 other sources fail once each', () => {
    const throttle = new AuthThrottle(createLogger('silent'));
    const t0 = 1_000_000;
    for (let i = 0; i < 12; i++) throttle.failed('attacker', t0);
    for (let i = 0; i < 150_000; i++) {
      throttle.failed(`flood-${i}`, t0);
      if (i % 10_000 === 0) throttle.failed('attacker', t0); // still failing: recently used
    }
    expect(throttle.delayFor('attacker', t0)).toBe(5_000);
  });

  it('does not hold back a valid key from a throttled source', async () => {
    const throttle = new AuthThrottle(createLogger('silent'));
    for (let i = 0; i < 20; i++) throttle.failed('shared', Date.now());
    const started = performance.now();
    expect(await throttle.check('shared', () => Promise.resolve('valid'))).toBe('valid');
    expect(performance.now() - started).toBeLessThan(50);
  });
});
