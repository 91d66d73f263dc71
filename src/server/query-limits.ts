import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin } from '@apollo/server';
import type { ValidationRule } from 'graphql';

export const MAX_DEPTH = 12;
export const MAX_ALIASES = 100;
export const MAX_COST = 5_000;
export const MAX_PARSE_TOKENS = 20_000;

/**
 * What an operation may be, checked before anything executes, by graphql-armor: nesting depth
 * (fragments expanded), aliases (the console's usage chart sends one per day of a range, up to 92),
 * directives, a cost that grows with every field and with depth (so no alias or fragment fan-out
 * can make one request do unbounded work); tokens are capped at parse time. Field suggestions ("did you
 * mean ...?") are masked when introspection is off, since they would give the schema away anyway.
 * The same rules serve both transports: Apollo takes the plugins and rules, graphql-ws the rules.
 */
export function queryLimits(introspection: boolean): {
  plugins: ApolloServerPlugin[];
  validationRules: ValidationRule[];
} {
  const armor = new ApolloArmor({
    maxDepth: { n: MAX_DEPTH, flattenFragments: true },
    maxAliases: { n: MAX_ALIASES },
    maxDirectives: { n: 50 },
    costLimit: {
      maxCost: MAX_COST,
      objectCost: 2,
      scalarCost: 1,
      depthCostFactor: 1.5,
      flattenFragments: true,
    },
    // Parsing is limited by graphql's own maxTokens (Apollo's parseOptions, graphql-ws's parse), which
    // keeps a parse error a GRAPHQL_PARSE_FAILED; armor's parser plugin would report it as a validation error.
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: !introspection },
  });
  const { plugins, validationRules } = armor.protect();
  return { plugins, validationRules };
}
