/**
 * Queries and mutations over HTTP (POST /graphql, same origin). Errors keep the API's
 * `extensions.code` and `extensions.field`, so forms can show a message next to the field it
 * names.
 */
export interface GraphQLErrorShape {
  message: string;
  extensions?: { code?: string; field?: string } & Record<string, unknown>;
}

export class ApiError extends Error {
  readonly code: string;
  /** The input field the API named (`extensions.field`), when it named one. */
  readonly field: string | undefined;
  readonly extensions: Record<string, unknown>;

  constructor(message: string, code: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = typeof extensions.field === 'string' ? extensions.field : undefined;
    this.extensions = extensions;
  }

  static from(errors: readonly GraphQLErrorShape[]): ApiError {
    const first = errors[0] ?? { message: 'Unknown error' };
    return new ApiError(first.message, first.extensions?.code ?? 'UNKNOWN', first.extensions ?? {});
  }
}

export const GRAPHQL_PATH = '/graphql';

let onUnauthenticated: ((error: ApiError) => void) | undefined;

/** Called when the API refuses the signed-in key mid-session (revoked): the app signs out. */
export function setUnauthenticatedHandler(handler: ((error: ApiError) => void) | undefined): void {
  onUnauthenticated = handler;
}

export async function gql<T>(
  key: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: { signal?: AbortSignal; quietAuth?: boolean } = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(GRAPHQL_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      signal: options.signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError('Cannot reach Tollgate: is the server running?', 'NETWORK');
  }
  let body: { data?: T | null; errors?: GraphQLErrorShape[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError(`Tollgate answered HTTP ${response.status} without a GraphQL body`, 'NETWORK');
  }
  if (body.errors?.length) {
    const error = ApiError.from(body.errors);
    if (error.code === 'UNAUTHENTICATED' && !options.quietAuth) onUnauthenticated?.(error);
    throw error;
  }
  if (!body.data) throw new ApiError('Empty answer from Tollgate', 'UNKNOWN');
  return body.data;
}

/** A readable line for any error a page may show. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    switch (error.code) {
      case 'FORBIDDEN':
        return `${error.message} (this needs an ADMIN key)`;
      case 'BUDGET_EXCEEDED': {
        const x = error.extensions;
        const figures = ['currentSpend', 'projectedSpend', 'budgetLimit', 'shortfall']
          .filter((k) => typeof x[k] === 'string')
          .map((k) => `${k} $${String(x[k])}`)
          .join(', ');
        return `${error.message}${figures ? ` — ${figures}` : ''}`;
      }
      case 'RATE_LIMITED':
        return `${error.message}${typeof error.extensions.retryAfterMs === 'number' ? ` (retry in ${error.extensions.retryAfterMs} ms)` : ''}`;
      default:
        return error.message;
    }
  }
  return error instanceof Error ? error.message : String(error);
}
