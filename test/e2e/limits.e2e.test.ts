import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { eventually, TestServer, user, type GqlResult } from '../support/harness';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Several instances share a Postgres server and Redis (CI sets both); the embedded database is one instance's own.
const sharedPostgres = process.env.DATABASE_URL && process.env.REDIS_URL ? describe : describe.skip;
// Sleeps kept on purpose: each is the time the test is about passing (a refused key's cooldown, a
// retryAfterMs running out), not a wait for something to happen.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

type Completion = GqlResult<{ createChatCompletion: Record<string, unknown> }>;
const codeOf = (r: Completion) => r.errors?.[0]?.extensions?.code;

interface ProviderSettings {
  maxConcurrency?: number;
  requestsPerMinute?: number;
  timeoutMs?: number;
  upstreamKeys?: string[];
}

/** A project whose provider is the fake upstream with these limits, deepseek-chat on it, and a client key. */
async function project(
  t: TestServer,
  upstream: FakeUpstream,
  name: string,
  settings: ProviderSettings = {},
  keyLimits: { rpmLimit?: number; tpmLimit?: number } = {},
): Promise<{ admin: string; key: string; keyId: string }> {
  const { adminKey } = await t.createProject(name);
  await t.ok(
    `mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }`,
    {
      input: {
        name: 'upstream',
        kind: 'OPENAI_COMPATIBLE',
        baseUrl: upstream.baseUrl,
        upstreamKeys: ['sk-test-upstream'],
        ...settings,
      },
    },
    adminKey,
  );
  await t.ok(
    `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
    {
      input: {
        name: 'deepseek-chat',
        provider: 'upstream',
        promptPrice: '0.14',
        completionPrice: '0.42',
        tiers: ['SIMPLE', 'MODERATE', 'COMPLEX'],
      },
    },
    adminKey,
  );
  const created = await t.ok<{ createApiKey: { apiKey: { id: string }; key: string } }>(
    `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } key } }`,
    { input: { name: 'client', role: 'CLIENT', ...keyLimits } },
    adminKey,
  );
  return { admin: adminKey, key: created.createApiKey.key, keyId: created.createApiKey.apiKey.id };
}

describe('limits, retries, key rotation and idempotency (real server, fake upstream)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  const callTimes: number[] = [];

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({
      TOLLGATE_RETRY_ATTEMPTS: '3',
      TOLLGATE_RETRY_BASE_DELAY_MS: '50',
      TOLLGATE_RETRY_MAX_DELAY_MS: '100',
      TOLLGATE_RETRY_AFTER_MAX_MS: '2000',
      TOLLGATE_BREAKER_FAILURES: '1000',
      TOLLGATE_UPSTREAM_QUEUE_TIMEOUT_MS: '10000',
      TOLLGATE_UPSTREAM_KEY_COOLDOWN_MS: '3000',
    });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  beforeEach(() => {
    upstream.reset();
    callTimes.length = 0;
  });

  /** Wraps a handler to note when each upstream call arrived. */
  const timed =
    (handler: FakeUpstream['handler']): FakeUpstream['handler'] =>
    (call, res, index) => {
      callTimes.push(performance.now());
      return handler(call, res, index);
    };

  describe('retries', () => {
    it('honours Retry-After: 1 (waits about a second, not less) and records both attempts', async () => {
      const { key } = await project(t, upstream, 'retry-after');
      upstream.handler = timed((call, res, index) =>
        index === 0
          ? sendJson(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' })
          : sendJson(res, 200, completionBody(call.body.model, 10, 5)),
      );
      const result = await t.complete(key, {
        model: 'deepseek-chat',
        messages: user('Hi'),
        requestId: 'ra-1',
      });
      expect(result.data!.createChatCompletion).toMatchObject({ attempts: 2 });
      const gap = callTimes[1]! - callTimes[0]!;
      expect(gap).toBeGreaterThanOrEqual(995); // timers may fire a hair early against performance.now
      expect(gap).toBeLessThan(2000);
      const [row] = (await t.app.db.query(
        `SELECT attempts, outcome FROM usage_records WHERE request_id = 'ra-1'`,
      )) as {
        attempts: number;
        outcome: string;
      }[];
      expect(row).toEqual({ attempts: 2, outcome: 'SUCCESS' });
    });

    it('backs off within the cap on 503s, gives up after the configured attempts, and records them', async () => {
      const { key } = await project(t, upstream, 'backoff');
      upstream.handler = timed((_call, res) => sendJson(res, 503, { error: { message: 'unavailable' } }));
      const result = await t.complete(key, {
        model: 'deepseek-chat',
        messages: user('Hi'),
        requestId: 'bo-1',
      });
      expect(codeOf(result)).toBe('UPSTREAM_UNAVAILABLE');
      expect(upstream.calls).toHaveLength(3);
      // Full jitter under min(100, 50 x 2^(n-1)): each gap is at most 100 ms plus the round trip
      // (the reference's fixed 1 s x 2^n backoff would fail this).
      expect(callTimes[1]! - callTimes[0]!).toBeLessThan(50 + 250);
      expect(callTimes[2]! - callTimes[1]!).toBeLessThan(100 + 250);
      const [row] = (await t.app.db.query(
        `SELECT attempts, outcome, error_code FROM usage_records WHERE request_id = 'bo-1'`,
      )) as Record<string, unknown>[];
      expect(row).toEqual({ attempts: 3, outcome: 'UPSTREAM_ERROR', error_code: 'UPSTREAM_UNAVAILABLE' });
    });

    it('does not wait out a Retry-After past the cap, and does not retry a 400', async () => {
      const { key } = await project(t, upstream, 'no-retry');
      upstream.handler = (_call, res) =>
        sendJson(res, 429, { error: { message: 'later' } }, { 'retry-after': '30' });
      const started = Date.now();
      expect(codeOf(await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') }))).toBe(
        'UPSTREAM_UNAVAILABLE',
      );
      expect(Date.now() - started).toBeLessThan(1000);
      expect(upstream.calls).toHaveLength(1);
      upstream.handler = (_call, res) => sendJson(res, 400, { error: { message: 'bad request' } });
      expect(codeOf(await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') }))).toBe(
        'UPSTREAM_ERROR',
      );
      expect(upstream.calls).toHaveLength(2);
    });

    it('retries a connection reset and a timeout', async () => {
      const { key } = await project(t, upstream, 'resets', { timeoutMs: 300 });
      upstream.handler = (call, res, index) => {
        if (index === 0) return void res.socket?.destroy();
        if (index === 1) return; // never answers: the gateway times out at 300 ms
        sendJson(res, 200, completionBody(call.body.model, 10, 5));
      };
      const result = await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') });
      expect(result.errors).toBeUndefined();
      expect(result.data!.createChatCompletion).toMatchObject({ attempts: 3 });
      expect(upstream.calls).toHaveLength(3);
    });
  });

  describe('upstream key rotation', () => {
    it('moves past a 401 key, skips it during its cooldown, fails when every key is refused, and retries keys after it', async () => {
      const { key } = await project(t, upstream, 'rotation', { upstreamKeys: ['sk-first', 'sk-second'] });
      let refused = ['Bearer sk-first'];
      upstream.handler = (call, res) =>
        refused.includes(call.authorization ?? '')
          ? sendJson(res, 401, { error: { message: 'invalid key' } })
          : sendJson(res, 200, completionBody(call.body.model, 10, 5));
      const auths = () => upstream.calls.map((c) => c.authorization);

      const first = await t.complete(key, {
        model: 'deepseek-chat',
        messages: user('Hi'),
        requestId: 'kr-1',
      });
      expect(first.data!.createChatCompletion).toMatchObject({ attempts: 2 });
      expect(auths()).toEqual(['Bearer sk-first', 'Bearer sk-second']);
      const [row] = (await t.app.db.query(
        `SELECT attempts FROM usage_records WHERE request_id = 'kr-1'`,
      )) as {
        attempts: number;
      }[];
      expect(row!.attempts).toBe(2);

      await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') });
      expect(auths()).toEqual(['Bearer sk-first', 'Bearer sk-second', 'Bearer sk-second']);
      const status = await t.ok<{
        providers: { upstreamKeys: { index: number; source: string; failed: boolean }[] }[];
      }>(
        '{ providers { upstreamKeys { index source failed failedUntil active queued availableTokens } } }',
        {},
        key,
      );
      expect(status.providers[0]!.upstreamKeys.map((k) => [k.index, k.source, k.failed])).toEqual([
        [1, 'sealed #1', true],
        [2, 'sealed #2', false],
      ]);
      expect(JSON.stringify(status)).not.toMatch(/sk-first|sk-second/);

      // Now the second key is refused too: the call fails, and the next one does not even try.
      refused = ['Bearer sk-first', 'Bearer sk-second'];
      const allRefused = await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') });
      expect(codeOf(allRefused)).toBe('UPSTREAM_UNAVAILABLE');
      expect(JSON.stringify(allRefused.errors)).not.toMatch(/sk-/);
      expect(upstream.calls).toHaveLength(4);
      expect(codeOf(await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') }))).toBe(
        'UPSTREAM_UNAVAILABLE',
      );
      expect(upstream.calls).toHaveLength(4);

      // After the cooldown the keys are tried again.
      refused = ['Bearer sk-first'];
      await sleep(3100);
      const back = await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') });
      expect(back.errors).toBeUndefined();
      expect(auths().slice(4)).toEqual(['Bearer sk-first', 'Bearer sk-second']);
    });
  });

  describe('upstream concurrency and RPM', () => {
    it('200 concurrent calls through a cap of 10: the upstream never sees more than 10 at once', async () => {
      const { key } = await project(t, upstream, 'concurrency', { maxConcurrency: 10 });
      // The upstream holds every answer until the gate opens, so the queue fills up behind the cap.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      upstream.handler = async (call, res) => {
        await gate;
        setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 10, 5)), 5);
      };
      const calls = Array.from({ length: 200 }, (_, i) =>
        t.complete(key, { model: 'deepseek-chat', messages: user(`call ${i}`) }),
      );
      const stats = () =>
        t.ok<{ limiterStats: { active: number; queued: number; upstreamKeys: { utilization: number }[] } }>(
          '{ limiterStats { active queued upstreamKeys { utilization maxConcurrency } } }',
          {},
          key,
        );
      const busy = await eventually(stats, (s) => s.limiterStats.queued >= 150, 30_000);
      expect(busy.limiterStats.active).toBe(10);
      expect(upstream.active).toBe(10);
      expect(busy.limiterStats.upstreamKeys[0]!.utilization).toBeGreaterThan(15);
      open();
      const results = await Promise.all(calls);
      expect(results.filter((r) => r.errors)).toEqual([]);
      expect(upstream.calls).toHaveLength(200);
      expect(upstream.maxActive).toBe(10);
      expect((await stats()).limiterStats).toMatchObject({ active: 0, queued: 0 });
    }, 60_000);

    it('waits for the upstream key RPM bucket to refill rather than exceeding it', async () => {
      const { key } = await project(t, upstream, 'upstream-rpm', { requestsPerMinute: 30 }); // one per 2 s
      upstream.handler = timed((call, res) => sendJson(res, 200, completionBody(call.body.model, 10, 5)));
      const firstStart = performance.now(); // before the bucket's first take
      for (let i = 0; i < 30; i++) await t.complete(key, { model: 'deepseek-chat', messages: user(`${i}`) });
      const burstEnd = performance.now();
      const waited = await t.complete(key, { model: 'deepseek-chat', messages: user('one more') });
      expect(waited.errors).toBeUndefined();
      // The 31st request reached the upstream one token-interval (2 s) after the bucket's first take,
      // which came after firstStart (timers may fire up to ~10 ms early here).
      expect(callTimes[30]! - firstStart).toBeGreaterThanOrEqual(1990);
      expect(callTimes[30]! - burstEnd).toBeGreaterThan(0);
    }, 30_000);
  });

  describe('gateway key and project limits', () => {
    it('RPM: refuses with an exact retryAfterMs, before reserving anything; passes once that time is up', async () => {
      const { admin, key } = await project(t, upstream, 'key-rpm', {}, { rpmLimit: 10 }); // one per 6 s: a burst of 10 fits well inside one interval, even on a slow database
      await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
      const started = performance.now();
      const burst = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          t.complete(key, { model: 'deepseek-chat', messages: user(`${i}`) }),
        ),
      );
      expect(burst.filter((r) => r.errors)).toEqual([]);
      const refused = await t.complete(key, {
        model: 'deepseek-chat',
        messages: user('x'),
        requestId: 'rpm-x',
      });
      const elapsed = performance.now() - started;
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'KEY_RPM' });
      const retryAfterMs = refused.errors![0]!.extensions!.retryAfterMs as number;
      expect(retryAfterMs).toBeLessThanOrEqual(6000);
      expect(retryAfterMs).toBeGreaterThanOrEqual(6000 - elapsed - 1);
      // Refused before the reservation: no hold was ever taken for it, and the upstream never saw it.
      expect(await t.count('reservations', 'request_id = $1', ['rpm-x'])).toBe(0);
      expect(upstream.calls).toHaveLength(10);

      const refusedAt = performance.now();
      await sleep(retryAfterMs / 2);
      const early = await t.complete(key, { model: 'deepseek-chat', messages: user('x') });
      expect(codeOf(early)).toBe('RATE_LIMITED');
      const rest = early.errors![0]!.extensions!.retryAfterMs as number;
      expect(rest).toBeGreaterThan(0);
      expect(rest).toBeLessThanOrEqual(retryAfterMs - (performance.now() - refusedAt) + 1 + 50);
      await sleep(rest);
      const onTime = await t.complete(key, { model: 'deepseek-chat', messages: user('x') });
      expect(onTime.errors).toBeUndefined();
    }, 30_000);

    it('the rate limit comes before the budget: an over-budget call by a limited key is RATE_LIMITED, not BUDGET_EXCEEDED', async () => {
      const { admin, key } = await project(t, upstream, 'limit-first', {}, { rpmLimit: 1 });
      const other = await t.createKey(admin, 'CLIENT');
      await t.createBudget(admin, { period: 'DAILY', limitUsd: '0.0001' });
      expect(
        (await t.complete(key, { model: 'deepseek-chat', messages: user('a'), maxTokens: 50 })).errors,
      ).toBeUndefined();
      // 1,000 completion tokens x 0.42 = $0.00042 worst case: more than the budget holds.
      const big = { model: 'deepseek-chat', messages: user('b'), maxTokens: 1000 };
      expect(codeOf(await t.complete(key, big))).toBe('RATE_LIMITED');
      expect(codeOf(await t.complete(other.key, big))).toBe('BUDGET_EXCEEDED');
    });

    it('TPM: charges prompt + maxTokens and refuses with the exact wait for the missing tokens', async () => {
      const { key } = await project(t, upstream, 'key-tpm', {}, { tpmLimit: 12_000 }); // 0.2 tokens per ms
      const messages = user('Count my tokens, please.');
      const estimate = await t.ok<{ estimateCost: { promptTokens: number } }>(
        'query($input: EstimateCostInput!) { estimateCost(input: $input) { promptTokens } }',
        { input: { model: 'deepseek-chat', messages } },
        key,
      );
      const p = estimate.estimateCost.promptTokens;
      // The upstream uses every allowed token, so nothing is given back after settling.
      upstream.handler = (call, res) =>
        sendJson(res, 200, completionBody(call.body.model, p, call.body.max_tokens ?? 0));
      const started = performance.now();
      const first = await t.complete(key, { model: 'deepseek-chat', messages, maxTokens: 12_000 - p - 100 });
      expect(first.errors).toBeUndefined();
      const refused = await t.complete(key, { model: 'deepseek-chat', messages, maxTokens: 200 });
      const elapsed = performance.now() - started;
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'KEY_TPM' });
      // 100 tokens left, p + 200 wanted: (p + 100) tokens at 0.2 per ms, less what refilled meanwhile.
      const retryAfterMs = refused.errors![0]!.extensions!.retryAfterMs as number;
      expect(retryAfterMs).toBeLessThanOrEqual((p + 100) * 5);
      expect(retryAfterMs).toBeGreaterThanOrEqual((p + 100) * 5 - elapsed - 1);
      await sleep(retryAfterMs);
      expect(
        (await t.complete(key, { model: 'deepseek-chat', messages, maxTokens: 200 })).errors,
      ).toBeUndefined();
      const stats = await t.ok<{
        limiterStats: { gatewayKeys: { tpmLimit: number; availableTokens: number }[] };
      }>(
        '{ limiterStats { distributed gatewayKeys { apiKeyId tpmLimit availableTokens utilization } } }',
        {},
        key,
      );
      expect(stats.limiterStats.gatewayKeys).toHaveLength(1);
      expect(stats.limiterStats.gatewayKeys[0]!.tpmLimit).toBe(12_000);
      expect(stats.limiterStats.gatewayKeys[0]!.availableTokens).toBeLessThan(200);
    }, 30_000);
  });

  describe('idempotency', () => {
    it('concurrent duplicates share one upstream call and one charge; a later repeat replays it for 24 h', async () => {
      const { admin, key } = await project(t, upstream, 'idempotency');
      await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
      upstream.handler = (call, res) =>
        void setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 1000, 500)), 200);
      const input = { model: 'deepseek-chat', messages: user('Once'), requestId: 'idem-1' };
      const results = await Promise.all(Array.from({ length: 5 }, () => t.complete(key, input)));
      expect(results.filter((r) => r.errors)).toEqual([]);
      const completions = results.map((r) => r.data!.createChatCompletion);
      expect(upstream.calls).toHaveLength(1);
      expect(new Set(completions.map((c) => c.id)).size).toBe(1);
      expect(completions.filter((c) => c.replayed)).toHaveLength(4);
      expect(await t.count('usage_records', 'request_id = $1', ['idem-1'])).toBe(1);
      const spent = async () =>
        (await t.ok<{ budgetStatus: { spent: string }[] }>('{ budgetStatus { spent } }', {}, key))
          .budgetStatus[0]!.spent;
      expect(await spent()).toBe('0.00035');

      const again = await t.complete(key, input);
      expect(again.data!.createChatCompletion).toMatchObject({
        id: completions[0]!.id,
        replayed: true,
        cost: '0.00035',
      });
      expect(upstream.calls).toHaveLength(1);
      expect(await spent()).toBe('0.00035');
      const [record] = (await t.app.db.query(
        `SELECT status, expires_at > now() + interval '23 hours 59 minutes' AS day FROM idempotency_records WHERE request_id = 'idem-1'`,
      )) as { status: string; day: boolean }[];
      expect(record).toEqual({ status: 'DONE', day: true });
    });
  });
});

describe('a full upstream queue past its timeout', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({
      TOLLGATE_UPSTREAM_QUEUE_TIMEOUT_MS: '300',
      TOLLGATE_UPSTREAM_QUEUE_MAX: '4',
    });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  it('refuses waiters after the queue timeout and beyond the queue bound with RATE_LIMITED, holding nothing', async () => {
    const { admin, key } = await project(t, upstream, 'queue', { maxConcurrency: 2 });
    await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
    upstream.handler = (call, res) =>
      void setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 10, 5)), 2000);
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        t.complete(key, { model: 'deepseek-chat', messages: user(`${i}`) }),
      ),
    );
    const codes = results.map(codeOf);
    expect(codes.filter((c) => c === undefined)).toHaveLength(2);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(8);
    const limited = results.find((r) => codeOf(r) === 'RATE_LIMITED')!;
    expect(limited.errors![0]!.extensions).toMatchObject({ limit: 'UPSTREAM_CONCURRENCY' });
    expect(limited.errors![0]!.extensions!.retryAfterMs).toBeGreaterThan(0);
    expect(upstream.calls).toHaveLength(2);
    expect(upstream.maxActive).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2000);
    const status = await t.ok<{ budgetStatus: { reserved: string; requests: number }[] }>(
      '{ budgetStatus { reserved requests } }',
      {},
      key,
    );
    expect(status.budgetStatus).toEqual([{ reserved: '0', requests: 2 }]);
  });
});

sharedPostgres('two instances sharing Redis and one database', () => {
  let a: TestServer;
  let b: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    a = await TestServer.start({ REDIS_URL });
    a.defer(() => upstream.stop());
    const url = a.config.databaseUrl;
    // Instances of one deployment share the database and the key that seals upstream keys.
    b = await TestServer.start(
      { REDIS_URL, TOLLGATE_DB_POOL_SIZE: '3', TOLLGATE_SECRET_KEY: a.config.secretKey! },
      { databaseUrl: url },
    );
  }, 120_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('together never exceed one key RPM limit, and both report exact waits', async () => {
    const { key } = await project(a, upstream, 'shared-rpm', {}, { rpmLimit: 20 }); // one per 3 s
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? b : a).complete(key, { model: 'deepseek-chat', messages: user(`${i}`) }),
      ),
    );
    const elapsed = performance.now() - started;
    const ok = results.filter((r) => !r.errors);
    const limited = results.filter((r) => codeOf(r) === 'RATE_LIMITED');
    // 20 in the bucket, plus at most what refilled while the calls ran (one per 3 s).
    expect(ok.length).toBeGreaterThanOrEqual(20);
    expect(ok.length).toBeLessThanOrEqual(20 + Math.floor(elapsed / 3000));
    expect(limited.length + ok.length).toBe(40);
    expect(upstream.calls).toHaveLength(ok.length);
    for (const r of limited) {
      const wait = r.errors![0]!.extensions!.retryAfterMs as number;
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(3000);
    }
    const stats = await b.ok<{
      limiterStats: { distributed: boolean; gatewayKeys: { availableRequests: number }[] };
    }>('{ limiterStats { distributed gatewayKeys { availableRequests } } }', {}, key);
    expect(stats.limiterStats.distributed).toBe(true);
    expect(stats.limiterStats.gatewayKeys[0]!.availableRequests).toBe(0);
  });

  it('concurrent duplicates of one requestId across the two instances share one upstream call', async () => {
    const { key } = await project(a, upstream, 'shared-idem');
    upstream.calls.length = 0;
    upstream.handler = (call, res) =>
      void setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 10, 5)), 300);
    const input = { model: 'deepseek-chat', messages: user('Once'), requestId: 'shared-1' };
    const results = await Promise.all([a, b, a, b].map((s) => s.complete(key, input)));
    expect(results.filter((r) => r.errors)).toEqual([]);
    expect(upstream.calls).toHaveLength(1);
    expect(new Set(results.map((r) => r.data!.createChatCompletion.id)).size).toBe(1);
    expect(await a.count('usage_records', 'request_id = $1', ['shared-1'])).toBe(1);
  });
});
