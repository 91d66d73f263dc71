import { gql } from './api';
import { useSession } from './session-context';

/** Sends a mutation with the signed-in key. */
export function useMutate(): <T>(query: string, variables: Record<string, unknown>) => Promise<T> {
  const { key } = useSession();
  return <T>(query: string, variables: Record<string, unknown>) => gql<T>(key, query, variables);
}

/** "" -> undefined, "12" -> 12; anything else -> NaN (the form reports it). */
export function optionalInt(value: string): number | undefined {
  const trimmed = value.trim();
  if (!trimmed) return undefined;
  return /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
}
