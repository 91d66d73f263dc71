import type http from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { isPlainJsonPost, serveJsonPost, splitUrl, type BodyProblem } from '../shared/json-body';
import { graphqlKnownOperationsTotal } from '../shared/metrics';
import type { KnownOperation, KnownOperations } from './known-operations';

/**
 * The common GraphQL request, a POST of a JSON body to /graphql, served straight from the HTTP
 * server rather than through express. The bench's stack floors measured what express costs this
 * door: an Apollo server making nothing but the floor's trips answered 20 to 35% more calls at c=50
 * and added 0.2 to 1.2 ms less at c=1 without it (BENCHMARKS.md). What it takes is what the express
 * chain did: the same request id and log (`start`), the same body limits and body errors
 * (`fail`), then Apollo's own handling with the same context, or graphql-js's alone for an
 * operation Apollo has validated before (known-operations.ts). Anything else (a GET, another
 * content type, a compressed or non-UTF-8 body, another path under /graphql, a server with CORS
 * origins) goes through express as before.
 */
export interface GraphqlPostDeps<C extends BaseContext> {
  apollo: ApolloServer<C>;
  known: KnownOperations;
  maxBodyBytes: number;
  /** Names the request (x-request-id) and starts its log, as for every /graphql request. */
  start(req: http.IncomingMessage, res: http.ServerResponse): void;
  context(req: http.IncomingMessage, res: http.ServerResponse): Promise<C>;
  /** Answers a body problem, or an unexpected failure, in the express chain's shape. */
  fail(req: http.IncomingMessage, res: http.ServerResponse, problem: BodyProblem | unknown): void;
}

/** Returns the handler: true when it took the request, false when express should. */
export function graphqlPost<C extends BaseContext>(
  deps: GraphqlPostDeps<C>,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    if (!isPlainJsonPost(req, '/graphql')) return false;
    const fail = (error: unknown) => deps.fail(req, res, error);
    serveJsonPost(req, res, deps.maxBodyBytes, {
      start: () => deps.start(req, res),
      problem: fail,
      answer: (body) => answer(deps, req, res, body),
      fail,
    });
    return true;
  };
}

async function answer<C extends BaseContext>(
  deps: GraphqlPostDeps<C>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
): Promise<void> {
  await (runKnown(deps, req, res, body) ?? viaApollo(deps, req, res, body, () => deps.context(req, res)));
}

/** What running a known operation needs: Apollo for what it hands back, and the request's context. */
export type KnownPostDeps<C extends BaseContext> = Pick<GraphqlPostDeps<C>, 'apollo' | 'known' | 'context'>;

/**
 * Runs the body's operation on the known path (known-operations.ts) when it takes it, on this
 * server or in the express chain of one with CORS origins; undefined when it does not, for Apollo.
 */
export function runKnown<C extends BaseContext>(
  deps: KnownPostDeps<C>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
): Promise<void> | undefined {
  const operation = deps.known.match(body);
  const mediaType = operation && deps.known.mediaType(req.headers.accept);
  if (!operation || !mediaType) return undefined;
  return runOperation(deps, req, res, body, operation, mediaType);
}

async function runOperation<C extends BaseContext>(
  deps: KnownPostDeps<C>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
  operation: KnownOperation,
  mediaType: string,
): Promise<void> {
  let context: C;
  try {
    context = await deps.context(req, res);
  } catch (error) {
    // Apollo answers a context that failed, in its words
    return viaApollo(deps, req, res, body, () => Promise.reject(error));
  }
  const known = await deps.known.execute(operation, context);
  // refused before anything ran: Apollo refuses it again, in its words
  if (!known) return viaApollo(deps, req, res, body, async () => context);
  graphqlKnownOperationsTotal.inc();
  for (const [name, value] of known.headers) res.setHeader(name, value);
  if (!known.headers.has('content-type')) res.setHeader('content-type', mediaType);
  res.statusCode = known.status;
  res.end(known.body);
}

async function viaApollo<C extends BaseContext>(
  deps: KnownPostDeps<C>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
  context: () => Promise<C>,
): Promise<void> {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const result = await deps.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: 'POST', headers, search: splitUrl(req.url).search, body },
    context,
  });
  for (const [name, value] of result.headers) res.setHeader(name, value);
  res.statusCode = result.status ?? 200;
  if (result.body.kind === 'complete') {
    res.end(result.body.string);
    return;
  }
  for await (const chunk of result.body.asyncIterator) res.write(chunk);
  res.end();
}
