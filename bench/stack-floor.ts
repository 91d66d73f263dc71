import 'reflect-metadata';
import http from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { execute, parse, specifiedRules, validate, type DocumentNode } from 'graphql';
import { Arg, buildSchema, Field, InputType, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import {
  floorTrips,
  forkFloor,
  listenForParent,
  STACK_DOORS,
  type FloorServer,
  type StackDoor,
} from './floor';

/**
 * The stack floors: the floor's trips (a committing write, the upstream call, a second committing
 * write) served through the frameworks each door is built on, and nothing else of Tollgate's.
 * `rest`: express 5 with express.json, the body parsed, sent on re-serialized, the answer parsed
 * and sent back with res.json. `graphql`: express 5, express.json and Apollo Server 5
 * (expressMiddleware) over a type-graphql schema with Tollgate's `createChatCompletion` mutation,
 * its input and the fields the bench selects, so the bench sends both the same document.
 * `apollo`: the same Apollo server and schema on a bare node:http server, no express (the body
 * read and parsed by hand, handed to executeHTTPGraphQLRequest): what express costs the GraphQL
 * door. `execute`: the same schema run by graphql-js alone on a document parsed and validated
 * once, no Apollo pipeline: what Tollgate's known operations (src/server/known-operations.ts)
 * cost at least. The floor minus a stack floor is what the frameworks cost; the stack floor minus
 * Tollgate, what Tollgate's own work (auth, limits, routing, the ledger, records) costs through
 * that door.
 */

@InputType()
class ChatMessageInput {
  @Field(() => String) role!: string;
  @Field(() => String, { nullable: true }) content?: string | null;
}

@InputType()
class ChatCompletionInput {
  @Field(() => String, { nullable: true }) model?: string | null;
  @Field(() => [ChatMessageInput]) messages!: ChatMessageInput[];
  @Field(() => Int, { nullable: true }) maxTokens?: number | null;
}

@ObjectType()
class TokenUsage {
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
}

@ObjectType()
class ChatCompletion {
  @Field(() => String) id!: string;
  @Field(() => String) model!: string;
  @Field(() => String, { nullable: true }) content!: string | null;
  @Field(() => String) cost!: string;
  @Field(() => TokenUsage) usage!: TokenUsage;
}

interface OpenAiAnswer {
  id: string;
  model: string;
  choices: { message: { content: string | null } }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

function serve(door: StackDoor, upstreamOrigin: string, databaseUrl: string): void {
  const trips = floorTrips(upstreamOrigin, databaseUrl);
  const app = express();
  app.disable('x-powered-by');
  if (door === 'rest') {
    app.post('/v1/chat/completions', express.json(), (req, res) => {
      trips.call(JSON.stringify(req.body)).then(
        ({ status, text }) => res.status(status).json(JSON.parse(text)),
        (error: unknown) => res.status(502).json({ error: String(error) }),
      );
    });
    listenForParent(http.createServer(app), trips);
    return;
  }
  @Resolver()
  class CompletionResolver {
    @Query(() => String) health(): string {
      return 'ok';
    }

    @Mutation(() => ChatCompletion)
    async createChatCompletion(@Arg('input', () => ChatCompletionInput) input: ChatCompletionInput) {
      const { text } = await trips.call(
        JSON.stringify({ model: input.model, max_tokens: input.maxTokens, messages: input.messages }),
      );
      const answer = JSON.parse(text) as OpenAiAnswer;
      return {
        id: answer.id,
        model: answer.model,
        content: answer.choices[0]?.message.content ?? null,
        cost: '0',
        usage: {
          promptTokens: answer.usage.prompt_tokens,
          completionTokens: answer.usage.completion_tokens,
          totalTokens: answer.usage.total_tokens,
        },
      };
    }
  }
  void (async () => {
    const schema = await buildSchema({ resolvers: [CompletionResolver], validate: false });
    const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginLandingPageDisabled()] });
    await apollo.start();
    if (door === 'graphql') {
      app.use('/graphql', express.json(), expressMiddleware(apollo));
      listenForParent(http.createServer(app), trips);
      return;
    }
    const documents = new Map<string, DocumentNode>();
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      if (door === 'execute') {
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            query: string;
            variables?: Record<string, unknown>;
          };
          let document = documents.get(body.query);
          if (!document) {
            document = parse(body.query);
            const invalid = validate(schema, document, specifiedRules);
            if (invalid.length > 0) throw new Error(invalid.map((e) => e.message).join('; '));
            documents.set(body.query, document);
          }
          void Promise.resolve(
            execute({ schema, document, variableValues: body.variables, contextValue: {} }),
          ).then((result) => {
            res.setHeader('content-type', 'application/json; charset=utf-8');
            res.end(`${JSON.stringify(result)}\n`);
          });
        });
        return;
      }
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers = new HeaderMap();
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        apollo
          .executeHTTPGraphQLRequest({
            httpGraphQLRequest: {
              method: req.method ?? 'POST',
              headers,
              search: '',
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
            },
            context: async () => ({}),
          })
          .then(
            (answer) => {
              for (const [name, value] of answer.headers) res.setHeader(name, value);
              res.statusCode = answer.status ?? 200;
              res.end(answer.body.kind === 'complete' ? answer.body.string : '');
            },
            (error: unknown) => {
              res.statusCode = 500;
              res.end(String(error));
            },
          );
      });
    });
    listenForParent(server, trips);
  })();
}

/** Forks this file as the stack floor of `door` and resolves once it listens. */
export function startStackFloor(
  door: StackDoor,
  upstreamOrigin: string,
  databaseUrl: string,
  database: string,
): Promise<FloorServer> {
  return forkFloor(__filename, ['--serve', door, upstreamOrigin, databaseUrl], database);
}

if (require.main === module && process.argv[2] === '--serve') {
  const [door, upstreamOrigin, databaseUrl] = process.argv.slice(3);
  if (!STACK_DOORS.includes(door as StackDoor) || upstreamOrigin === undefined || databaseUrl === undefined)
    throw new Error(
      `usage: stack-floor.ts --serve ${STACK_DOORS.join('|')} <upstream origin> <database URL>`,
    );
  serve(door as StackDoor, upstreamOrigin, databaseUrl);
}
