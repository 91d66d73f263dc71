import type http from 'node:http';

type Json = Record<string, unknown>;

export interface AnthropicUsageCounts {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

/** A message in Anthropic's shape, as its API answers. */
export function anthropicMessage(
  model: string,
  content: Json[],
  usage: AnthropicUsageCounts,
  stopReason = 'end_turn',
): Json {
  return {
    id: 'msg_fake_0123',
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...usage },
  };
}

/** The event sequence Anthropic streams for `message`: text in word pieces, tool input in two halves. */
export function eventsOf(message: Json): Json[] {
  const usage = message.usage as AnthropicUsageCounts;
  const events: Json[] = [
    {
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    },
    { type: 'ping' },
  ];
  (message.content as Json[]).forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const piece of String(block.text).match(/\S+\s*/g) ?? []) {
        events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else if (block.type === 'tool_use') {
      events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      const json = JSON.stringify(block.input);
      const half = Math.floor(json.length / 2);
      for (const part of [json.slice(0, half), json.slice(half)]) {
        events.push({
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: part },
        });
      }
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  events.push({ type: 'message_stop' });
  return events;
}

/** Writes Anthropic's server-sent events, `delayMs` apart; stops if the gateway hangs up. */
export async function sendAnthropicEvents(
  res: http.ServerResponse,
  events: Json[],
  delayMs = 0,
): Promise<{ sent: number; aborted: boolean }> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let aborted = false;
  res.on('close', () => (aborted = !res.writableFinished));
  let sent = 0;
  for (const event of events) {
    if (delayMs > 0 && sent > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (aborted || res.destroyed) return { sent, aborted: true };
    res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
    sent++;
  }
  res.end();
  return { sent, aborted: false };
}

/** An Anthropic error reply. */
export function anthropicError(
  res: http.ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify({ type: 'error', error: { type, message } });
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}
