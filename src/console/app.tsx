import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ConnectionBadge } from './components/connection';
import { gql, setUnauthenticatedHandler } from './lib/api';
import { LiveProvider, useLive } from './lib/live-context';
import { ME, type Me } from './lib/queries';
import { navigate, pageOf, PAGES, usePathname, type Page } from './lib/router';
import { forgetKey, storedKey, storeKey } from './lib/session';
import { SessionContext, useSession, type Session } from './lib/session-context';
import { AdminPage } from './pages/admin';
import { OperationsPage } from './pages/operations';
import { OverviewPage } from './pages/overview';
import { PlaygroundPage } from './pages/playground';
import { SignIn } from './pages/sign-in';
import { UsagePage } from './pages/usage';

type Auth = { state: 'checking' } | { state: 'out'; notice?: string } | { state: 'in'; key: string; me: Me };

export function App() {
  const [auth, setAuth] = useState<Auth>(() => (storedKey() ? { state: 'checking' } : { state: 'out' }));

  const signOut = useCallback((notice?: string) => {
    forgetKey();
    setAuth({ state: 'out', notice });
  }, []);

  // A key kept from earlier in this tab is checked again before use.
  useEffect(() => {
    const key = storedKey();
    if (auth.state !== 'checking' || !key) return;
    gql<{ me: Me }>(key, ME, {}, { quietAuth: true }).then(
      ({ me }) => (me.apiKey ? setAuth({ state: 'in', key, me }) : signOut()),
      (e: unknown) => signOut(e instanceof Error ? `Signed out: ${e.message}` : undefined),
    );
  }, [auth.state, signOut]);

  useEffect(() => {
    setUnauthenticatedHandler(() => signOut('Signed out: the API no longer accepts this key (revoked?).'));
    return () => setUnauthenticatedHandler(undefined);
  }, [signOut]);

  if (auth.state === 'checking') return <p class="loading-screen">Loading…</p>;
  if (auth.state === 'out')
    return (
      <SignIn
        notice={auth.notice}
        onSignedIn={(key, me) => {
          storeKey(key);
          setAuth({ state: 'in', key, me });
        }}
      />
    );
  const session: Session = { key: auth.key, me: auth.me, isAdmin: auth.me.apiKey?.role === 'ADMIN', signOut };
  return (
    <SessionContext.Provider value={session}>
      <LiveProvider key={auth.key}>
        <Shell />
      </LiveProvider>
    </SessionContext.Provider>
  );
}

function Shell() {
  const session = useSession();
  const live = useLive();
  const path = usePathname();
  const page = pageOf(path);
  const pages = useMemo(() => PAGES.filter((p) => !p.adminOnly || session.isAdmin), [session.isAdmin]);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After navigation, move focus to the page so keyboard and screen reader users land there.
  useEffect(() => {
    const title = PAGES.find((p) => p.page === page)?.title ?? 'Overview';
    document.title = `${title} · Tollgate Console`;
    if (first.current) {
      first.current = false;
      return;
    }
    window.scrollTo(0, 0);
    main.current?.focus({ preventScroll: true });
  }, [page]);

  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ◗
          </span>
          <span>
            <strong>Tollgate</strong>
            <span class="project" data-project>
              {session.me.project?.name}
            </span>
          </span>
        </div>
        <ConnectionBadge state={live.connection} />
        <div class="who">
          <span class={`badge role-${session.isAdmin ? 'admin' : 'client'}`} data-role>
            {session.me.apiKey?.role}
          </span>
          <span class="muted key-name">{session.me.apiKey?.name}</span>
          <button type="button" class="ghost" onClick={() => session.signOut('Signed out.')}>
            Sign out
          </button>
        </div>
        <nav class="tabs" aria-label="Pages">
          {pages.map((p) => (
            <a
              key={p.page}
              href={p.path}
              aria-current={p.page === page ? 'page' : undefined}
              onClick={(e) => {
                if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
                e.preventDefault();
                navigate(p.path);
              }}
            >
              {p.title}
            </a>
          ))}
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <CurrentPage page={page} />
      </main>
    </div>
  );
}

function CurrentPage({ page }: { page: Page }) {
  const { isAdmin } = useSession();
  switch (page) {
    case 'overview':
      return <OverviewPage />;
    case 'usage':
      return <UsagePage />;
    case 'operations':
      return <OperationsPage />;
    case 'admin':
      return isAdmin ? (
        <AdminPage />
      ) : (
        <section class="page">
          <h1>Admin</h1>
          <p class="notice" data-admin-refused>
            The admin pages need an ADMIN key. This key is a CLIENT key: it makes calls and reads the
            project's spend.
          </p>
        </section>
      );
    case 'playground':
      return <PlaygroundPage />;
  }
}
