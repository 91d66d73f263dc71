import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { formatUsd, parseUsd, type Pico } from './money';

/** Exact money: a decimal USD string on the wire ("0.00035"), a BigInt of pico-dollars inside. */
export const USDScalar = new GraphQLScalarType<Pico, string>({
  name: 'USD',
  description: 'An exact amount of US dollars as a decimal string, e.g. "0.00035" (up to 12 decimals).',
  serialize: (value) => {
    if (typeof value !== 'bigint') throw new GraphQLError('USD values are serialized from BigInt');
    return formatUsd(value);
  },
  parseValue: (value) => parse(value),
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT) return parse(ast.value);
    throw new GraphQLError('USD must be a decimal string', { extensions: { code: 'BAD_USER_INPUT' } });
  },
});

function parse(value: unknown): Pico {
  if (typeof value !== 'string' && typeof value !== 'number') {
    throw new GraphQLError('USD must be a decimal string', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  try {
    return parseUsd(value);
  } catch {
    throw new GraphQLError('USD must be a decimal string with at most 12 decimals', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
}
