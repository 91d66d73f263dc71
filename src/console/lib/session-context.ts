import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ApiKey, Me } from './queries';

/** Who is signed in: the key (for requests) and what `me` said about it. */
export interface Session {
  key: string;
  me: Me;
  isAdmin: boolean;
  signOut(message?: string): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

/** A key's display name: "name (prefix…)". */
export function keyLabel(key: Pick<ApiKey, 'name' | 'prefix'>): string {
  return `${key.name} (${key.prefix}…)`;
}
