/**
 * The signed-in key lives in sessionStorage only: it goes when the tab closes, is never put in
 * a URL, and is sent only to this origin (the Authorization header and graphql-ws's
 * connection_init).
 */
const STORAGE_KEY = 'tollgate.console.key';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // storage disabled: nothing was kept
  }
}
