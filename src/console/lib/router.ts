import { useEffect, useState } from 'preact/hooks';

/**
 * Client-side routes on real paths (the server answers each page path with index.html).
 * Only paths go in the URL: never a key, never a secret.
 */
export type Page = 'overview' | 'usage' | 'operations' | 'admin' | 'playground';
export const PAGES: { page: Page; path: string; title: string; adminOnly?: boolean }[] = [
  { page: 'overview', path: '/', title: 'Overview' },
  { page: 'usage', path: '/usage', title: 'Usage' },
  { page: 'operations', path: '/operations', title: 'Operations' },
  { page: 'admin', path: '/admin', title: 'Admin', adminOnly: true },
  { page: 'playground', path: '/playground', title: 'Playground' },
];

export function pageOf(pathname: string): Page {
  if (pathname === '/overview') return 'overview';
  return PAGES.find((p) => p.path === pathname)?.page ?? 'overview';
}

const listeners = new Set<() => void>();

export function navigate(path: string): void {
  if (path === location.pathname) return;
  history.pushState(null, '', path);
  for (const l of listeners) l();
}

export function usePathname(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return path;
}
