import type { DomainError } from './errors';

/**
 * A request a door received in another wire format than OpenAI's chat (today: Anthropic's
 * Messages API). The pipeline decides on its OpenAI view (routing, estimate, reservation); an
 * upstream that speaks the same format is sent `body` as the client wrote it (the model name
 * mapped), with the client's own protocol headers; any other upstream is sent the OpenAI view.
 */
export interface NativeRequest {
  format: 'anthropic';
  /** The body as the client sent it. */
  body: Record<string, unknown>;
  /** The client's protocol headers to forward on pass-through (anthropic-version, anthropic-beta). */
  headers: Record<string, string>;
  /**
   * Why the body cannot be carried to an upstream of another format (a field the OpenAI view could
   * not hold, named): thrown when the call lands on one. Null when the view holds everything.
   */
  untranslatable: DomainError | null;
  /** Hints the OpenAI view has no place for (cache_control...), each "field: why": said to the client when the view is sent. */
  dropped: string[];
}

/**
 * On a streamed chunk of a passed-through call: the upstream's own events that produced it (and
 * any that produced no chunk of their own since the last one), in order, for the door to forward
 * as they came. A symbol, so no JSON of the chunk ever carries it.
 */
export const NATIVE_EVENTS: unique symbol = Symbol('tollgate.nativeEvents');

export type WithNativeEvents = Record<string, unknown> & { [NATIVE_EVENTS]?: unknown[] };
