import { AuthThrottle } from '../../src/server/auth-throttle';
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
