import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { Config } from './config';
import { createDataSource, createPool } from './db/data-source';
import { migrate } from './db/migrate';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './db/embedded';
import { AlertResolver } from './modules/alerts/alert.resolver';
import { AlertService } from './modules/alerts/alert.service';
import { circuitAlerts } from './modules/alerts/circuit-alerts';
import { LocalEventBus, type EventBus } from './modules/events/event-bus';
import { PgEventBus } from './modules/events/pg-event-bus';
import { RedisEventBus } from './modules/events/redis-event-bus';
import { WebhookService } from './modules/alerts/webhook.service';
import { WebhookWorker } from './modules/alerts/webhook.worker';
import { BudgetResolver } from './modules/budgets/budget.resolver';
import { BudgetService } from './modules/budgets/budget.service';
import { MetricsPublisher } from './modules/budgets/metrics.publisher';
import { Ledger } from './modules/budgets/ledger';
import { ReservationService } from './modules/budgets/reservation.service';
import { CompletionResolver } from './modules/completions/completion.resolver';
import { AttemptLoop } from './modules/completions/attempt-loop';
import { CallRecorder } from './modules/completions/call-recorder';
import { CompletionService } from './modules/completions/completion.service';
import { PromptMargins } from './modules/providers/prompt-margin';
import { stopEstimateWorker } from './shared/prompt-estimate.async';
import { Tracing } from './shared/tracing';
import { IdempotencyService } from './modules/completions/idempotency.service';
import { BreakerRegistry } from './modules/upstream/circuit-breaker';
import { GatewayLimiter } from './modules/limits/gateway-limiter';
import { LimiterStatsService } from './modules/limits/limiter-stats.service';
import {
  LimiterResolver,
  ModelLimitsResolver,
  ProviderLimitsResolver,
} from './modules/limits/limiter.resolver';
import { MemoryRateStore, type RateStore } from './modules/limits/rate.store';
import { RedisRateStore } from './modules/limits/redis-rate.store';
import { UpstreamLimiter } from './modules/upstream/upstream-limiter';
import { openAiDoor } from './modules/openai/openai.router';
import { messagesDoor } from './modules/messages/messages.router';
import { AuthThrottle } from './modules/projects/auth-throttle';
import { clientAddressOf } from './shared/client-address';
import { LiveSockets } from './server/live-sockets';
import { AuthService } from './modules/projects/auth.service';
import { ProjectResolver } from './modules/projects/project.resolver';
import { ProjectService } from './modules/projects/project.service';
import { CatalogService } from './modules/providers/catalog.service';
import { ProviderResolver } from './modules/providers/provider.resolver';
import { UpstreamClient } from './modules/upstream/upstream.client';
import { RouterService } from './modules/routing/router.service';
import { RoutingReportService } from './modules/routing/routing-report.service';
import { RoutingResolver } from './modules/routing/routing.resolver';
import { UsageResolver } from './modules/usage/usage.resolver';
import { UsageService } from './modules/usage/usage.service';
import { applyConfigFile, type ConfigFileReport } from './modules/config-file/config-file.applier';
import { readConfigFile, routingWithFile } from './modules/config-file/config-file.loader';
import { seedDemo, type SeededDemo } from './seed';
import { startHttpServer } from './server/http';
import { createSchema } from './server/schema';
import { createLogger, type Logger } from './shared/logger';
import { Sweeper } from './sweeper';
import { UsageStorage } from './modules/usage/usage-storage';
import { SecretBox } from './shared/secret-box';

export interface App {
  url: string;
  wsUrl: string;
  port: number;
  db: DataSource;
  log: Logger;
  services: Services;
  /** The call traces (off unless an OTLP endpoint is configured). */
  tracing: Tracing;
  /** Set when this start seeded the demo project (first start on an empty database). */
  demo: SeededDemo | null;
  /** What this start did with the configuration file (TOLLGATE_CONFIG), with the secrets it generated. */
  configFile: ConfigFileReport | null;
  /** Graceful: stop taking work, finish and settle in-flight calls, close subscriptions, then close the DB. */
  close(): Promise<void>;
}

export type Services = ReturnType<typeof buildServices>;

/**
 * The composition root: builds every service once and hands them to the resolvers. Exported for
 * the in-process test tier, which runs these same services and resolvers without the HTTP server.
 */
export function buildServices(
  config: Config,
  db: DataSource,
  ledger: Ledger,
  log: Logger,
  secrets: SecretBox,
  bus: EventBus,
  rates: RateStore,
) {
  const auth = new AuthService(db, config.operatorKey);
  const projects = new ProjectService(db, auth, bus);
  const catalog = new CatalogService(db, secrets, {
    envKeys: config.upstreamEnvKeys,
    egress: config.upstreamEgress,
  });
  const budgets = new BudgetService(db);
  const reservations = new ReservationService(db, ledger, {
    ttlMs: config.reservationTtlMs,
    chargeAbandoned: config.abandonedHolds === 'charge',
  });
  const usage = new UsageService(db);
  const webhooks = new WebhookService(db, secrets, config.webhookEgress);
  const worker = new WebhookWorker(
    db,
    webhooks,
    log,
    config.webhookPollMs,
    config.webhookBackoffMs,
    config.webhookEgress,
  );
  const metrics = new MetricsPublisher(bus, config.metricsCoalesceMs, log);
  const alerts = new AlertService(db, webhooks, { bus, worker, metrics, log });
  const upstreamLimiter = new UpstreamLimiter(config.upstreamLimits);
  const breakers = new BreakerRegistry(config.breaker, circuitAlerts(alerts, log));
  const upstream = new UpstreamClient(
    catalog,
    upstreamLimiter,
    breakers,
    config.upstreamEgress,
    config.retry,
  );
  const limiter = new GatewayLimiter(rates, config.projectLimits, log);
  const limiterStats = new LimiterStatsService(db, catalog, upstreamLimiter, breakers, limiter);
  const routingReports = new RoutingReportService(db, catalog);
  const router = new RouterService(upstream, config.fallbackChain);
  const margins = new PromptMargins();
  const idempotency = new IdempotencyService(db, {
    leaseMs: config.idempotencyLeaseMs,
    waitMs: config.callDeadlineMs + config.idempotencyLeaseMs,
  });
  const recorder = new CallRecorder({ log, reservations, alerts, margins });
  const completions = new CompletionService({
    config,
    log,
    catalog,
    router,
    limiter,
    reservations,
    idempotency,
    margins,
    attempts: new AttemptLoop({ router, upstream, reservations, recorder, margins }),
  });
  const sweeper = new Sweeper({
    db,
    log,
    reservations,
    alerts,
    metrics,
    usage: new UsageStorage(db, config.usageRetentionDays),
    intervalMs: config.sweepIntervalMs,
  });
  return {
    auth,
    projects,
    catalog,
    budgets,
    reservations,
    usage,
    webhooks,
    worker,
    alerts,
    metrics,
    completions,
    idempotency,
    margins,
    bus,
    limiterStats,
    routingReports,
    sweeper,
  };
}

export async function startApp(config: Config, log: Logger = createLogger(config.logLevel)): Promise<App> {
  // The configuration file first: one that is not valid stops the start before anything opens.
  const configFile = config.configFile ? readConfigFile(config.configFile) : null;
  if (configFile) config = { ...config, ...routingWithFile(configFile, config) };
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedDatabase(path.join(config.dataDir, 'pgdata'), config.dbPoolSize);
    url = embedded.url;
  }
  // pglite-socket runs every connection in PGlite's one session (electric-sql/pglite#977): the
  // embedded database gets exactly one connection, which TypeORM and the ledger share. On Postgres
  // the ledger has a small pool of its own (one batch runs at a time, plus the sweeper).
  const ledgerPool = createPool(
    url,
    embedded ? 1 : LEDGER_CONNECTIONS,
    (error) =>
      log.warn({ err: error }, 'a ledger connection dropped while idle; it is replaced on the next query'),
    embedded !== undefined,
  );
  const db = createDataSource(url, embedded ? 1 : config.dbPoolSize, embedded ? ledgerPool : undefined);
  try {
    await db.initialize();
    await migrate(db, embedded === undefined, log);
  } catch (error) {
    if (db.isInitialized) await db.destroy();
    else await ledgerPool.end();
    await embedded?.stop();
    throw error;
  }
  const ledger = new Ledger(ledgerPool, config.ledgerTimeoutMs);

  const secrets = new SecretBox(config.secretKey ?? localSecretKey(config, log));
  const bus = await startEventBus(config, url, db, log);
  const rates = config.redisUrl ? await RedisRateStore.connect(config.redisUrl) : new MemoryRateStore();
  const services = buildServices(config, db, ledger, log, secrets, bus, rates);
  let configReport: ConfigFileReport | null = null;
  if (configFile) {
    try {
      configReport = await applyConfigFile(db, services, configFile, {
        prune: config.configPrune ?? configFile.content.prune,
        shared: config.databaseUrl !== undefined,
        log,
      });
    } catch (error) {
      // Nothing listens yet: close what this start opened, then say why it stopped.
      await bus.close();
      await rates.close();
      await db.destroy();
      if (!embedded) await ledgerPool.end();
      await embedded?.stop();
      throw error;
    }
  }
  const tracing = config.tracing ? Tracing.otlp(config.tracing) : Tracing.off();
  const demo = config.seedDemo ? await seedDemo(db, services.projects, services.catalog) : null;

  const schema = await createSchema(createResolvers(services, db, tracing), bus);
  let accepting = true;
  const throttle = new AuthThrottle(log);
  const clientAddress = clientAddressOf(config.trustedProxies);
  const sockets = new LiveSockets();
  const stopWatchingSockets = sockets.watch(services.auth, bus, log);
  // What both REST doors run on: the same keys, throttle, pipeline and traces.
  const door = {
    tracing,
    auth: services.auth,
    throttle,
    clientAddress,
    maxBodyBytes: config.maxBodyBytes,
    completions: services.completions,
    log,
  };
  const openAi = openAiDoor({ ...door, catalog: services.catalog });
  const messages = messagesDoor(door);
  const http = await startHttpServer({
    config,
    log,
    db,
    schema,
    auth: services.auth,
    throttle,
    sockets,
    clientAddress,
    completions: services.completions,
    openAi: openAi.router,
    messages: messages.router,
    directPosts: [openAi.direct, messages.direct],
    tracing,
    isReady: () => accepting,
  });
  services.worker.start();
  services.sweeper.start();

  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/graphql`,
    wsUrl: `ws://${host}:${port}/graphql`,
    port,
    db,
    log,
    services,
    tracing,
    demo,
    configFile: configReport,
    close() {
      closing ??= (async () => {
        const step = async (name: string, fn: () => unknown) => {
          const started = Date.now();
          await fn();
          log.debug({ step: name, ms: Date.now() - started }, 'shutdown step done');
        };
        accepting = false;
        stopWatchingSockets();
        await step('sweeper', () => services.sweeper.stop());
        await step('http', () => http.close());
        await step('in-flight completions', () => services.completions.idle());
        await step('hold renewals', () => services.reservations.close());
        await step('idempotency leases', () => services.idempotency.close());
        services.metrics.flush();
        await step('webhook worker', () => services.worker.stop());
        await step('event bus', () => bus.close());
        await step('rate store', () => rates.close());
        await step('estimate worker', () => stopEstimateWorker());
        await step('traces', () => tracing.shutdown());
        await step('database', () => db.destroy());
        // The embedded database's one connection was TypeORM's too, and ended with it.
        if (!embedded) await step('ledger pool', () => ledgerPool.end());
        await step('embedded database', () => embedded?.stop());
      })();
      return closing;
    },
  };
}

/** The resolvers the schema is built from, over the services (the in-process test tier builds the same). */
export function createResolvers(services: Services, db: DataSource, tracing: Tracing) {
  return [
    new ProjectResolver(services.projects),
    new ProviderResolver(services.catalog, services.margins),
    new BudgetResolver(services.budgets),
    new UsageResolver(services.usage),
    new AlertResolver(db, services.alerts, services.webhooks, services.worker),
    new CompletionResolver(services.completions, tracing),
    new RoutingResolver(services.routingReports),
    new LimiterResolver(services.limiterStats),
    new ProviderLimitsResolver(services.limiterStats),
    new ModelLimitsResolver(services.limiterStats),
  ];
}

/** Connections of the ledger's own pool on Postgres: the batch in flight, the sweeper, a spare. */
const LEDGER_CONNECTIONS = 3;

/** Redis pub/sub when REDIS_URL is set, else Postgres LISTEN/NOTIFY on a shared server, else in-process. */
async function startEventBus(config: Config, url: string, db: DataSource, log: Logger): Promise<EventBus> {
  if (config.redisUrl) return RedisEventBus.start(config.redisUrl, log);
  if (config.databaseUrl) return PgEventBus.start(url, db, log);
  return new LocalEventBus();
}

/** With no TOLLGATE_SECRET_KEY, a key kept in the data folder (fine for one instance). */
function localSecretKey(config: Config, log: Logger): string {
  const file = path.join(config.dataDir, 'secret.key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  fs.mkdirSync(config.dataDir, { recursive: true });
  const key = SecretBox.generateKey();
  fs.writeFileSync(file, key, { mode: 0o600 });
  if (config.databaseUrl) {
    log.warn(
      { file },
      'TOLLGATE_SECRET_KEY is not set: generated a local key; set it when several instances share the database',
    );
  }
  return key;
}
