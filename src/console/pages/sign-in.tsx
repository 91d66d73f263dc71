import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, gql } from '../lib/api';
import { ME, type Me } from '../lib/queries';

/**
 * Sign in with a Tollgate key. The key is checked with `me` before it is kept (sessionStorage,
 * by the caller); the form posts nowhere, so the key never lands in a URL.
 */
export function SignIn({ notice, onSignedIn }: { notice?: string; onSignedIn(key: string, me: Me): void }) {
  const [key, setKey] = useState('');
  const [show, setShow] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // the input's type is switched in place, so focus and caret stay where they are
  useEffect(() => {
    if (input.current) input.current.type = show ? 'text' : 'password';
  }, [show]);

  const submit = async (event: Event) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError('Paste a Tollgate key (it starts with tg_).');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const { me } = await gql<{ me: Me }>(trimmed, ME, {}, { quietAuth: true });
      if (me.kind !== 'API_KEY' || !me.project || !me.apiKey) {
        setError(
          'This is the operator key. The console shows one project: sign in with a project key (ADMIN or CLIENT).',
        );
        return;
      }
      onSignedIn(trimmed, me);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') {
        setError(
          'That key was not accepted: it is unknown, mistyped or revoked. Keys look like tg_… and are shown once when created.',
        );
      } else {
        setError(e instanceof Error ? e.message : String(e));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="signin">
      <form
        class="card signin-card"
        method="post"
        action="/"
        onSubmit={(e) => void submit(e)}
        aria-labelledby="signin-title"
        autoComplete="off"
      >
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true">
            ◗
          </span>{' '}
          Tollgate Console
        </h1>
        <p class="muted">Live budgets, usage, routing and a playground for one project.</p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <div class={`field${error ? ' field-invalid' : ''}`}>
          <label for="signin-key">API key</label>
          <div class="input-row">
            <input
              id="signin-key"
              class="mono"
              ref={input}
              type="password"
              value={key}
              onInput={(e) => setKey(e.currentTarget.value)}
              placeholder="tg_…"
              autoComplete="off"
              spellcheck={false}
              aria-invalid={error ? 'true' : undefined}
              aria-describedby={error ? 'signin-error signin-hint' : 'signin-hint'}
              autoFocus
            />
            <button type="button" class="ghost" onClick={() => setShow(!show)} aria-pressed={show}>
              {show ? 'Hide' : 'Show'}
            </button>
          </div>
          <small id="signin-hint" class="hint">
            Kept in this tab only (sessionStorage) until you sign out or close it.
          </small>
          {error && (
            <small id="signin-error" class="field-error" role="alert">
              {error}
            </small>
          )}
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
