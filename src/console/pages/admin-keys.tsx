import { useState } from 'preact/hooks';
import { ConfirmButton } from '../components/confirm-button';
import { OnceSecret } from '../components/copy-button';
import { Field, FormError, splitError, type FieldErrors } from '../components/field';
import { errorText } from '../lib/api';
import { formatDateTime, formatInt } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { optionalInt, useMutate } from '../lib/mutate';
import { API_KEYS, CREATE_API_KEY, REVOKE_API_KEY, type ApiKey, type Role } from '../lib/queries';
import { useSession } from '../lib/session-context';

const FIELDS = ['name', 'role', 'rpmLimit', 'tpmLimit'];

export function AdminKeys() {
  const { me } = useSession();
  const mutate = useMutate();
  const keys = useQuery<{ apiKeys: ApiKey[] }>(API_KEYS, {}, []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('CLIENT');
  const [rpm, setRpm] = useState('');
  const [tpm, setTpm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [created, setCreated] = useState<{ key: string; name: string } | undefined>(undefined);
  const [listError, setListError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const rpmLimit = optionalInt(rpm);
    const tpmLimit = optionalInt(tpm);
    const local: FieldErrors = {};
    if (!name.trim()) local.name = 'A name is required (what uses this key?)';
    if (Number.isNaN(rpmLimit)) local.rpmLimit = 'A whole number of requests per minute, or empty for none';
    if (Number.isNaN(tpmLimit)) local.tpmLimit = 'A whole number of tokens per minute, or empty for none';
    setErrors(local);
    setFormError(undefined);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const d = await mutate<{ createApiKey: { key: string; apiKey: ApiKey } }>(CREATE_API_KEY, {
        input: { name: name.trim(), role, rpmLimit, tpmLimit },
      });
      setCreated({ key: d.createApiKey.key, name: d.createApiKey.apiKey.name });
      setName('');
      setRpm('');
      setTpm('');
      keys.refresh();
    } catch (error) {
      const split = splitError(error, FIELDS);
      setErrors(split.fieldErrors);
      setFormError(split.formError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" id="keys" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form
        class="form-grid"
        onSubmit={(e) => void submit(e)}
        aria-label="Create an API key"
        data-form="create-key"
        noValidate
      >
        <Field form="key" name="name" label="Name" errors={errors}>
          {(p) => (
            <input
              {...p}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
              placeholder="billing-service"
            />
          )}
        </Field>
        <Field form="key" name="role" label="Role" errors={errors}>
          {(p) => (
            <select {...p} value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
              <option value="CLIENT">CLIENT — makes calls, reads spend</option>
              <option value="ADMIN">ADMIN — also manages the project</option>
            </select>
          )}
        </Field>
        <Field form="key" name="rpmLimit" label="Requests per minute" hint="Empty: no limit" errors={errors}>
          {(p) => (
            <input {...p} inputMode="numeric" value={rpm} onInput={(e) => setRpm(e.currentTarget.value)} />
          )}
        </Field>
        <Field form="key" name="tpmLimit" label="Tokens per minute" hint="Empty: no limit" errors={errors}>
          {(p) => (
            <input {...p} inputMode="numeric" value={tpm} onInput={(e) => setTpm(e.currentTarget.value)} />
          )}
        </Field>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            Create key
          </button>
        </div>
        <FormError message={formError} />
      </form>
      {created && (
        <OnceSecret
          label={`New key “${created.name}”`}
          value={created.key}
          note="Shown this once: copy it now. Tollgate keeps only its hash."
        />
      )}
      {listError && <p class="form-error">{listError}</p>}
      {keys.error && <p class="form-error">{keys.error.message}</p>}
      {keys.data && (
        <div class="table-wrap" role="region" aria-label="API keys" tabIndex={0}>
          <table data-table="keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Role</th>
                <th scope="col">Limits</th>
                <th scope="col">Created</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.apiKeys.map((k) => (
                <tr key={k.id} data-key-id={k.id} class={k.revokedAt ? 'disabled' : undefined}>
                  <th scope="row">
                    {k.name}
                    {k.id === me.apiKey?.id && <span class="badge">this key</span>}
                  </th>
                  <td class="mono">{k.prefix}…</td>
                  <td>{k.role}</td>
                  <td>
                    {k.rpmLimit === null && k.tpmLimit === null
                      ? 'none'
                      : [
                          k.rpmLimit !== null ? `${formatInt(k.rpmLimit)} req/min` : '',
                          k.tpmLimit !== null ? `${formatInt(k.tpmLimit)} tok/min` : '',
                        ]
                          .filter(Boolean)
                          .join(', ')}
                  </td>
                  <td>{formatDateTime(k.createdAt)}</td>
                  <td>
                    {k.revokedAt ? (
                      <span class="badge badge-crit">revoked {formatDateTime(k.revokedAt)}</span>
                    ) : (
                      <span class="badge badge-ok">active</span>
                    )}
                  </td>
                  <td>
                    {!k.revokedAt && (
                      <ConfirmButton
                        label="Revoke"
                        confirmLabel={
                          k.id === me.apiKey?.id ? 'Revoke this key (signs you out)' : `Revoke ${k.name}`
                        }
                        onConfirm={async () => {
                          setListError(undefined);
                          try {
                            await mutate(REVOKE_API_KEY, { id: k.id });
                            keys.refresh();
                          } catch (error) {
                            setListError(errorText(error));
                          }
                        }}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
