import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError } from 'graphql';
import Negotiator from 'negotiator';

const JSON_TYPE = 'application/json';
const GRAPHQL_RESPONSE_TYPE = 'application/graphql-response+json';

/**
 * Errors that stop a well-formed request before it runs: a document that does not parse or
 * validate, variables that do not coerce (Apollo's UserInputError), an operationName that names
 * no operation. A malformed request (no query, variables that are not a map) is BAD_REQUEST and
 * keeps its 400 whatever the client accepts.
 */
const REQUEST_ERRORS = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'OPERATION_RESOLUTION_FAILURE',
]);

/**
 * The media type Apollo answers with, chosen the way Apollo chooses it (the same negotiator, the
 * same order): no Accept header, or one that takes both, gets application/json.
 */
export function responseMediaType(accept: string | undefined): string | undefined {
  return new Negotiator({ headers: { accept } }).mediaType([JSON_TYPE, GRAPHQL_RESPONSE_TYPE]);
}

const listener: GraphQLRequestListener<object> = {
  // Apollo would run a subscription over HTTP as a query and fail inside it (an internal error);
  // say where subscriptions are served instead.
  async didResolveOperation({ operation }) {
    // undefined (despite the type) when operationName names no operation: Apollo answers that itself
    if ((operation as typeof operation | undefined)?.operation !== 'subscription') return;
    throw new GraphQLError(
      'Subscriptions are served over WebSocket (graphql-ws) on this path, not over HTTP',
      {
        extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
      },
    );
  },
  async willSendResponse({ request, response }) {
    if (response.http.status !== 400 || response.body.kind !== 'single') return;
    const { data, errors } = response.body.singleResult;
    if (data !== undefined || !errors?.length) return;
    if (!errors.every((e) => REQUEST_ERRORS.has(String(e.extensions?.code)))) return;
    if (responseMediaType(request.http?.headers.get('accept')) === JSON_TYPE) response.http.status = 200;
  },
};

/**
 * GraphQL over HTTP's status for a request error (spec, "Response" section): a client that
 * accepts application/graphql-response+json reads the status, so it gets 400; a client of the
 * older application/json reads the body, and every well-formed request gets 200 there. Apollo
 * answers 400 to both; this plugin turns it into 200 where the answer is application/json. A
 * subscription sent over HTTP is refused (BAD_REQUEST, 400) with where to send it.
 */
export function graphqlOverHttpStatus(): ApolloServerPlugin<object> {
  return {
    async requestDidStart() {
      return listener;
    },
  };
}
