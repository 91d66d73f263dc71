import { sseEvents } from '../../src/modules/upstream/sse';

async function collect(chunks: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const { data } of sseEvents(
    (async function* () {
      yield* chunks;
    })(),
  ))
    out.push(data);
  return out;
}

describe('server-sent events parser', () => {
  it('yields each event across arbitrary chunk boundaries', async () => {
    expect(
      await collect(['data: {"a":', '1}\n\ndata: {"b":2}\r\n\r', '\n: keep-alive\n\ndata: [DONE]\n\n']),
    ).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
  });
  it('joins multi-line data and keeps a final event without a blank line', async () => {
    expect(await collect(['data: x\ndata: y\n\ndata:z'])).toEqual(['x\ny', 'z']);
  });
  it("keeps each event's name, as Anthropic streams name them", async () => {
    const events = [];
    for await (const event of sseEvents(
      (async function* () {
        yield 'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {"type": "ping"}\n\n';
      })(),
    ))
      events.push(event);
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ['message_start', '{"type":"message_start"}'],
      ['ping', '{"type": "ping"}'],
    ]);
  });
});
