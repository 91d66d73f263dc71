import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** One event: its name (`event`), `id` and `data`. */
export type SseEvent = EventSourceMessage;

/**
 * Server-sent events as upstreams stream them (OpenAI's `data:` lines, Anthropic's `event:` +
 * `data:` pairs): the events read out of arbitrary network chunks by eventsource-parser, each with
 * its name (`event`), `id` and `data`. Comments are skipped; a last event the stream ends without a
 * blank line after is still yielded.
 */
export async function* sseEvents(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const ready: SseEvent[] = [];
  const parser = createParser({ onEvent: (event) => ready.push(event) });
  for await (const chunk of chunks) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    while (ready.length > 0) yield ready.shift()!;
  }
  parser.feed('\n\n'); // an event the stream ended without a blank line after
  while (ready.length > 0) yield ready.shift()!;
}
