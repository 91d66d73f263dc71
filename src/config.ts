import path from 'node:path';
import { z } from 'zod';
import { EgressPolicy, parseNetwork } from './shared/egress';
import { EnvAllowlist } from './shared/env-allowlist';
import type { BreakerPolicy } from './modules/upstream/circuit-breaker';
import type { ProjectLimits } from './modules/limits/gateway-limiter';
import type { RetryPolicy } from './modules/upstream/retry';
import type { UpstreamLimitPolicy } from './modules/upstream/upstream-limiter';
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
  /** The bundled GraphiQL at GET /graphql (TOLLGATE_EXPLORER): on in the embedded demo and outside production. */
  explorer: boolean;
  /** Environment variables a provider's `env:NAME` key may name (TOLLGATE_UPSTREAM_ENV_KEYS). */
  upstreamEnvKeys: EnvAllowlist;
  /** Where webhook deliveries may connect (TOLLGATE_WEBHOOK_ALLOWED_NETWORKS opens private ranges). */
  webhookEgress: EgressPolicy;
  /** Where provider base URLs may point (TOLLGATE_UPSTREAM_ALLOWED_NETWORKS opens private ranges). */
  upstreamEgress: EgressPolicy;
  logLevel: string;
  /**
   * Where traces go: OTLP/HTTP (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT
   * plus /v1/traces); undefined turns tracing off.
   */
  tracing: { url: string; serviceName: string; headers: Record<string, string> } | undefined;
  redisUrl: string | undefined;
  /** Seed the demo project, simulated provider and reference models on an empty database. */
  seedDemo: boolean;
  /** TOLLGATE_CONFIG: the configuration file applied at start (src/modules/config-file), absolute. */
  configFile: string | undefined;
  /** TOLLGATE_CONFIG_PRUNE: delete what the file no longer lists; undefined: the file's own `prune` decides. */
  configPrune: boolean | undefined;
  /** Which routing settings the environment gave (a configuration file may not give them too). */
  routingFromEnv: { rules: boolean; fallbackChain: boolean };
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
  /** Raw usage records older than this many days are dropped, a month at a time; the rollups stay (null: kept). */
  usageRetentionDays: number | null;
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

/** An unset or blank variable reads as absent. */
const blank = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const text = z.preprocess(blank, z.string().trim().optional());

function int(fallback: number, min: number, max: number) {
  return z.preprocess(blank, z.string().trim().optional()).transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    ctx.addIssue({ code: 'custom', message: `must be an integer in [${min}, ${max}], got "${raw}"` });
    return z.NEVER;
  });
}

/** An integer, or null when unset (a limit that is off). */
function optionalInt(min: number, max: number) {
  return z.preprocess(blank, z.string().trim().optional()).transform((raw, ctx) => {
    if (raw === undefined) return null;
    const value = Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    ctx.addIssue({ code: 'custom', message: `must be an integer in [${min}, ${max}], got "${raw}"` });
    return z.NEVER;
  });
}

const bool = z.preprocess(blank, z.string().trim().toLowerCase().optional()).transform((raw, ctx) => {
  if (raw === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  ctx.addIssue({ code: 'custom', message: `must be true or false, got "${raw}"` });
  return z.NEVER;
});

/** A comma-separated list, each entry read by `parse` (which throws with the reason). */
function listOf<T>(parse: (entries: string[]) => T) {
  return z.preprocess(blank, z.string().optional()).transform((raw, ctx) => {
    const entries = (raw ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    try {
      return parse(entries);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });
}

/** A value read by `parse` (which throws with the reason), or `fallback` when unset. */
function parsedOr<T>(fallback: T, parse: (raw: string) => T) {
  return z.preprocess(blank, z.string().optional()).transform((raw, ctx) => {
    if (raw === undefined) return fallback;
    try {
      return parse(raw);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  });
}

const DAY_MS = 24 * 3_600_000;

/** Every variable Tollgate reads, its type, default and bounds: the one place settings are defined. */
const Environment = z.object({
  HOST: text,
  PORT: int(4000, 0, 65535),
  DATABASE_URL: text,
  NODE_ENV: text,
  LOG_LEVEL: z.preprocess(
    blank,
    z.enum(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional(),
  ),
  REDIS_URL: text,
  OTEL_EXPORTER_OTLP_ENDPOINT: text,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: text,
  OTEL_EXPORTER_OTLP_HEADERS: text,
  OTEL_SERVICE_NAME: text,
  TOLLGATE_DATA_DIR: text,
  TOLLGATE_DB_POOL_SIZE: int(10, 1, 200),
  TOLLGATE_OPERATOR_KEY: text,
  TOLLGATE_SECRET_KEY: text,
  TOLLGATE_SEED_DEMO: bool,
  TOLLGATE_CONFIG: text,
  TOLLGATE_CONFIG_PRUNE: bool,
  TOLLGATE_CORS_ORIGINS: listOf((entries) => entries),
  TOLLGATE_TRUSTED_PROXIES: listOf((entries) => entries.map((entry) => parseNetwork(entry).join('/'))),
  TOLLGATE_INTROSPECTION: bool,
  TOLLGATE_EXPLORER: bool,
  TOLLGATE_UPSTREAM_ENV_KEYS: listOf((entries) => new EnvAllowlist(entries)),
  TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: listOf(
    (entries) => new EgressPolicy(entries, 'TOLLGATE_WEBHOOK_ALLOWED_NETWORKS'),
  ),
  TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: listOf(
    (entries) => new EgressPolicy(entries, 'TOLLGATE_UPSTREAM_ALLOWED_NETWORKS'),
  ),
  TOLLGATE_RESERVATION_TTL_MS: int(10 * 60_000, 1_000, DAY_MS),
  TOLLGATE_ABANDONED_HOLDS: z.preprocess(blank, z.enum(['charge', 'release']).default('charge')),
  TOLLGATE_CALL_DEADLINE_MS: int(10 * 60_000, 1_000, DAY_MS),
  TOLLGATE_IDEMPOTENCY_LEASE_MS: int(15_000, 300, 3_600_000),
  TOLLGATE_SWEEP_INTERVAL_MS: int(30_000, 100, 3_600_000),
  TOLLGATE_LEDGER_TIMEOUT_MS: int(30_000, 100, 600_000),
  TOLLGATE_USAGE_RETENTION_DAYS: optionalInt(1, 36_500),
  TOLLGATE_MAX_BODY_BYTES: int(16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  TOLLGATE_MAX_PROMPT_CHARS: int(1_000_000, 1, 100_000_000),
  TOLLGATE_MAX_MESSAGES: int(1_000, 1, 100_000),
  TOLLGATE_MAX_OUTPUT_TOKENS: int(32_768, 1, 10_000_000),
  TOLLGATE_METRICS_COALESCE_MS: int(250, 0, 60_000),
  TOLLGATE_WEBHOOK_POLL_MS: int(1_000, 50, 600_000),
  TOLLGATE_WEBHOOK_BACKOFF_MS: int(1_000, 10, 600_000),
  TOLLGATE_ROUTING_RULES: parsedOr(DEFAULT_RULES, (raw) => parseRoutingRules(raw)),
  TOLLGATE_FALLBACK_CHAIN: parsedOr<readonly FallbackStep[]>(DEFAULT_FALLBACK, parseFallbackChain),
  TOLLGATE_RETRY_ATTEMPTS: int(3, 1, 20),
  TOLLGATE_RETRY_BASE_DELAY_MS: int(200, 0, 60_000),
  TOLLGATE_RETRY_MAX_DELAY_MS: int(5_000, 0, 600_000),
  TOLLGATE_RETRY_AFTER_MAX_MS: int(30_000, 0, 600_000),
  TOLLGATE_BREAKER_FAILURES: int(5, 1, 10_000),
  TOLLGATE_BREAKER_OPEN_MS: int(60_000, 10, DAY_MS),
  TOLLGATE_UPSTREAM_QUEUE_MAX: int(500, 0, 1_000_000),
  TOLLGATE_UPSTREAM_QUEUE_TIMEOUT_MS: int(30_000, 1, 3_600_000),
  TOLLGATE_UPSTREAM_KEY_COOLDOWN_MS: int(60_000, 0, DAY_MS),
  TOLLGATE_PROJECT_RPM_LIMIT: optionalInt(1, 1_000_000_000),
  TOLLGATE_PROJECT_TPM_LIMIT: optionalInt(1, 1_000_000_000),
});

/**
 * Reads and checks every setting at once; a bad value, or a TOLLGATE_ variable that is no setting
 * (a typo would otherwise be ignored silently), stops the start with every problem named.
 */
export function loadConfig(env: Env = process.env): Config {
  const known = new Set(Object.keys(Environment.shape));
  const problems = Object.keys(env)
    .filter((name) => name.startsWith('TOLLGATE_') && !known.has(name))
    .map((name) => `${name} is not a setting of Tollgate`);
  const parsed = Environment.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')} ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems.join('; '));
  const e = parsed.data;
  return {
    host: e.HOST ?? '127.0.0.1',
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.TOLLGATE_DATA_DIR ?? '.tollgate'),
    dbPoolSize: e.TOLLGATE_DB_POOL_SIZE,
    operatorKey: e.TOLLGATE_OPERATOR_KEY,
    secretKey: e.TOLLGATE_SECRET_KEY,
    corsOrigins: e.TOLLGATE_CORS_ORIGINS,
    trustedProxies: e.TOLLGATE_TRUSTED_PROXIES,
    introspection: e.TOLLGATE_INTROSPECTION ?? e.NODE_ENV !== 'production',
    explorer: e.TOLLGATE_EXPLORER ?? (e.DATABASE_URL === undefined || e.NODE_ENV !== 'production'),
    upstreamEnvKeys: e.TOLLGATE_UPSTREAM_ENV_KEYS,
    webhookEgress: e.TOLLGATE_WEBHOOK_ALLOWED_NETWORKS,
    upstreamEgress: e.TOLLGATE_UPSTREAM_ALLOWED_NETWORKS,
    logLevel: e.LOG_LEVEL ?? 'info',
    tracing: tracingOf(e),
    redisUrl: e.REDIS_URL,
    // With a configuration file, the file says what exists: no demo unless asked for.
    seedDemo: e.TOLLGATE_SEED_DEMO ?? (e.DATABASE_URL === undefined && e.TOLLGATE_CONFIG === undefined),
    configFile: e.TOLLGATE_CONFIG === undefined ? undefined : path.resolve(e.TOLLGATE_CONFIG),
    configPrune: e.TOLLGATE_CONFIG_PRUNE,
    routingFromEnv: {
      rules: blank(env.TOLLGATE_ROUTING_RULES) !== undefined,
      fallbackChain: blank(env.TOLLGATE_FALLBACK_CHAIN) !== undefined,
    },
    reservationTtlMs: e.TOLLGATE_RESERVATION_TTL_MS,
    abandonedHolds: e.TOLLGATE_ABANDONED_HOLDS,
    callDeadlineMs: e.TOLLGATE_CALL_DEADLINE_MS,
    idempotencyLeaseMs: e.TOLLGATE_IDEMPOTENCY_LEASE_MS,
    sweepIntervalMs: e.TOLLGATE_SWEEP_INTERVAL_MS,
    ledgerTimeoutMs: e.TOLLGATE_LEDGER_TIMEOUT_MS,
    usageRetentionDays: e.TOLLGATE_USAGE_RETENTION_DAYS,
    maxBodyBytes: e.TOLLGATE_MAX_BODY_BYTES,
    maxPromptChars: e.TOLLGATE_MAX_PROMPT_CHARS,
    maxMessages: e.TOLLGATE_MAX_MESSAGES,
    maxOutputTokens: e.TOLLGATE_MAX_OUTPUT_TOKENS,
    metricsCoalesceMs: e.TOLLGATE_METRICS_COALESCE_MS,
    webhookPollMs: e.TOLLGATE_WEBHOOK_POLL_MS,
    webhookBackoffMs: e.TOLLGATE_WEBHOOK_BACKOFF_MS,
    routingRules: e.TOLLGATE_ROUTING_RULES,
    fallbackChain: e.TOLLGATE_FALLBACK_CHAIN,
    retry: {
      attempts: e.TOLLGATE_RETRY_ATTEMPTS,
      baseDelayMs: e.TOLLGATE_RETRY_BASE_DELAY_MS,
      maxDelayMs: e.TOLLGATE_RETRY_MAX_DELAY_MS,
      maxRetryAfterMs: e.TOLLGATE_RETRY_AFTER_MAX_MS,
    },
    breaker: { failureThreshold: e.TOLLGATE_BREAKER_FAILURES, openMs: e.TOLLGATE_BREAKER_OPEN_MS },
    upstreamLimits: {
      queueMax: e.TOLLGATE_UPSTREAM_QUEUE_MAX,
      queueTimeoutMs: e.TOLLGATE_UPSTREAM_QUEUE_TIMEOUT_MS,
      keyCooldownMs: e.TOLLGATE_UPSTREAM_KEY_COOLDOWN_MS,
    },
    projectLimits: { rpm: e.TOLLGATE_PROJECT_RPM_LIMIT, tpm: e.TOLLGATE_PROJECT_TPM_LIMIT },
  };
}

/** The standard OTEL_ exporter variables, read the way the OpenTelemetry SDKs read them. */
function tracingOf(e: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_HEADERS?: string | undefined;
  OTEL_SERVICE_NAME?: string | undefined;
}): Config['tracing'] {
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const url = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base ? `${base}/v1/traces` : undefined);
  if (!url) return undefined;
  return {
    url,
    serviceName: e.OTEL_SERVICE_NAME ?? 'tollgate',
    headers: otlpHeaders(e.OTEL_EXPORTER_OTLP_HEADERS),
  };
}

/**
 * OTEL_EXPORTER_OTLP_HEADERS: "key1=value1,key2=value2", values URL-encoded (the OTLP exporter
 * specification). A value is everything after its first "=" (base64 credentials end in "="); a
 * pair without a key or an "=", or a value that does not decode, is refused, never dropped.
 */
function otlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [i, pair] of (raw ?? '').split(',').entries()) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = pair.slice(0, at).trim();
    // the text itself is not echoed: it may be a credential
    if (at < 0 || key === '')
      throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: pair ${i + 1} is not key=value`);
    try {
      headers[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: the value of "${key}" is not valid URL encoding`);
    }
  }
  return headers;
}
