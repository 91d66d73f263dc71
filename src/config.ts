import path from 'node:path';
import { EgressPolicy, parseNetwork } from './shared/egress';
import { EnvAllowlist } from './shared/env-allowlist';
import type { BreakerPolicy } from './modules/limits/circuit-breaker';
import type { ProjectLimits } from './modules/limits/gateway-limiter';
import type { RetryPolicy } from './modules/limits/retry';
import type { UpstreamLimitPolicy } from './modules/limits/upstream-limiter';
import { DEFAULT_RULES, parseRoutingRules, type ClassifierRules } from './modules/routing/classifier';
import { DEFAULT_FALLBACK, parseFallbackChain, type FallbackStep } from './modules/routing/router.service';

/** One typed configuration object, read from the environment and validated once at boot. */
export interface Config {
  host: string;
  port: number;
  /** Postgres URL; undefined means the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  dbPoolSize: number;
  /** Server-wide key that may create projects (`TOLLGATE_OPERATOR_KEY`); undefined disables it. */
  operatorKey: string | undefined;
  /** 32-byte key (hex or base64) that encrypts upstream keys at rest. */
  secretKey: string | undefined;
  corsOrigins: string[];
  /** Addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (TOLLGATE_TRUSTED_PROXIES). */
  trustedProxies: string[];
  /** Whether the schema answers introspection, on HTTP and WebSocket alike. */
  introspection: boolean;
  /** Environment variables a provider's `env:NAME` key may name (TOLLGATE_UPSTREAM_ENV_KEYS). */
  upstreamEnvKeys: EnvAllowlist;
  /** Where webhook deliveries may connect (TOLLGATE_WEBHOOK_ALLOWED_NETWORKS opens private ranges). */
  webhookEgress: EgressPolicy;
  /** Where provider base URLs may point (TOLLGATE_UPSTREAM_ALLOWED_NETWORKS opens private ranges). */
  upstreamEgress: EgressPolicy;
  logLevel: string;
  redisUrl: string | undefined;
  /** Seed the demo project, simulated provider and reference models on an empty database. */
  seedDemo: boolean;
  /** A hold not renewed for this long belongs to a call that died; its instance renews it every third of that. */
  reservationTtlMs: number;
  /** What the sweeper does with a dead call's hold: charge it at its reserved amount (ABANDONED), or release it. */
  abandonedHolds: 'charge' | 'release';
  /** The longest one call may take, retries and fallbacks included (TOLLGATE_CALL_DEADLINE_MS). */
  callDeadlineMs: number;
  /** How long a requestId's in-progress claim holds without renewal (its instance renews it while the call runs). */
  idempotencyLeaseMs: number;
  /** How long one batch of reserves and settles may take before it is given up (its connection dropped). */
  ledgerTimeoutMs: number;
  sweepIntervalMs: number;
  maxBodyBytes: number;
  maxPromptChars: number;
  maxMessages: number;
  maxOutputTokens: number;
  metricsCoalesceMs: number;
  webhookPollMs: number;
  webhookBackoffMs: number;
  /** Classifier thresholds: TOLLGATE_ROUTING_RULES (JSON) over the reference's defaults. */
  routingRules: ClassifierRules;
  /** What auto routing tries after its first choice: TOLLGATE_FALLBACK_CHAIN. */
  fallbackChain: readonly FallbackStep[];
  /** Upstream retries: TOLLGATE_RETRY_*. */
  retry: RetryPolicy;
  /** Circuit breaker per provider and model: TOLLGATE_BREAKER_*. */
  breaker: BreakerPolicy;
  /** Upstream key wait queue and refused-key cooldown: TOLLGATE_UPSTREAM_*. */
  upstreamLimits: UpstreamLimitPolicy;
  /** Requests and tokens per minute of every project: TOLLGATE_PROJECT_RPM_LIMIT / _TPM_LIMIT (unset: none). */
  projectLimits: ProjectLimits;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = nonEmpty(env.DATABASE_URL);
  return {
    host: env.HOST ?? '127.0.0.1',
    port: int(env, 'PORT', 4000, 0, 65535),
    databaseUrl,
    dataDir: path.resolve(env.TOLLGATE_DATA_DIR ?? '.tollgate'),
    dbPoolSize: int(env, 'TOLLGATE_DB_POOL_SIZE', 10, 1, 200),
    operatorKey: nonEmpty(env.TOLLGATE_OPERATOR_KEY),
    secretKey: nonEmpty(env.TOLLGATE_SECRET_KEY),
    corsOrigins: list(env.TOLLGATE_CORS_ORIGINS),
    trustedProxies: parsed(env, 'TOLLGATE_TRUSTED_PROXIES', [], (raw) =>
      list(raw).map((entry) => parseNetwork(entry).join('/')),
    ),
    introspection: bool(env, 'TOLLGATE_INTROSPECTION', env.NODE_ENV !== 'production'),
    upstreamEnvKeys: parsed(
      env,
      'TOLLGATE_UPSTREAM_ENV_KEYS',
      new EnvAllowlist([]),
      (raw) => new EnvAllowlist(list(raw)),
    ),
    webhookEgress: egress(env, 'TOLLGATE_WEBHOOK_ALLOWED_NETWORKS'),
    upstreamEgress: egress(env, 'TOLLGATE_UPSTREAM_ALLOWED_NETWORKS'),
    logLevel: env.LOG_LEVEL ?? 'info',
    redisUrl: nonEmpty(env.REDIS_URL),
    seedDemo: bool(env, 'TOLLGATE_SEED_DEMO', databaseUrl === undefined),
    reservationTtlMs: int(env, 'TOLLGATE_RESERVATION_TTL_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
    abandonedHolds: oneOf(env, 'TOLLGATE_ABANDONED_HOLDS', ['charge', 'release'] as const, 'charge'),
    callDeadlineMs: int(env, 'TOLLGATE_CALL_DEADLINE_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
    idempotencyLeaseMs: int(env, 'TOLLGATE_IDEMPOTENCY_LEASE_MS', 15_000, 300, 3_600_000),
    sweepIntervalMs: int(env, 'TOLLGATE_SWEEP_INTERVAL_MS', 30_000, 100, 3_600_000),
    ledgerTimeoutMs: int(env, 'TOLLGATE_LEDGER_TIMEOUT_MS', 30_000, 100, 600_000),
    maxBodyBytes: int(env, 'TOLLGATE_MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    maxPromptChars: int(env, 'TOLLGATE_MAX_PROMPT_CHARS', 1_000_000, 1, 100_000_000),
    maxMessages: int(env, 'TOLLGATE_MAX_MESSAGES', 1_000, 1, 100_000),
    maxOutputTokens: int(env, 'TOLLGATE_MAX_OUTPUT_TOKENS', 32_768, 1, 10_000_000),
    metricsCoalesceMs: int(env, 'TOLLGATE_METRICS_COALESCE_MS', 250, 0, 60_000),
    webhookPollMs: int(env, 'TOLLGATE_WEBHOOK_POLL_MS', 1_000, 50, 600_000),
    webhookBackoffMs: int(env, 'TOLLGATE_WEBHOOK_BACKOFF_MS', 1_000, 10, 600_000),
    routingRules: parsed(env, 'TOLLGATE_ROUTING_RULES', DEFAULT_RULES, (raw) => parseRoutingRules(raw)),
    fallbackChain: parsed(env, 'TOLLGATE_FALLBACK_CHAIN', DEFAULT_FALLBACK, parseFallbackChain),
    retry: {
      attempts: int(env, 'TOLLGATE_RETRY_ATTEMPTS', 3, 1, 20),
      baseDelayMs: int(env, 'TOLLGATE_RETRY_BASE_DELAY_MS', 200, 0, 60_000),
      maxDelayMs: int(env, 'TOLLGATE_RETRY_MAX_DELAY_MS', 5_000, 0, 600_000),
      maxRetryAfterMs: int(env, 'TOLLGATE_RETRY_AFTER_MAX_MS', 30_000, 0, 600_000),
    },
    breaker: {
      failureThreshold: int(env, 'TOLLGATE_BREAKER_FAILURES', 5, 1, 10_000),
      openMs: int(env, 'TOLLGATE_BREAKER_OPEN_MS', 60_000, 10, 24 * 3_600_000),
    },
    upstreamLimits: {
      queueMax: int(env, 'TOLLGATE_UPSTREAM_QUEUE_MAX', 500, 0, 1_000_000),
      queueTimeoutMs: int(env, 'TOLLGATE_UPSTREAM_QUEUE_TIMEOUT_MS', 30_000, 1, 3_600_000),
      keyCooldownMs: int(env, 'TOLLGATE_UPSTREAM_KEY_COOLDOWN_MS', 60_000, 0, 24 * 3_600_000),
    },
    projectLimits: {
      rpm: optionalInt(env, 'TOLLGATE_PROJECT_RPM_LIMIT', 1, 1_000_000_000),
      tpm: optionalInt(env, 'TOLLGATE_PROJECT_TPM_LIMIT', 1, 1_000_000_000),
    },
  };
}

function optionalInt(env: Env, name: string, min: number, max: number): number | null {
  return nonEmpty(env[name]) === undefined ? null : int(env, name, 0, min, max);
}

function parsed<T>(env: Env, name: string, fallback: T, parse: (raw: string) => T): T {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  try {
    return parse(raw);
  } catch (error) {
    throw new ConfigError(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function egress(env: Env, name: string): EgressPolicy {
  return parsed(env, name, new EgressPolicy([], name), (raw) => new EgressPolicy(list(raw), name));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== '' ? value.trim() : undefined;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name]);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (!values.includes(raw as T))
    throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}
