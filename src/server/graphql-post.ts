import type http from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';

/**
 * The common GraphQL request, a POST of a JSON body to /graphql, served straight from the HTTP
 * server rather than through express. The bench's stack floors measured what express costs this
 * door: an Apollo server making nothing but the floor's trips answered 20 to 35% more calls at c=50
 * and added 0.2 to 1.2 ms less at c=1 without it (BENCHMARKS.md). What it takes is what the express
 * chain did: the same request id and log (`start`), the same body limits and body errors
 * (`bodyError`), then Apollo's own handling with the same context. Anything else (a GET, another
 * content type, a compressed or non-UTF-8 body, another path under /graphql, a server with CORS
 * origins) goes through express as before.
 */

/** A problem with the body, answered as the express chain's error handler answers it. */
export interface BodyProblem {
  status: 400 | 413;
  type: 'entity.too.large' | 'entity.parse.failed';
}

export interface GraphqlPostDeps<C extends BaseContext> {
  apollo: ApolloServer<C>;
  maxBodyBytes: number;
  /** Names the request (x-request-id) and starts its log, as for every /graphql request. */
  start(req: http.IncomingMessage, res: http.ServerResponse): void;
  context(req: http.IncomingMessage, res: http.ServerResponse): Promise<C>;
  /** Answers a body problem, or an unexpected failure (undefined), in the express chain's shape. */
  fail(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    problem: BodyProblem | undefined,
    error?: unknown,
  ): void;
}

/** Returns the handler: true when it took the request, false when express should. */
export function graphqlPost<C extends BaseContext>(
  deps: GraphqlPostDeps<C>,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    if (!takes(req)) return false;
    deps.start(req, res);
    readBody(req, deps.maxBodyBytes, (problem, text) => {
      if (problem) return deps.fail(req, res, problem);
      const body = parseJson(text!);
      if (body === undefined) return deps.fail(req, res, { status: 400, type: 'entity.parse.failed' });
      answer(deps, req, res, body).catch((error: unknown) => {
        if (!res.headersSent) deps.fail(req, res, undefined, error);
        else res.destroy();
      });
    });
    return true;
  };
}

/** A POST to exactly /graphql with an uncompressed JSON body in UTF-8 (or no charset said). */
function takes(req: http.IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if ((query === -1 ? url : url.slice(0, query)) !== '/graphql') return false;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type'];
  if (type === undefined) return false;
  const [media, ...params] = type.split(';');
  if (media!.trim().toLowerCase() !== 'application/json') return false;
  return params.every((param) => {
    const [name, value] = param.split('=');
    if (name?.trim().toLowerCase() !== 'charset') return true;
    return value?.trim().replace(/^"|"$/g, '').toLowerCase() === 'utf-8';
  });
}

/**
 * Reads the whole body, refusing one over `limit` bytes (by its Content-Length at once, else as it
 * comes) after reading the rest of it off the connection, as body-parser does.
 */
function readBody(
  req: http.IncomingMessage,
  limit: number,
  done: (problem: BodyProblem | undefined, text?: string) => void,
): void {
  const tooLarge: BodyProblem = { status: 413, type: 'entity.too.large' };
  const declared = Number(req.headers['content-length']);
  let over = Number.isFinite(declared) && declared > limit;
  const chunks: Buffer[] = [];
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    length += chunk.length;
    if (length > limit) over = true;
    else chunks.push(chunk);
  });
  req.on('end', () =>
    done(over ? tooLarge : undefined, over ? undefined : Buffer.concat(chunks, length).toString('utf8')),
  );
  // An aborted request has nobody to answer; its socket is gone.
  req.on('error', () => undefined);
}

/**
 * The body as body-parser's JSON parser reads it: an empty body is `{}`; otherwise (after a BOM)
 * an object or array, else undefined (a bare string or number is refused, as in its strict mode).
 */
function parseJson(text: string): unknown {
  const trimmed = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (trimmed.length === 0) return {};
  const first = trimmed.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
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
  const url = req.url ?? '';
  const query = url.indexOf('?');
  const result = await deps.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: 'POST', headers, search: query === -1 ? '' : url.slice(query), body },
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
