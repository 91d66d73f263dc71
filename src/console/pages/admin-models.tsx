import { useState } from 'preact/hooks';
import { ConfirmButton } from '../components/confirm-button';
import { Field, FormError, splitError, type FieldErrors } from '../components/field';
import { errorText } from '../lib/api';
import { useQuery } from '../lib/hooks';
import { formatPrice } from '../lib/money';
import { useMutate } from '../lib/mutate';
import { DELETE_MODEL, MODELS, PROVIDER_NAMES, UPSERT_MODEL, type Model, type Tier } from '../lib/queries';

const FIELDS = ['name', 'provider', 'promptPrice', 'completionPrice', 'tiers', 'upstreamName', 'enabled'];
const TIERS: Tier[] = ['SIMPLE', 'MODERATE', 'COMPLEX'];

interface Draft {
  name: string;
  provider: string;
  promptPrice: string;
  completionPrice: string;
  tiers: Tier[];
  enabled: boolean;
  upstreamName: string;
}

const EMPTY: Draft = {
  name: '',
  provider: '',
  promptPrice: '',
  completionPrice: '',
  tiers: [],
  enabled: true,
  upstreamName: '',
};

export function AdminModels() {
  const mutate = useMutate();
  const models = useQuery<{ models: Model[] }>(MODELS, {}, []);
  const providers = useQuery<{ providers: { name: string }[] }>(PROVIDER_NAMES, {}, []);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const providerNames = providers.data?.providers.map((p) => p.name) ?? [];

  const edit = (m: Model | undefined) => {
    setEditing(m?.name);
    setDraft(
      m
        ? {
            name: m.name,
            provider: m.provider,
            promptPrice: m.promptPrice,
            completionPrice: m.completionPrice,
            tiers: m.tiers,
            enabled: m.enabled,
            upstreamName: m.upstreamName === m.name ? '' : m.upstreamName,
          }
        : { ...EMPTY, provider: providerNames[0] ?? '' },
    );
    setErrors({});
    setFormError(undefined);
    setDone(undefined);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setFormError(undefined);
    setDone(undefined);
    const local: FieldErrors = {};
    if (!draft.name.trim()) local.name = 'A model name is required';
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      await mutate(UPSERT_MODEL, {
        input: {
          name: draft.name.trim(),
          provider: draft.provider || providerNames[0] || '',
          promptPrice: draft.promptPrice.trim(),
          completionPrice: draft.completionPrice.trim(),
          tiers: draft.tiers,
          enabled: draft.enabled,
          upstreamName: draft.upstreamName.trim() || undefined,
        },
      });
      const name = draft.name.trim();
      edit(undefined);
      setDone(`Saved ${name}.`);
      models.refresh();
    } catch (error) {
      const split = splitError(error, FIELDS);
      setErrors(split.fieldErrors);
      setFormError(split.formError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" id="models" aria-labelledby="models-title">
      <h2 id="models-title">Models and prices</h2>
      {models.error && <p class="form-error">{models.error.message}</p>}
      {models.data && (
        <div class="table-wrap" role="region" aria-label="Models" tabIndex={0}>
          <table data-table="models">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Provider</th>
                <th scope="col" class="num">
                  Prompt
                </th>
                <th scope="col" class="num">
                  Completion
                </th>
                <th scope="col">Tiers</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {models.data.models.map((m) => (
                <tr key={m.id} data-model={m.name} class={editing === m.name ? 'selected' : undefined}>
                  <th scope="row" class="mono">
                    {m.name}
                    {m.upstreamName !== m.name && <small class="muted"> → {m.upstreamName}</small>}
                  </th>
                  <td>{m.provider}</td>
                  <td class="num mono">{formatPrice(m.promptPrice)}</td>
                  <td class="num mono">{formatPrice(m.completionPrice)}</td>
                  <td>{m.tiers.join(', ').toLowerCase() || '—'}</td>
                  <td>
                    {m.enabled ? (
                      <span class="badge badge-ok">enabled</span>
                    ) : (
                      <span class="badge">disabled</span>
                    )}
                  </td>
                  <td class="actions">
                    <button type="button" class="ghost" onClick={() => edit(m)} aria-label={`Edit ${m.name}`}>
                      Edit
                    </button>
                    <ConfirmButton
                      label="Delete"
                      confirmLabel={`Delete ${m.name}`}
                      onConfirm={async () => {
                        try {
                          await mutate(DELETE_MODEL, { name: m.name });
                          models.refresh();
                        } catch (error) {
                          setFormError(errorText(error));
                        }
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        class="form-grid"
        onSubmit={(e) => void submit(e)}
        aria-label={editing ? `Edit ${editing}` : 'Add a model'}
        data-form="model"
        noValidate
      >
        <h3 class="form-title">{editing ? `Edit ${editing}` : 'Add a model'}</h3>
        <Field form="model" name="name" label="Name" errors={errors}>
          {(p) => (
            <input
              {...p}
              class="mono"
              value={draft.name}
              readOnly={Boolean(editing)}
              onInput={(e) => set('name', e.currentTarget.value)}
              placeholder="deepseek-chat"
            />
          )}
        </Field>
        <Field form="model" name="provider" label="Provider" errors={errors}>
          {(p) => (
            <select
              {...p}
              value={draft.provider || providerNames[0]}
              onChange={(e) => set('provider', e.currentTarget.value)}
            >
              {providerNames.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field form="model" name="promptPrice" label="Prompt price (USD per million tokens)" errors={errors}>
          {(p) => (
            <input
              {...p}
              inputMode="decimal"
              class="mono"
              value={draft.promptPrice}
              onInput={(e) => set('promptPrice', e.currentTarget.value)}
              placeholder="0.14"
            />
          )}
        </Field>
        <Field
          form="model"
          name="completionPrice"
          label="Completion price (USD per million tokens)"
          errors={errors}
        >
          {(p) => (
            <input
              {...p}
              inputMode="decimal"
              class="mono"
              value={draft.completionPrice}
              onInput={(e) => set('completionPrice', e.currentTarget.value)}
              placeholder="0.42"
            />
          )}
        </Field>
        <Field
          form="model"
          name="upstreamName"
          label="Upstream name"
          hint="Empty: the same as the name"
          errors={errors}
        >
          {(p) => (
            <input
              {...p}
              class="mono"
              value={draft.upstreamName}
              onInput={(e) => set('upstreamName', e.currentTarget.value)}
            />
          )}
        </Field>
        <fieldset class={`field checks${errors.tiers ? ' field-invalid' : ''}`} data-field="tiers">
          <legend>Tiers auto routing may use it for</legend>
          {TIERS.map((t) => (
            <label key={t}>
              <input
                type="checkbox"
                checked={draft.tiers.includes(t)}
                onChange={(e) =>
                  set(
                    'tiers',
                    e.currentTarget.checked ? [...draft.tiers, t] : draft.tiers.filter((x) => x !== t),
                  )
                }
              />{' '}
              {t.toLowerCase()}
            </label>
          ))}
          {errors.tiers && (
            <small class="field-error" role="alert">
              {errors.tiers}
            </small>
          )}
        </fieldset>
        <div class="field checks">
          <label>
            <input
              type="checkbox"
              checked={draft.enabled}
              onChange={(e) => set('enabled', e.currentTarget.checked)}
            />{' '}
            Enabled
          </label>
        </div>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {editing ? 'Save model' : 'Add model'}
          </button>
          {editing && (
            <button type="button" class="ghost" onClick={() => edit(undefined)}>
              Cancel
            </button>
          )}
        </div>
        <FormError message={formError} />
        {done && (
          <p class="form-ok" role="status">
            {done}
          </p>
        )}
      </form>
    </section>
  );
}
