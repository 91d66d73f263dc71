import type { GraphiQLProps } from 'graphiql';
import { getOperationAST, Kind, parse, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { createClient, type Client, type ExecutionResult } from 'graphql-ws';

type Fetcher = GraphiQLProps['fetcher'];
/**
 * GraphiQL's fetcher type names graphql-ws's ExecutionResult (errors as GraphQLError objects);
 * what crosses the wire is the formatted kind (plain { message, locations, path, extensions }),
 * which is what GraphiQL renders. The casts below are at that one seam.
 */
type Result = ExecutionResult;

const failure = (message: string) => ({ errors: [{ message }] }) as unknown as Result;

const HTTP_URL = new URL('/graphql', location.href).href;
const WS_URL = HTTP_URL.replace(/^http/, 'ws');

/**
 * GraphiQL's fetcher for Tollgate: queries and mutations over HTTP (fetch), subscriptions over
 * graphql-ws on the same path. `authorization()` is read at each call, so a key typed in the
 * explorer's field applies to the next operation; a header of the same name in GraphiQL's
 * headers editor wins over it.
 */
export function tollgateFetcher(authorization: () => string | undefined): Fetcher {
  const sockets = new SocketPool();
  return async (params, options) => {
    const headers: Record<string, string> = {};
    const auth = authorization();
    if (auth) headers.authorization = auth;
    for (const [name, value] of Object.entries(options?.headers ?? {})) {
      headers[name.toLowerCase()] = String(value);
    }
    // Parsed here, not taken from GraphiQL's documentAST, which can lag behind the editor's text.
    const document = parsed(params.query);
    const operationName = document ? nameIn(document, params.operationName) : params.operationName;
    const operation = document ? getOperationAST(document, operationName ?? undefined) : null;
    if (operation?.operation === 'subscription') {
      return subscribe(sockets.clientFor(headers.authorization), { ...params, operationName });
    }
    const response = await fetch(HTTP_URL, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json;q=0.9',
      },
      body: JSON.stringify({ ...params, operationName }),
    });
    if (!/json/.test(response.headers.get('content-type') ?? '')) {
      return failure(`HTTP ${response.status}: ${await response.text()}`);
    }
    return (await response.json()) as Result;
  };
}

/**
 * One graphql-ws client per Authorization value: Tollgate authenticates a socket when it opens
 * (connectionParams), so another key needs another socket. The client connects lazily and closes
 * when its last subscription ends.
 */
class SocketPool {
  private current: { authorization: string | undefined; client: Client } | undefined;

  clientFor(authorization: string | undefined): Client {
    if (this.current && this.current.authorization === authorization) return this.current.client;
    void this.current?.client.dispose();
    const client = createClient({
      url: WS_URL,
      connectionParams: authorization ? { authorization } : {},
      lazy: true,
      retryAttempts: 0,
    });
    this.current = { authorization, client };
    return client;
  }
}

/**
 * graphql-ws's iterator, with a refused or closed socket turned into a last result GraphiQL can
 * show (a CloseEvent has no message of its own). Stopping in GraphiQL calls `return`, which
 * completes the subscription at once.
 */
function subscribe(
  client: Client,
  params: { query: string; operationName?: string | null; variables?: unknown },
): AsyncIterableIterator<Result> {
  const inner = client.iterate({
    query: params.query,
    operationName: params.operationName ?? undefined,
    variables: (params.variables ?? undefined) as Record<string, unknown> | undefined,
  });
  let failed = false;
  const done = { done: true, value: undefined } as const;
  const iterator: AsyncIterableIterator<Result> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      if (failed) return done;
      try {
        return (await inner.next()) as unknown as IteratorResult<Result>;
      } catch (error) {
        failed = true;
        return { done: false, value: failure(describe(error)) };
      }
    },
    async return() {
      await inner.return?.();
      return done;
    },
  };
  return iterator;
}

/** The operation's document, or null when it does not parse (the server then says why). */
function parsed(query: string): DocumentNode | null {
  try {
    return parse(query);
  } catch {
    return null;
  }
}

/**
 * The operation to run. GraphiQL names it from its own parse of the editor, which can lag behind
 * the text (a query replaced and run at once keeps the old name); a document of one operation
 * runs that one, whatever the stale name says.
 */
function nameIn(document: DocumentNode, requested: string | null | undefined): string | null | undefined {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (operations.length !== 1) return requested;
  return operations[0]!.name?.value ?? null;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message ?? String(e)).join('; ');
  if (error && typeof error === 'object' && 'code' in error) {
    const { code, reason } = error as { code: number; reason?: string };
    return `The subscription socket closed (${code}${reason ? `: ${reason}` : ''})`;
  }
  return String(error);
}
