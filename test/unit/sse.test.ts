import { sseData } from '../../src/modules/providers/sse';

async function collect(chunks: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const data of sseData(
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
    expect(await collect(['data: x\ndata: y\n\nevent: ping\n\ndata:z'])).toEqual(['x\ny', 'z']);
  });
});
