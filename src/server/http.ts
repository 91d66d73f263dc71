import crypto from 'node:crypto';
import http from 'node:http';
import { ApolloServer, type GraphQLRequestListener } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import {
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { DataSource } from 'typeorm';
import type { Config } from '../config';
import type { StreamingContext } from '../modules/completions/completion.resolver';
import type { CompletionService } from '../modules/completions/completion.service';
import type { AuthService, Principal } from '../modules/projects/auth.service';
import { UnauthenticatedError } from '../shared/errors';
import { nowMs, type Tracing } from '../shared/tracing';
import { logResponseEnd, requestLogger, traceIdOf, type Logger } from '../shared/logger';
import type { AuthThrottle } from '../modules/projects/auth-throttle';
import { REVOKED_CLOSE_CODE, type LiveSockets } from './live-sockets';
import { createLoaders, type Context } from '../modules/projects/request-context';
import { consoleRouter } from './console';
import { explorerPages } from './explorer';
import { graphqlOverHttpStatus } from './graphql-over-http';
import { graphqlPost, runKnown } from './graphql-post';
import { KnownOperations } from './known-operations';
import type { DirectPosts } from '../modules/openai/door';
import { isPlainJsonPost, rescue, serveJsonPost, splitUrl } from '../shared/json-body';
import { createFormatError } from './format-error';
import { registry } from '../shared/metrics';
import { MAX_PARSE_TOKENS, queryLimits } from './query-limits';

/** What a graphql-ws connection remembers: who opened it, and the header to check again per operation. */
type WsExtra = {
  principal?: Principal;
  header?: string;
  /** Names the socket in the logs: an operation's lines carry `<connectionId>:<operation id>`. */
  connectionId?: string;
};

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
  /** Open WebSockets by key, closed when their key is revoked. */
  sockets: LiveSockets;
  /** The caller's address (X-Forwarded-For only from a trusted proxy). */
  clientAddress: (req: http.IncomingMessage) => string;
  completions: CompletionService;
  /** The OpenAI-compatible REST front door, mounted at /v1. */
  openAi: Router;
  /** The REST doors' JSON POST routes, which the server calls without express for the common request. */
  directPosts: DirectPosts[];
  /** The Anthropic-compatible REST front door (/v1/messages), mounted at /v1 before the OpenAI one. */
  messages: Router;
  /** Call traces, for the streamed completions of graphql-ws. */
  tracing: Tracing;
  isReady: () => boolean;
}

/** Apollo over HTTP and graphql-ws on the same port and path (/graphql), plus health and metrics. */
export async function startHttpServer(deps: HttpDeps): Promise<HttpServer> {
  const { config, log, db, schema, auth } = deps;
  const app = express();
  // The common JSON POSTs go straight to their handlers (graphql-post.ts, restPost below): express's
  // dispatch costs them a fifth or more of their throughput (BENCHMARKS.md, the stack floors).
  const direct: { take?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean } = {};
  const server = http.createServer((req, res) => {
    if (!direct.take?.(req, res) && !restPost(app, deps.directPosts, req, res)) void app(req, res);
  });

  const clientAddress = deps.clientAddress;
  // The logger of the request an error belongs to, so an internal error's line names its request.
  // Apollo's formatError is given no context: each request's errors are tagged with its logger as
  // they happen (the plugin below; the context function's own failure, before any plugin). (Not an
  // AsyncLocalStorage: its promise hooks would cost every promise of every call.)
  const errorLogs = new WeakMap<object, Logger>();
  const formatError = createFormatError((error) => {
    for (
      let e = error;
      typeof e === 'object' && e !== null;
      e = (e as { originalError?: unknown }).originalError
    ) {
      const found = errorLogs.get(e);
      if (found) return found;
    }
    return log;
  });
  const operationLog = (extra: WsExtra, id: string) =>
    requestLogger(log, { requestId: `${extra.connectionId ?? 'ws'}:${id}` });
  const tagErrors = (errors: readonly GraphQLError[], contextValue: Context) => {
    const requestLog = contextValue.log;
    if (requestLog) for (const error of errors) errorLogs.set(error, requestLog);
  };
  const errorListener: GraphQLRequestListener<Context> = {
    async didEncounterErrors({ errors, contextValue }) {
      tagErrors(errors, contextValue);
    },
  };
  // A known operation's errors meet what Apollo's plugins do with an executed operation's: the tag.
  const known = new KnownOperations({
    schema,
    formatError,
    encountered: (errors, contextValue) => tagErrors(errors, contextValue as Context),
  });
  const limits = queryLimits(config.introspection);
  // graphql-ws validates with exactly the rules Apollo applies over HTTP.
  const rules = [
    ...specifiedRules,
    ...limits.validationRules,
    ...(config.introspection ? [] : [NoSchemaIntrospectionCustomRule]),
  ];

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
  const wsCleanup = useServer<Record<string, unknown>, WsExtra>(
    {
      onConnect: async (ctx) => {
        ctx.extra.connectionId = crypto.randomUUID();
        const params = ctx.connectionParams ?? {};
        const raw =
          params.authorization ??
          params.Authorization ??
          (params.apiKey ? `Bearer ${String(params.apiKey)}` : undefined);
        const header = typeof raw === 'string' ? raw : undefined;
        const result = await authenticate(header, clientAddress(ctx.extra.request));
        if (!result.principal) {
          ctx.extra.socket.close(4401, 'Unauthorized');
          return false;
        }
        if (result.principal.kind !== 'key') {
          ctx.extra.socket.close(4403, 'Forbidden: subscribe with a project key');
          return false;
        }
        ctx.extra.principal = result.principal;
        ctx.extra.header = header;
        deps.sockets.track(result.principal.keyId, ctx.extra.socket);
        return true;
      },
      // Every operation on the socket checks the key again (cached for at most a second), so a
      // key revoked after the socket opened can neither subscribe nor run a mutation through it.
      // Parsing and validation are the HTTP door's: the same limits and the same introspection rule.
      onSubscribe: async (ctx, _id, payload) => {
        try {
          ctx.extra.principal = await auth.authenticateHeader(ctx.extra.header);
        } catch (error) {
          if (!(error instanceof UnauthenticatedError)) throw error;
          ctx.extra.socket.close(REVOKED_CLOSE_CODE, 'Forbidden: the API key was revoked');
          return [new GraphQLError(error.message, { extensions: { code: error.code } })];
        }
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: MAX_PARSE_TOKENS });
        } catch (error) {
          if (!(error instanceof GraphQLError)) throw error;
          return [new GraphQLError(error.message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        const invalid = validate(schema, document, rules);
        if (invalid.length > 0) {
          return invalid.map(
            (e) =>
              new GraphQLError(e.message, {
                nodes: e.nodes,
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
              }),
          );
        }
        const context: StreamingContext = {
          principal: ctx.extra.principal,
          loaders: createLoaders(db),
          completions: deps.completions,
          tracing: deps.tracing,
        };
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: context,
        };
      },
      // Errors leave the socket exactly as they leave over HTTP: one formatError for both.
      onNext: (ctx, id, _payload, _args, result) => {
        const errors = result.errors;
        if (!errors) return undefined;
        const format = createFormatError(() => operationLog(ctx.extra, id));
        return { ...result, errors: errors.map((e) => format(e.toJSON(), e)) };
      },
      onError: (ctx, id, _payload, errors) => {
        const format = createFormatError(() => operationLog(ctx.extra, id));
        return errors.map((e) => format(e.toJSON(), e));
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<Context>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: config.introspection,
    // main.ts owns SIGTERM/SIGINT: a second handler here would race it and never let stop() finish
    stopOnTerminationSignals: false,
    validationRules: limits.validationRules,
    parseOptions: { maxTokens: MAX_PARSE_TOKENS },
    plugins: [
      ...limits.plugins,
      // No HTTP caching of a gateway's answers, so none of Apollo's per-field cache-hint bookkeeping.
      ApolloServerPluginCacheControlDisabled(),
      // Inline tracing is for federation subgraphs, which this schema is not; the default plugin
      // would still be asked (and decline) at the start of every request.
      ApolloServerPluginInlineTraceDisabled(),
      // GET /graphql from a browser is the explorer's (explorerPages), never Apollo's CDN-loaded page.
      ApolloServerPluginLandingPageDisabled(),
      // No Apollo Studio for a self-hosted gateway, even with APOLLO_KEY in the environment: its
      // reports would also miss the known operations, which run outside Apollo's pipeline.
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      // GraphQL over HTTP: a request error is 200 to application/json clients, 400 to graphql-response+json ones.
      graphqlOverHttpStatus(),
      {
        async requestDidStart() {
          return errorListener;
        },
        // A step of Apollo's own pipeline failed: Apollo answers with a bare "Internal server
        // error" that no hook sees, so the cause is logged here, under the request's id.
        async unexpectedErrorProcessingRequest({ requestContext, error }) {
          (requestContext.contextValue.log ?? log).error({ err: error }, 'internal error');
        },
      },
      known.plugin,
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
  // No ETags: nobody revalidates a POST's answer, and the paths that skip express write none, so
  // each answer is the same whichever path served it. (The console's and the explorer's files
  // revalidate by Last-Modified.)
  app.set('etag', false);
  // The doors first: express tries each mounted layer in turn, so every call would otherwise pay
  // for matching the pages and probes before them. (The explorer answers a browser's GET /graphql,
  // so it stays before Apollo; for anything but a GET it is one comparison.)
  app.use(explorerPages({ enabled: config.explorer }));
  // Every request to /graphql gets an id, answered in x-request-id; what is logged about it carries
  // that id, and the client's trace id when it sent a W3C traceparent.
  const requestLogOf = new WeakMap<http.IncomingMessage, Logger>();
  const startRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const requestId = crypto.randomUUID();
    res.setHeader('x-request-id', requestId);
    const requestLog = requestLogger(log, { requestId, traceId: traceIdOf(req.headers.traceparent) });
    requestLogOf.set(req, requestLog);
    logResponseEnd(requestLog, req, res);
  };
  app.use('/graphql', (req, res, next) => {
    startRequest(req, res);
    next();
  });
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
  const contextOf = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<Context> => {
    const requestLog = requestLogOf.get(req) ?? log;
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client went away'));
    });
    const receivedAt = nowMs();
    let caller: Awaited<ReturnType<typeof authenticate>>;
    try {
      caller = await authenticate(req.headers.authorization, clientAddress(req));
    } catch (error) {
      if (typeof error === 'object' && error !== null) errorLogs.set(error, requestLog);
      throw error;
    }
    const traceparent = req.headers.traceparent;
    return {
      ...caller,
      log: requestLog,
      loaders: createLoaders(db),
      signal: controller.signal,
      trace: {
        traceparent: typeof traceparent === 'string' ? traceparent : undefined,
        receivedAt,
        authenticatedAt: nowMs(),
      },
    };
  };
  const knownPost = { apollo, known, context: contextOf };
  app.use(
    '/graphql',
    express.json({ limit: config.maxBodyBytes }),
    // (reached by what the direct path leaves to express: all of /graphql when CORS origins are set)
    (req, res, next) => {
      const running = req.method === 'POST' ? runKnown(knownPost, req, res, req.body) : undefined;
      if (running) running.catch((error: unknown) => rescue(res, error, next));
      else next();
    },
    expressMiddleware(apollo, { context: ({ req, res }) => contextOf(req, res) }),
  );
  // The Messages door's paths first (what it does not answer goes on to OpenAI's door): an OpenAI
  // call meets one path check, not the Messages router's layers.
  app.use('/v1/messages', deps.messages);
  app.use('/v1', deps.openAi);
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
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', registry.contentType);
    res.send(await registry.metrics());
  });
  app.use(consoleRouter());
  // Body-parser and other middleware errors: a typed GraphQL-shaped error, never a stack.
  const answerError = (req: http.IncomingMessage, res: http.ServerResponse, error: unknown) => {
    const { status: given, type } = (typeof error === 'object' && error !== null ? error : {}) as {
      status?: number;
      type?: string;
    };
    const status = given && given >= 400 && given < 500 ? given : 500;
    if (status === 500) (requestLogOf.get(req) ?? log).error({ err: error }, 'http error');
    const message =
      type === 'entity.too.large'
        ? `Request body is larger than ${config.maxBodyBytes} bytes`
        : status === 500
          ? 'Internal server error'
          : 'Malformed request body';
    const code = status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT';
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
  };
  app.use((error: Error, req: Request, res: Response, _next: NextFunction) => answerError(req, res, error));
  // (CORS headers are the cors middleware's: with origins configured, every request takes express.)
  direct.take =
    config.corsOrigins.length > 0
      ? undefined
      : graphqlPost({
          ...knownPost,
          maxBodyBytes: config.maxBodyBytes,
          start: startRequest,
          fail: answerError,
        });

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

/**
 * A REST door's common call, a JSON POST to one of its routes, handed to the route's handler as the
 * door's router would (express's request and response, the door's request id and log, the parsed
 * body) without express's dispatch. False for anything else, which express routes as before.
 */
function restPost(
  app: express.Express,
  doors: DirectPosts[],
  req: http.IncomingMessage,
  res: http.ServerResponse,
): boolean {
  if (req.method !== 'POST') return false;
  const { path } = splitUrl(req.url);
  for (const door of doors) {
    const handler = door.routes.get(path);
    if (!handler) continue;
    if (!isPlainJsonPost(req, path)) return false;
    // What express's app.handle makes of them: its request and response, each knowing the other.
    const request = Object.setPrototypeOf(req, app.request) as Request;
    const response = Object.setPrototypeOf(res, app.response) as Response;
    Object.assign(request, { res: response, baseUrl: '', originalUrl: req.url });
    Object.assign(response, { req: request, locals: Object.create(null) as Record<string, unknown> });
    serveJsonPost(req, res, door.maxBodyBytes, {
      start: () => door.start(request, response, () => undefined),
      problem: (problem) => door.bodyError(response, problem),
      answer: (body) => {
        request.body = body;
        return handler(request, response);
      },
      fail: (error) => door.fail(response, error),
    });
    return true;
  }
  return false;
}
