import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { EgressRefusedError } from '../../shared/egress';
import { parseRetryAfter } from './retry';
import { UpstreamHttpError, UpstreamNetworkError, type UpstreamErrorBody } from './upstream.types';

export interface JsonPost {
  dispatcher: Dispatcher;
  url: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  /** A stream may take longer than the timeout; no gap in it may. */
  streaming: boolean;
  /** Reads the upstream's reason from an error body, in its wire's shape. */
  errorBody: (text: string) => UpstreamErrorBody | undefined;
}

export interface PostedResponse {
  body: AsyncIterable<Uint8Array>;
  text: () => Promise<string>;
}

/**
 * POSTs a JSON body; an HTTP error is thrown with the upstream's reason and Retry-After. A whole
 * answer must come within the timeout (reading it included); a stream may take longer, but no gap
 * in it may.
 */
export async function postJson(post: JsonPost): Promise<PostedResponse> {
  // (undici's own timeouts tick coarsely, up to half a second late: the whole answer's is exact.)
  // One controller and one timer, cleared once the answer is read: AbortSignal.timeout's timer
  // would stay pending (and keep its signal) for the whole timeout after every call, and
  // AbortSignal.any ties its signals together through weak references the GC has to clear.
  const deadline = post.streaming ? undefined : abortAfter(post.timeoutMs, post.signal);
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...post.headers },
      body: JSON.stringify(post.payload),
      dispatcher: post.dispatcher,
      signal: deadline?.signal ?? post.signal,
      headersTimeout: post.timeoutMs,
      bodyTimeout: post.timeoutMs,
    });
  } catch (error) {
    deadline?.clear();
    throw toNetworkError(error);
  }
  const text = async () => {
    try {
      return await response.body.text();
    } catch (error) {
      throw toNetworkError(error);
    } finally {
      deadline?.clear();
    }
  };
  if (response.statusCode >= 400) {
    const said = await text();
    throw new UpstreamHttpError(
      response.statusCode,
      parseRetryAfter(response.headers),
      `upstream answered ${response.statusCode}: ${said.slice(0, 200)}`,
      post.errorBody(said),
    );
  }
  return { body: response.body, text };
}

/**
 * A signal aborted after `ms` (with a TimeoutError, as AbortSignal.timeout's) or when `outer` is;
 * `clear` stops the timer and lets go of `outer`.
 */
function abortAfter(ms: number, outer: AbortSignal | undefined): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    ms,
  );
  const follow = () => controller.abort(outer!.reason);
  if (outer?.aborted) follow();
  else outer?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', follow);
    },
  };
}

export function toNetworkError(error: unknown): UpstreamNetworkError | EgressRefusedError {
  const refused = error instanceof EgressRefusedError ? error : (error as { cause?: unknown })?.cause;
  if (refused instanceof EgressRefusedError) return refused;
  // By name, not instanceof Error: an AbortSignal's DOMException may come from another realm.
  const name = (error as { name?: unknown } | null)?.name;
  const timeout =
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    name === 'TimeoutError' ||
    name === 'AbortError';
  const message = (error as { message?: unknown } | null)?.message;
  return new UpstreamNetworkError(timeout ? 'timeout' : 'connection', String(message ?? error));
}

/** A string field of an error object, cut to a sane length; undefined when absent or empty. */
export function errorField(error: Record<string, unknown>, name: string): string | undefined {
  const value = error[name];
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 2000) : undefined;
}
