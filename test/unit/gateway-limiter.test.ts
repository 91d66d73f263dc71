import crypto from 'node:crypto';
import { GatewayLimiter, type LimitedCaller } from '../../src/modules/limits/gateway-limiter';
import { MemoryRateStore, type RateStore } from '../../src/modules/limits/rate.store';
import { RedisRateStore } from '../../src/modules/limits/redis-rate.store';
import { createLogger } from '../../src/shared/logger';
import type { DomainError } from '../../src/shared/errors';

// The Redis store runs when REDIS_URL says where Redis is (CI sets it); a fresh machine has none.
const REDIS_URL = process.env.REDIS_URL;
const log = createLogger('silent');

async function refusal(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    return error as DomainError;
  }
  throw new Error('expected a refusal');
}

/** The same behaviour from both stores: in memory, and in Redis (shared by instances). */
const stores: [string, () => Promise<RateStore>][] = [
  ['memory', () => Promise.resolve(new MemoryRateStore())],
];
if (REDIS_URL) {
  stores.push(['redis', () => RedisRateStore.connect(REDIS_URL, `tollgate:test:${crypto.randomUUID()}:`)]);
}

describe.each(stores)('GatewayLimiter on the %s store', (_name, makeStore) => {
  let store: RateStore;
  const caller = (over: Partial<LimitedCaller> = {}): LimitedCaller => ({
    keyId: crypto.randomUUID(),
    projectId: crypto.randomUUID(),
    rpmLimit: null,
    tpmLimit: null,
    ...over,
  });

  beforeAll(async () => {
    store = await makeStore();
  });
  afterAll(() => store.close());

  it('admits up to the key RPM, then refuses with the exact wait for the next token', async () => {
    const limiter = new GatewayLimiter(store, { rpm: null, tpm: null }, log);
    const who = caller({ rpmLimit: 6 }); // one request per 10 s
    const started = Date.now();
    for (let i = 0; i < 6; i++) await limiter.admit(who, 10);
    const error = await refusal(limiter.admit(who, 10));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.details.limit).toBe('KEY_RPM');
    const wait = error.details.retryAfterMs as number;
    expect(wait).toBeLessThanOrEqual(10_000);
    expect(wait).toBeGreaterThanOrEqual(10_000 - elapsed - 5);
  });

  it('charges tokens up front (capped at the limit), refuses all-or-nothing, and refunds what was unused', async () => {
    const limiter = new GatewayLimiter(store, { rpm: null, tpm: null }, log);
    const who = caller({ rpmLimit: 100, tpmLimit: 6000 }); // 100 tokens per second
    const admitted = await limiter.admit(who, 5000);
    const error = await refusal(limiter.admit(who, 2000));
    expect(error.details.limit).toBe('KEY_TPM');
    // 1,000 tokens short at 0.1 per ms: 10 s, less what refilled meanwhile
    expect(error.details.retryAfterMs).toBeGreaterThan(9_000);
    expect(error.details.retryAfterMs).toBeLessThanOrEqual(10_000);
    // the refused call took no request either
    expect((await limiter.peekKey(who)).requests).toBe(99);
    admitted.refundUnusedTokens(1000); // 4,000 of the 5,000 tokens were not used
    await new Promise((r) => setTimeout(r, 50));
    const left = await limiter.peekKey(who);
    expect(left.tokens).toBeGreaterThanOrEqual(5000);
    expect(left.tokens).toBeLessThanOrEqual(6000);
    await limiter.admit(who, 2000);
  });

  it('a call larger than the whole limit waits for a full bucket instead of never passing', async () => {
    const limiter = new GatewayLimiter(store, { rpm: null, tpm: null }, log);
    const who = caller({ tpmLimit: 600 });
    await limiter.admit(who, 10_000);
    const error = await refusal(limiter.admit(who, 10_000));
    expect(error.details.retryAfterMs).toBeGreaterThan(59_000);
    expect(error.details.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('project limits apply across the keys of the project', async () => {
    const limiter = new GatewayLimiter(store, { rpm: 3, tpm: null }, log);
    const projectId = crypto.randomUUID();
    await limiter.admit(caller({ projectId }), 1);
    await limiter.admit(caller({ projectId }), 1);
    await limiter.admit(caller({ projectId }), 1);
    const error = await refusal(limiter.admit(caller({ projectId }), 1));
    expect(error.details.limit).toBe('PROJECT_RPM');
    await limiter.admit(caller(), 1); // another project is untouched
  });
});

describe('GatewayLimiter when the shared store fails', () => {
  it('falls back to per-instance buckets instead of refusing everything', async () => {
    const broken: RateStore = {
      distributed: true,
      take: () => Promise.reject(new Error('redis down')),
      give: () => Promise.reject(new Error('redis down')),
      peek: () => Promise.reject(new Error('redis down')),
      close: () => Promise.resolve(),
    };
    const limiter = new GatewayLimiter(broken, { rpm: null, tpm: null }, log);
    const who = { keyId: 'k', projectId: 'p', rpmLimit: 1, tpmLimit: null };
    await limiter.admit(who, 1);
    expect((await refusal(limiter.admit(who, 1))).code).toBe('RATE_LIMITED');
  });
});
