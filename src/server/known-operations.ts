import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import Negotiator from 'negotiator';
import {
  execute,
  getOperationAST,
  GraphQLError,
  type DocumentNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

/**
 * Known operations: a GraphQL POST of a document Apollo has already parsed and validated runs
 * straight on graphql-js, without Apollo's request pipeline. For a document it has seen, that
 * pipeline still hashes the text, negotiates the media type twice and awaits every plugin at each
 * step: 0.3 ms of CPU per call at c=50 on the bench's machine, a quarter of a completion's
 * (BENCHMARKS.md, the stack-execute floor).
 *
 * What it takes, and answers exactly as Apollo would: a query or mutation, by `query` text Apollo
 * validated (with every rule and limit Apollo applies), optional `operationName` and `variables`,
 * no `extensions`, answered as application/json or application/graphql-response+json. What graphql-js
 * refuses before running anything (variables that do not coerce) goes back to Apollo, which refuses
 * it in its own words; nothing has run then. Everything else (a new document, a subscription, a
 * persisted query, another media type) goes to Apollo as before.
 *
 * Apollo's plugins that act on an executed operation's errors are mirrored by `encountered` (the
 * request's logger tagged on each error); graphql-armor's suggestion mask is not, as on graphql-ws:
 * GraphQL's suggestions come from validating and coercing, which never run here, and formatError
 * answers a domain error with its own message. (A resolver throwing a GraphQLError whose message
 * holds a "Did you mean" would keep it here; none does.) Apollo's usage and schema reporting are
 * off (http.ts), so no report misses the operations run here.
 */

/** Apollo's single-result media types, in the order it negotiates them. */
export const MEDIA_TYPES = {
  json: 'application/json; charset=utf-8',
  graphqlResponse: 'application/graphql-response+json; charset=utf-8',
  jsonCallback: 'application/json; callbackSpec=1.0; charset=utf-8',
} as const;

/**
 * At most this many documents, of at most this many characters in all (a parsed document holds
 * tens of bytes per character of its text, comments included), the least recently used forgotten
 * first: a client sending new texts costs the others speed, never memory.
 */
const MAX_DOCUMENTS = 500;
const MAX_CHARS = 500_000;
/** Accept headers whose negotiated media type is remembered (clients send a handful). */
const MAX_ACCEPTS = 100;

export interface KnownOperation {
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
}

/** An executed operation's HTTP answer, as Apollo would give it. */
export interface KnownAnswer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

export interface KnownOperationsDeps {
  schema: GraphQLSchema;
  /** Apollo's formatError: the same one, so errors leave this path as they leave Apollo's. */
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  /** What the server's Apollo plugins do with an executed operation's errors (didEncounterErrors). */
  encountered(errors: readonly GraphQLError[], contextValue: unknown): void;
}

export class KnownOperations {
  private readonly documents = new Map<string, DocumentNode>();
  private chars = 0;
  private open = true;
  private readonly mediaTypes = new Map<string, string | null>();

  // Learned once Apollo is about to execute: every plugin's didResolveOperation let it through, and
  // none answered it instead.
  private readonly listener: GraphQLRequestListener<object> = {
    executionDidStart: async ({ source, document, operation }) => {
      const kind = (operation as OperationDefinitionNode | undefined)?.operation;
      if (kind === 'query' || kind === 'mutation') this.remember(source, document);
      return undefined;
    },
  };

  /** Apollo's plugin for it: learns each document Apollo resolved an operation of, and closes with Apollo. */
  readonly plugin: ApolloServerPlugin<object> = {
    requestDidStart: async () => this.listener,
    serverWillStart: async () => ({
      serverWillStop: async () => {
        this.open = false;
      },
    }),
  };

  constructor(private readonly deps: KnownOperationsDeps) {}

  /** The operation a POST body asks for, when this path takes it; undefined sends the body to Apollo. */
  match(body: unknown): KnownOperation | undefined {
    if (!this.open || !isRecord(body)) return undefined;
    const { query, operationName, variables, extensions } = body;
    if (typeof query !== 'string' || extensions != null) return undefined;
    if (operationName != null && typeof operationName !== 'string') return undefined;
    if (variables != null && !isRecord(variables)) return undefined;
    const document = this.documents.get(query);
    if (!document) return undefined;
    // the most recently used last
    this.documents.delete(query);
    this.documents.set(query, document);
    const operation = getOperationAST(document, operationName);
    if (operation?.operation !== 'query' && operation?.operation !== 'mutation') return undefined;
    return { document, operationName: operationName ?? undefined, variables: variables ?? undefined };
  }

  /**
   * The media type Apollo would answer a single result with, for these Accept headers; undefined when
   * it is not one this path writes (Apollo answers those: the callback type, or a 406).
   */
  mediaType(accept: string | undefined): string | undefined {
    if (!accept) return MEDIA_TYPES.json;
    let chosen = this.mediaTypes.get(accept);
    if (chosen === undefined) {
      chosen =
        new Negotiator({ headers: { accept } }).mediaType([
          MEDIA_TYPES.json,
          MEDIA_TYPES.graphqlResponse,
          MEDIA_TYPES.jsonCallback,
        ]) ?? null;
      if (this.mediaTypes.size < MAX_ACCEPTS) this.mediaTypes.set(accept, chosen);
    }
    return chosen === MEDIA_TYPES.json || chosen === MEDIA_TYPES.graphqlResponse ? chosen : undefined;
  }

  /**
   * Runs it and answers as Apollo would; undefined when graphql-js refused it before running anything
   * (its variables), which Apollo then answers.
   */
  async execute(operation: KnownOperation, contextValue: unknown): Promise<KnownAnswer | undefined> {
    try {
      return await this.executeOrThrow(operation, contextValue);
    } catch (error) {
      return this.internalError(error, contextValue);
    }
  }

  private async executeOrThrow(
    operation: KnownOperation,
    contextValue: unknown,
  ): Promise<KnownAnswer | undefined> {
    const result = await execute({
      schema: this.deps.schema,
      document: operation.document,
      operationName: operation.operationName,
      variableValues: operation.variables,
      contextValue,
    });
    if (result.data === undefined) return undefined;
    const answer: KnownAnswer = { status: 200, headers: new Map(), body: '' };
    let errors: GraphQLFormattedError[] | undefined;
    if (result.errors) {
      this.deps.encountered(result.errors, contextValue);
      errors = result.errors.map((error) => this.formatExecutionError(error, answer));
    }
    // Apollo's field order, and its trailing newline
    answer.body = `${JSON.stringify({ errors, data: result.data, extensions: result.extensions })}\n`;
    return answer;
  }

  /**
   * What Apollo answers when answering itself fails (a result that does not serialize, say): the
   * error through formatError, which logs it and masks it, with status 500.
   */
  private internalError(error: unknown, contextValue: unknown): KnownAnswer {
    const graphqlError =
      error instanceof GraphQLError
        ? error
        : new GraphQLError(
            error instanceof Error ? error.message : `Unexpected error value: ${String(error)}`,
            {
              originalError: error instanceof Error ? error : undefined,
            },
          );
    // tagged, so its log line names the request
    this.deps.encountered([graphqlError], contextValue);
    const answer: KnownAnswer = { status: 500, headers: new Map(), body: '' };
    const formatted = this.formatExecutionError(graphqlError, answer, error);
    answer.body = `${JSON.stringify({ errors: [formatted] })}\n`;
    return answer;
  }

  /**
   * Apollo's normalizeAndFormatErrors for one error, without stack traces: a missing code becomes
   * INTERNAL_SERVER_ERROR, an `http` extension sets the answer's status and headers and is removed,
   * and a formatError that throws yields a bare internal error.
   */
  private formatExecutionError(
    error: GraphQLError,
    answer: KnownAnswer,
    original: unknown = error,
  ): GraphQLFormattedError {
    try {
      const extensions: Record<string, unknown> = {
        ...error.extensions,
        code: error.extensions.code ?? 'INTERNAL_SERVER_ERROR',
      };
      const head = extensions.http;
      if (isHttpHead(head)) {
        if (head.status) answer.status = head.status;
        // (Apollo's HeaderMap lowercases names)
        for (const [name, value] of head.headers ?? []) answer.headers.set(name.toLowerCase(), value);
        delete extensions.http;
      }
      return this.deps.formatError({ ...error.toJSON(), extensions }, original);
    } catch {
      return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
  }

  private remember(source: string, document: DocumentNode): void {
    if (this.documents.has(source) || source.length > MAX_CHARS / 10) return;
    this.documents.set(source, document);
    this.chars += source.length;
    // the oldest first, until both bounds hold
    for (const [oldest] of this.documents) {
      if (this.documents.size <= MAX_DOCUMENTS && this.chars <= MAX_CHARS) break;
      this.documents.delete(oldest);
      this.chars -= oldest.length;
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Apollo's partial HTTP head in an error's extensions: a numeric status and a Map of headers, each optional. */
function isHttpHead(value: unknown): value is { status?: number; headers?: Map<string, string> } {
  if (typeof value !== 'object' || value === null) return false;
  const head = value as { status?: unknown; headers?: unknown };
  return (
    (!('status' in head) || typeof head.status === 'number') &&
    (!('headers' in head) || head.headers instanceof Map)
  );
}
