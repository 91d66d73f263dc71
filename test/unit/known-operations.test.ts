import { buildSchema, GraphQLError, parse, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import type { GraphQLRequestContextExecutionDidStart } from '@apollo/server';
import { KnownOperations, MEDIA_TYPES } from '../../src/server/known-operations';

const schema = buildSchema(`
  scalar Raw
  type Query { hello: String, fail: String, teapot: String, broken: String, raw: Raw }
  type Mutation { touch: Int }
  type Subscription { ticks: Int }
`);

// resolvers on the built schema's fields (what type-graphql's schema carries)
const fields = schema.getQueryType()!.getFields();
fields.hello!.resolve = () => 'world';
fields.fail!.resolve = () => {
  throw new GraphQLError('no', { extensions: { code: 'NOT_FOUND' } });
};
fields.teapot!.resolve = () => {
  throw new GraphQLError('short and stout', {
    extensions: { code: 'BAD_REQUEST', http: { status: 418, headers: new Map([['x-tea', 'earl grey']]) } },
  });
};
fields.broken!.resolve = () => {
  throw new Error('a bug');
};
// a value JSON cannot write: the answer's serialization throws
fields.raw!.resolve = () => BigInt(1);

function known(formatError: (formatted: unknown, cause: unknown) => unknown = (formatted) => formatted): {
  ops: KnownOperations;
  encountered: GraphQLError[];
} {
  const encountered: GraphQLError[] = [];
  const ops = new KnownOperations({
    schema,
    formatError: formatError as never,
    encountered: (errors) => encountered.push(...errors),
  });
  return { ops, encountered };
}

/** What Apollo's pipeline tells the plugin as it starts executing an operation of a validated document. */
async function learn(ops: KnownOperations, source: string, operationName?: string): Promise<DocumentNode> {
  const document = parse(source);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === 'OperationDefinition' && (!operationName || d.name?.value === operationName),
  );
  const listener = await ops.plugin.requestDidStart!({} as never);
  await listener!.executionDidStart!({
    source,
    document,
    operation,
  } as GraphQLRequestContextExecutionDidStart<object>);
  return document;
}

describe('KnownOperations', () => {
  it('takes only documents Apollo resolved a query or mutation of, with well-formed fields', async () => {
    const { ops } = known();
    expect(ops.match({ query: '{ hello }' })).toBeUndefined();
    const document = await learn(ops, '{ hello }');
    expect(ops.match({ query: '{ hello }' })).toEqual({
      document,
      operationName: undefined,
      variables: undefined,
    });
    expect(ops.match({ query: '{ hello }', variables: { a: 1 }, operationName: null })).toEqual({
      document,
      operationName: undefined,
      variables: { a: 1 },
    });
    for (const body of [
      { query: '{ hello }', extensions: {} },
      { query: '{ hello }', variables: [] },
      { query: '{ hello }', variables: '{}' },
      { query: '{ hello }', operationName: 1 },
      { query: '{ hello }', operationName: 'Other' },
      [{ query: '{ hello }' }],
      '{ hello }',
      null,
    ])
      expect(ops.match(body)).toBeUndefined();
    await learn(ops, 'subscription { ticks }');
    expect(ops.match({ query: 'subscription { ticks }' })).toBeUndefined();
    await learn(ops, 'query A { hello } mutation B { touch }', 'B');
    expect(ops.match({ query: 'query A { hello } mutation B { touch }' })).toBeUndefined();
    expect(ops.match({ query: 'query A { hello } mutation B { touch }', operationName: 'B' })).toBeDefined();
  });

  it('remembers at most 500 documents, forgetting the least recently used first', async () => {
    const { ops } = known();
    for (let i = 0; i < 500; i++) await learn(ops, `{ hello } # ${i}`);
    expect(ops.match({ query: '{ hello } # 0' })).toBeDefined();
    await learn(ops, '{ hello } # 500');
    expect(ops.match({ query: '{ hello } # 0' })).toBeDefined();
    expect(ops.match({ query: '{ hello } # 1' })).toBeUndefined();
    expect(ops.match({ query: '{ hello } # 500' })).toBeDefined();
  });

  it('remembers at most 500,000 characters of documents, and no document of over 50,000', async () => {
    const { ops } = known();
    const padded = (i: number) => `{ hello } # ${String(i).padEnd(40_000, '.')}`;
    await learn(ops, `{ hello } # ${'.'.repeat(50_001)}`);
    expect(ops.match({ query: `{ hello } # ${'.'.repeat(50_001)}` })).toBeUndefined();
    for (let i = 0; i < 13; i++) await learn(ops, padded(i));
    expect(ops.match({ query: padded(0) })).toBeUndefined();
    expect(ops.match({ query: padded(1) })).toBeDefined();
    expect(ops.match({ query: padded(12) })).toBeDefined();
  });

  it('stops taking operations once Apollo stops', async () => {
    const { ops } = known();
    await learn(ops, '{ hello }');
    const server = await ops.plugin.serverWillStart!({} as never);
    await server!.serverWillStop!();
    expect(ops.match({ query: '{ hello }' })).toBeUndefined();
  });

  it("negotiates Apollo's single-result media types, and leaves the others to Apollo", () => {
    const { ops } = known();
    expect(ops.mediaType(undefined)).toBe(MEDIA_TYPES.json);
    expect(ops.mediaType('*/*')).toBe(MEDIA_TYPES.json);
    expect(ops.mediaType('application/graphql-response+json, application/json;q=0.9')).toBe(
      MEDIA_TYPES.graphqlResponse,
    );
    expect(ops.mediaType('application/json; callbackSpec=1.0')).toBeUndefined();
    expect(ops.mediaType('text/html')).toBeUndefined();
  });

  it('answers data with Apollo’s field order and newline, and hands back what never ran', async () => {
    const { ops } = known();
    const operation = { document: parse('query($n: Int!) { hello }'), operationName: undefined };
    const answer = await ops.execute({ ...operation, variables: { n: 1 } }, {});
    expect(answer).toEqual({ status: 200, headers: new Map(), body: '{"data":{"hello":"world"}}\n' });
    expect(await ops.execute({ ...operation, variables: { n: 'x' } }, {})).toBeUndefined();
  });

  it("formats errors as Apollo does: formatError, a default code, the http extension's status and headers", async () => {
    const { ops, encountered } = known((formatted) => {
      if ((formatted as { message: string }).message === 'a bug') throw new Error('formatError failed');
      return formatted;
    });
    const run = (query: string) =>
      ops.execute({ document: parse(query), operationName: undefined, variables: undefined }, { who: 'ctx' });
    const failed = await run('{ hello fail }');
    expect(failed).toEqual({
      status: 200,
      headers: new Map(),
      body: `${JSON.stringify({
        errors: [
          {
            message: 'no',
            locations: [{ line: 1, column: 9 }],
            path: ['fail'],
            extensions: { code: 'NOT_FOUND' },
          },
        ],
        data: { hello: 'world', fail: null },
      })}\n`,
    });
    expect(encountered.map((e) => e.message)).toEqual(['no']);
    const teapot = await run('{ teapot }');
    expect(teapot?.status).toBe(418);
    // Apollo's HeaderMap lowercases the names
    expect(teapot?.headers).toEqual(new Map([['x-tea', 'earl grey']]));
    expect(JSON.parse(teapot!.body).errors).toEqual([
      expect.objectContaining({ message: 'short and stout', extensions: { code: 'BAD_REQUEST' } }),
    ]);
    // no code: INTERNAL_SERVER_ERROR before formatError sees it; a formatError that throws: a bare internal error
    const broken = await run('{ broken }');
    expect(JSON.parse(broken!.body).errors).toEqual([
      { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    const seen: unknown[] = [];
    const { ops: plain } = known((formatted) => {
      seen.push(formatted);
      return formatted;
    });
    await plain.execute(
      { document: parse('{ broken }'), operationName: undefined, variables: undefined },
      {},
    );
    expect(seen).toEqual([
      expect.objectContaining({ message: 'a bug', extensions: { code: 'INTERNAL_SERVER_ERROR' } }),
    ]);
  });

  it('answers a failure of its own as Apollo answers a failure to answer: formatError on the cause, 500', async () => {
    const causes: unknown[] = [];
    const { ops, encountered } = known((_formatted, cause) => {
      causes.push(cause);
      // what the server's formatError makes of an internal error: logged, masked
      return { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    });
    const answer = await ops.execute(
      { document: parse('{ raw }'), operationName: undefined, variables: undefined },
      {},
    );
    expect(answer).toEqual({
      status: 500,
      headers: new Map(),
      body: '{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}\n',
    });
    // the cause itself, as Apollo passes it, and tagged with the request like any other error
    expect(causes).toEqual([expect.any(TypeError)]);
    expect(encountered).toEqual([expect.objectContaining({ originalError: causes[0] })]);
  });
});
