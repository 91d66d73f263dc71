import crypto from 'node:crypto';
import Redis from 'ioredis';
import type { BucketSpec, RateStore, TakeResult } from './rate.store';
import { WINDOW_MS } from '../../shared/token-bucket';

/*
 * The same integer token-bucket arithmetic as token-bucket.ts (units of 1/60 000 token, refill
 * `perMinute` units per ms), run inside Redis so a check-and-take over several buckets is one
 * atomic round trip for every instance. Time is Redis's own clock, so instances' clocks may differ.
 * A bucket unused for a whole window is full, which is what a missing key reads as: keys expire then.
 */
// Numbers are written with %d: Lua's default number format keeps only 14 significant digits.
const REFILL = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function level(key, cap, now)
  local full = cap * ${WINDOW_MS}
  local v = redis.call('HMGET', key, 'u', 't')
  local u, at = tonumber(v[1]), tonumber(v[2])
  if u == nil then return full end
  if now > at then u = u + (now - at) * cap end
  if u > full then u = full end
  return u
end
`;

const TAKE = `${REFILL}
local now = now_ms()
local units = {}
local worst, which = 0, 0
for i = 1, #KEYS do
  local cap, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]) * ${WINDOW_MS}
  local u = level(KEYS[i], cap, now)
  units[i] = u
  if u < cost then
    local wait = math.ceil((cost - u) / cap)
    if wait > worst then worst, which = wait, i end
  end
end
if worst > 0 then return {0, worst, which} end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 'u', string.format('%d', units[i] - tonumber(ARGV[2 * i]) * ${WINDOW_MS}), 't', string.format('%d', now))
  redis.call('PEXPIRE', KEYS[i], ${WINDOW_MS + 1_000})
end
return {1, 0, 0}
`;

const GIVE = `${REFILL}
local now = now_ms()
local cap = tonumber(ARGV[1])
local u = math.min(cap * ${WINDOW_MS}, level(KEYS[1], cap, now) + tonumber(ARGV[2]) * ${WINDOW_MS})
redis.call('HSET', KEYS[1], 'u', string.format('%d', u), 't', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], ${WINDOW_MS + 1_000})
return 1
`;

const PEEK = `${REFILL}
local now = now_ms()
local out = {}
for i = 1, #KEYS do out[i] = level(KEYS[i], tonumber(ARGV[i]), now) end
return out
`;

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = crypto.createHash('sha1').update(source).digest('hex');
  }
}

const SCRIPTS = { take: new Script(TAKE), give: new Script(GIVE), peek: new Script(PEEK) };

/** Buckets in Redis: every instance on the same REDIS_URL shares them, so a limit holds across instances. */
export class RedisRateStore implements RateStore {
  readonly distributed = true;

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Connects (failing fast when Redis is not there) and loads the scripts. */
  static async connect(url: string, prefix = 'tollgate:rl:'): Promise<RedisRateStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 1_000,
    });
    // Errors surface on the commands; an unhandled 'error' event would crash the process.
    redis.on('error', () => undefined);
    await redis.connect();
    for (const script of Object.values(SCRIPTS)) await redis.script('LOAD', script.source);
    return new RedisRateStore(redis, prefix);
  }

  async take(buckets: readonly BucketSpec[]): Promise<TakeResult> {
    const [ok, wait, which] = (await this.run(
      SCRIPTS.take,
      buckets.map((b) => this.prefix + b.key),
      buckets.flatMap((b) => [b.perMinute, b.cost]),
    )) as [number, number, number];
    return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: wait, index: which - 1 };
  }

  async give(bucket: BucketSpec): Promise<void> {
    await this.run(SCRIPTS.give, [this.prefix + bucket.key], [bucket.perMinute, bucket.cost]);
  }

  async peek(buckets: readonly Omit<BucketSpec, 'cost'>[]): Promise<number[]> {
    if (buckets.length === 0) return [];
    const units = (await this.run(
      SCRIPTS.peek,
      buckets.map((b) => this.prefix + b.key),
      buckets.map((b) => b.perMinute),
    )) as number[];
    return units.map((u) => u / WINDOW_MS);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /** EVALSHA, loading the script again if Redis lost it (a restart, SCRIPT FLUSH). */
  private async run(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }
}
