import type { ValueTransformer } from 'typeorm';
import { DefaultNamingStrategy, type NamingStrategyInterface } from 'typeorm';
import { formatUsd, parseUsd, type Pico } from './money';

/** NUMERIC <-> exact pico-dollar BigInt. */
export const moneyTransformer: ValueTransformer = {
  to: (value: Pico | null | undefined) => (value === null || value === undefined ? value : formatUsd(value)),
  from: (value: string | null) => (value === null ? null : parseUsd(value)),
};

/** BIGINT counts (tokens) come back from pg as strings; they fit a JS number. */
export const bigintNumberTransformer: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** NUMERIC ratios (thresholds) as JS numbers. */
export const numericNumberTransformer: ValueTransformer = bigintNumberTransformer;

/** Column names in snake_case, so raw SQL reads naturally. */
export class SnakeNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override columnName(propertyName: string, customName: string | undefined, prefixes: string[]): string {
    return snake([...prefixes, customName ?? propertyName].join('_'));
  }
  override joinColumnName(relationName: string, referencedColumnName: string): string {
    return snake(`${relationName}_${referencedColumnName}`);
  }
}

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
