import 'reflect-metadata';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { Arg, buildSchema, Field, InputType, Int, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { floorTrips, forkFloor, listenForParent, type FloorServer } from './floor';

/**
 * The stack floors: the floor's trips (a committing write, the upstream call, a second committing
 * write) served through the frameworks SPEC.md prescribes for each door, and nothing else of
 * Tollgate's. `rest`: express 5 with express.json, the body parsed, sent on re-serialized and the
 * answer parsed and sent back with res.json. `graphql`: express 5, express.json and Apollo Server 5
 * (expressMiddleware) over a type-graphql schema with Tollgate's `createChatCompletion` mutation, its
 * input and the fields the bench selects, so the bench sends both the same document. The floor
 * minus a stack floor is what the framework costs; the stack floor minus Tollgate, what
 * Tollgate's own work (auth, limits, routing, the ledger, records) costs through that door.
 */

export type StackDoor = 'rest' | 'graphql';

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
    app.use('/graphql', express.json(), expressMiddleware(apollo));
    listenForParent(http.createServer(app), trips);
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
  if ((door !== 'rest' && door !== 'graphql') || upstreamOrigin === undefined || databaseUrl === undefined)
    throw new Error('usage: stack-floor.ts --serve rest|graphql <upstream origin> <database URL>');
  serve(door, upstreamOrigin, databaseUrl);
}
