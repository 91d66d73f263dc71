import type http from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { isPlainJsonPost, serveJsonPost, splitUrl, type BodyProblem } from '../shared/json-body';

/**
 * The common GraphQL request, a POST of a JSON body to /graphql, served straight from the HTTP
 * server rather than through express. The bench's stack floors measured what express costs this
 * door: an Apollo server making nothing but the floor's trips answered 20 to 35% more calls at c=50
 * and added 0.2 to 1.2 ms less at c=1 without it (BENCHMARKS.md). What it takes is what the express
 * chain did: the same request id and log (`start`), the same body limits and body errors
 * (`fail`), then Apollo's own handling with the same context. Anything else (a GET, another
 * content type, a compressed or non-UTF-8 body, another path under /graphql, a server with CORS
 * origins) goes through express as before.
 */
export interface GraphqlPostDeps<C extends BaseContext> {
  apollo: ApolloServer<C>;
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
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const result = await deps.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: 'POST', headers, search: splitUrl(req.url).search, body },
    context: () => deps.context(req, res),
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
