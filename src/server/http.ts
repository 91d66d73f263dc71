import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { CompletionService } from '../modules/completions/completion.service';
import type { AuthService, Principal } from '../modules/projects/auth.service';
import { UnauthenticatedError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { AuthThrottle } from './auth-throttle';
import { createLoaders, type Context } from './context';
import { createFormatError } from './format-error';
import { metricsHandler } from './metrics';
import { MAX_PARSE_TOKENS, queryLimits } from './query-limits';

export interface HttpServer {
  server: http.Server;
  /** Stops taking requests and closes subscriptions; in-flight HTTP requests finish first. */
  close(): Promise<void>;
}

export interface HttpDeps {
  config: Config;
  log: Logger;
  db: DataSource;
  schema: GraphQLSchema;
  auth: AuthService;
  /** Shared with the REST door. */
  throttle: AuthThrottle;
  completions: CompletionService;
  /** The OpenAI-compatible REST front door, mounted at /v1. */
  openAi: Router;
  isReady: () => boolean;
}

/** Apollo over HTTP and graphql-ws on the same port and path (/graphql), plus health and metrics. */
export async function startHttpServer(deps: HttpDeps): Promise<HttpServer> {
  const { config, log, db, schema, auth } = deps;
  const app = express();
  const server = http.createServer(app);

  const authenticate = async (
    header: string | undefined,
    source: string,
  ): Promise<Pick<Context, 'principal' | 'authFailure'>> => {
    if (!header) return {};
    try {
      return { principal: await deps.throttle.check(source, () => auth.authenticateHeader(header)) };
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error;
      return { authFailure: error };
    }
  };

  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: 1024 * 1024 });
  const wsCleanup = useServer<Record<string, unknown>, { principal?: Principal }>(
    {
      schema,
      validate: (schema, document) => validate(schema, document, [...specifiedRules, queryLimits()]),
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const raw =
          params.authorization ??
          params.Authorization ??
          (params.apiKey ? `Bearer ${String(params.apiKey)}` : undefined);
        const source = ctx.extra.request.socket.remoteAddress ?? 'unknown';
        const result = await authenticate(typeof raw === 'string' ? raw : undefined, source);
        if (!result.principal) {
          ctx.extra.socket.close(4401, 'Unauthorized');
          return false;
        }
        if (result.principal.kind !== 'key') {
          ctx.extra.socket.close(4403, 'Forbidden: subscribe with a project key');
          return false;
        }
        (ctx.extra as { principal?: Principal }).principal = result.principal;
        return true;
      },
      context: (ctx): Context => ({
        principal: ctx.extra.principal,
        loaders: createLoaders(db),
        completions: deps.completions,
      }),
    },
    wsServer,
  );

  const apollo = new ApolloServer<Context>({
    schema,
    formatError: createFormatError(log),
    includeStacktraceInErrorResponses: false,
    // main.ts owns SIGTERM/SIGINT: a second handler here would race it and never let stop() finish
    stopOnTerminationSignals: false,
    validationRules: [queryLimits()],
    parseOptions: { maxTokens: MAX_PARSE_TOKENS },
    plugins: [
      // No HTTP caching of a gateway's answers, so none of Apollo's per-field cache-hint bookkeeping.
      ApolloServerPluginCacheControlDisabled(),
      // Inline tracing is for federation subgraphs, which this schema is not; the default plugin
      // would still be asked (and decline) at the start of every request.
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      if (!deps.isReady()) throw new Error('shutting down');
      await db.query('SELECT 1');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  app.get('/metrics', metricsHandler);
  app.use('/v1', express.json({ limit: config.maxBodyBytes }), deps.openAi);
  if (config.corsOrigins.length > 0) {
    // Without allowed origins there is nothing to add: cors({ origin: false }) only calls next().
    app.use(
      '/graphql',
      cors<cors.CorsRequest>({
        origin: config.corsOrigins,
        allowedHeaders: [
          'authorization',
          'content-type',
          'apollo-require-preflight',
          'x-apollo-operation-name',
        ],
        maxAge: 600,
      }),
    );
  }
  app.use(
    '/graphql',
    express.json({ limit: config.maxBodyBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }): Promise<Context> => {
        const controller = new AbortController();
        res.on('close', () => {
          if (!res.writableFinished) controller.abort(new Error('client went away'));
        });
        const caller = await authenticate(req.headers.authorization, req.socket.remoteAddress ?? 'unknown');
        return { ...caller, loaders: createLoaders(db), signal: controller.signal };
      },
    }),
  );
  // Body-parser and other middleware errors: a typed GraphQL-shaped error, never a stack.
  app.use(
    (
      error: Error & { status?: number; type?: string },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
      if (status === 500) log.error({ err: error }, 'http error');
      const message =
        error.type === 'entity.too.large'
          ? `Request body is larger than ${config.maxBodyBytes} bytes`
          : status === 500
            ? 'Internal server error'
            : 'Malformed request body';
      res.status(status).json({
        errors: [
          { message, extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT' } },
        ],
      });
    },
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });

  return {
    server,
    async close() {
      await apollo.stop();
    },
  };
}
