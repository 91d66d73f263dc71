import path from 'node:path';

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
  logLevel: string;
  redisUrl: string | undefined;
  /** Seed the demo project, simulated provider and reference models on an empty database. */
  seedDemo: boolean;
  reservationTtlMs: number;
  sweepIntervalMs: number;
  maxBodyBytes: number;
  maxPromptChars: number;
  maxMessages: number;
  maxOutputTokens: number;
  metricsCoalesceMs: number;
  webhookPollMs: number;
  webhookBackoffMs: number;
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
    corsOrigins: (env.TOLLGATE_CORS_ORIGINS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: env.LOG_LEVEL ?? 'info',
    redisUrl: nonEmpty(env.REDIS_URL),
    seedDemo: bool(env, 'TOLLGATE_SEED_DEMO', databaseUrl === undefined),
    reservationTtlMs: int(env, 'TOLLGATE_RESERVATION_TTL_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
    sweepIntervalMs: int(env, 'TOLLGATE_SWEEP_INTERVAL_MS', 30_000, 100, 3_600_000),
    maxBodyBytes: int(env, 'TOLLGATE_MAX_BODY_BYTES', 16 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    maxPromptChars: int(env, 'TOLLGATE_MAX_PROMPT_CHARS', 1_000_000, 1, 100_000_000),
    maxMessages: int(env, 'TOLLGATE_MAX_MESSAGES', 1_000, 1, 100_000),
    maxOutputTokens: int(env, 'TOLLGATE_MAX_OUTPUT_TOKENS', 32_768, 1, 10_000_000),
    metricsCoalesceMs: int(env, 'TOLLGATE_METRICS_COALESCE_MS', 250, 0, 60_000),
    webhookPollMs: int(env, 'TOLLGATE_WEBHOOK_POLL_MS', 1_000, 50, 600_000),
    webhookBackoffMs: int(env, 'TOLLGATE_WEBHOOK_BACKOFF_MS', 1_000, 10, 600_000),
  };
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

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env[name])?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}
