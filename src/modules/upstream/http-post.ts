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
  /** A whole answer must come within it; a stream may take longer, but no gap in it may. */
  timeoutMs: number;
  /** Reads the upstream's reason from an error body, in its wire's shape. */
  errorBody: (text: string) => UpstreamErrorBody | undefined;
}

/**
 * POSTs a JSON body and reads the whole answer, which must come within the timeout (reading it
 * included); an HTTP error is thrown with the upstream's reason and Retry-After.
 *
 * Straight on the dispatcher, with a handler that gathers the body: undici's `request` would make
 * a readable stream of it, and the deadline would need an abort controller of its own, for every
 * call. Its timeouts tick coarsely (up to half a second late), so the whole answer's is a timer
 * here, cleared once the answer is in; aborting (the deadline, or `signal`) fails the call with
 * the abort's reason, as `request` does.
 */
export function postJson(post: JsonPost): Promise<string> {
  if (post.signal?.aborted) return Promise.reject(toNetworkError(post.signal.reason));
  return new Promise<string>((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let stopped: Error | undefined; // (an abort before the request started: given to it when it does)
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    const stop = (reason: Error) => {
      if (controller) controller.abort(reason);
      else stopped ??= reason;
    };
    const timer = setTimeout(
      () => stop(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      post.timeoutMs,
    );
    const follow = () => stop(post.signal!.reason as Error);
    post.signal?.addEventListener('abort', follow, { once: true });
    const finish = () => {
      clearTimeout(timer);
      post.signal?.removeEventListener('abort', follow);
    };
    const fail = (error: unknown) => {
      finish();
      reject(toNetworkError(error));
    };
    let url: URL;
    try {
      url = new URL(post.url);
    } catch (error) {
      return fail(error);
    }
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(started) {
        controller = started;
        if (stopped) started.abort(stopped);
      },
      onResponseStart(_controller, statusCode, responseHeaders) {
        status = statusCode;
        headers = responseHeaders;
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        finish();
        const text = utf8(Buffer.concat(chunks));
        if (status < 400) return resolve(text);
        reject(
          new UpstreamHttpError(
            status,
            parseRetryAfter(headers),
            `upstream answered ${status}: ${text.slice(0, 200)}`,
            post.errorBody(text),
          ),
        );
      },
      onResponseError: (_controller, error) => fail(error),
    };
    try {
      post.dispatcher.dispatch(
        {
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...post.headers },
          body: JSON.stringify(post.payload),
          headersTimeout: post.timeoutMs,
          bodyTimeout: post.timeoutMs,
        },
        handler,
      );
    } catch (error) {
      // (undici's own dispatchers report what they refuse through the handler; another may throw)
      fail(error);
    }
  });
}

/** UTF-8 text, without a byte-order mark (as fetch's and undici's text() read a body). */
function utf8(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * POSTs a JSON body and answers the event stream as it comes: it may take longer than the
 * timeout, but no gap in it may. An HTTP error is thrown with the upstream's reason and Retry-After.
 */
export async function postJsonStream(post: JsonPost): Promise<AsyncIterable<Uint8Array>> {
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...post.headers },
      body: JSON.stringify(post.payload),
      dispatcher: post.dispatcher,
      signal: post.signal,
      headersTimeout: post.timeoutMs,
      bodyTimeout: post.timeoutMs,
    });
  } catch (error) {
    throw toNetworkError(error);
  }
  if (response.statusCode >= 400) {
    let said: string;
    try {
      said = await response.body.text();
    } catch (error) {
      throw toNetworkError(error);
    }
    throw new UpstreamHttpError(
      response.statusCode,
      parseRetryAfter(response.headers),
      `upstream answered ${response.statusCode}: ${said.slice(0, 200)}`,
      post.errorBody(said),
    );
  }
  return response.body;
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
