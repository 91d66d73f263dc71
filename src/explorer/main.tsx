import { setNonce } from 'get-nonce';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { StrictMode, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import './explorer.css';
import { tollgateFetcher } from './fetcher';

/** The key lives in this tab only (sessionStorage), as in the console; never in a URL. */
const KEY_STORAGE = 'tollgate.explorer.key';

const DEFAULT_QUERY = `# Tollgate's GraphQL API. Put a project key in the field above, then run (Ctrl-Enter).
# Subscriptions (budgetMetrics, alerts, chatCompletionStream) go over graphql-ws.

query Me {
  me {
    kind
    project { id name }
    apiKey { name role }
  }
}
`;

function Explorer() {
  const [key, setKey] = useState(() => sessionStorage.getItem(KEY_STORAGE) ?? '');
  // The fetcher reads the key when it runs: GraphiQL fetches the schema again whenever its
  // fetcher changes, which a new fetcher per keystroke would do.
  const keyRef = useRef(key);
  keyRef.current = key;
  const fetcher = useMemo(
    () => tollgateFetcher(() => (keyRef.current.trim() ? `Bearer ${keyRef.current.trim()}` : undefined)),
    [],
  );
  return (
    <div className="tg-explorer">
      <header className="tg-bar">
        <span className="tg-title">Tollgate · GraphQL explorer</span>
        <label className="tg-key">
          <span>Authorization: Bearer</span>
          <input
            id="explorer-key"
            type="password"
            autoComplete="off"
            spellCheck={false}
            placeholder="tg_… project key"
            value={key}
            onChange={(event) => {
              const value = event.currentTarget.value;
              setKey(value);
              if (value) sessionStorage.setItem(KEY_STORAGE, value);
              else sessionStorage.removeItem(KEY_STORAGE);
            }}
          />
        </label>
      </header>
      <main className="tg-graphiql">
        <GraphiQL fetcher={fetcher} defaultQuery={DEFAULT_QUERY} shouldPersistHeaders={false}>
          <GraphiQL.Logo>Tollgate</GraphiQL.Logo>
        </GraphiQL>
      </main>
    </div>
  );
}

// GraphiQL's dialogs lock the page's scroll with a <style> element they insert (react-remove-scroll);
// the policy admits it only with this response's nonce, which get-nonce hands to that library.
const nonce = document.querySelector('meta[name="tollgate-style-nonce"]')?.getAttribute('content');
if (nonce) setNonce(nonce);

const root = document.getElementById('explorer');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <Explorer />
    </StrictMode>,
  );
}
