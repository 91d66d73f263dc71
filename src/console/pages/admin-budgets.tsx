import { useMemo, useState } from 'preact/hooks';
import { ConfirmButton } from '../components/confirm-button';
import { Field, FormError, splitError, type FieldErrors } from '../components/field';
import { errorText } from '../lib/api';
import { formatPercent } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { useLive } from '../lib/live-context';
import { formatUsd, isUsdInput } from '../lib/money';
import { useMutate } from '../lib/mutate';
import {
  API_KEYS,
  BUDGET_LIST,
  CREATE_BUDGET,
  DELETE_BUDGET,
  UPDATE_BUDGET,
  type ApiKey,
  type Budget,
  type Period,
  type Policy,
} from '../lib/queries';

const FIELDS = ['apiKeyId', 'limitUsd', 'period', 'timeZone', 'policy', 'thresholds'];
const DEFAULT_THRESHOLDS = '0.5, 0.75, 0.9, 0.95';

interface Draft {
  apiKeyId: string;
  limitUsd: string;
  period: Period;
  timeZone: string;
  policy: Policy;
  thresholds: string;
}

const EMPTY: Draft = {
  apiKeyId: '',
  limitUsd: '',
  period: 'DAILY',
  timeZone: 'UTC',
  policy: 'REJECT',
  thresholds: DEFAULT_THRESHOLDS,
};

function draftOf(b: Budget): Draft {
  return {
    apiKeyId: b.apiKeyId ?? '',
    limitUsd: b.limitUsd,
    period: b.period,
    timeZone: b.timeZone,
    policy: b.policy,
    thresholds: b.thresholds.join(', '),
  };
}

/** "0.5, 0.8" -> [0.5, 0.8]; "50%" is read as 0.5. */
function parseThresholds(text: string): number[] | undefined {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  if (parts.length === 0) return [];
  const values = parts.map((p) => (p.endsWith('%') ? Number(p.slice(0, -1)) / 100 : Number(p)));
  return values.every((v) => Number.isFinite(v)) ? values : undefined;
}

function timeZones(): string[] {
  try {
    return ['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')];
  } catch {
    return ['UTC'];
  }
}

export function AdminBudgets() {
  const mutate = useMutate();
  const live = useLive();
  const budgets = useQuery<{ budgetList: Budget[] }>(BUDGET_LIST, {}, []);
  const keys = useQuery<{ apiKeys: ApiKey[] }>(API_KEYS, {}, []);
  const zones = useMemo(timeZones, []);
  const [editing, setEditing] = useState<string | undefined>(undefined);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const keyName = (id: string | null) =>
    id ? (keys.data?.apiKeys.find((k) => k.id === id)?.name ?? id.slice(0, 8)) : 'whole project';

  const edit = (b: Budget | undefined) => {
    setEditing(b?.id);
    setDraft(b ? draftOf(b) : EMPTY);
    setErrors({});
    setFormError(undefined);
    setDone(undefined);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const local: FieldErrors = {};
    if (!isUsdInput(draft.limitUsd)) local.limitUsd = 'A USD amount such as 25 or 0.50';
    const thresholds = parseThresholds(draft.thresholds);
    if (!thresholds) local.thresholds = 'Numbers between 0 and 1, comma separated (e.g. 0.5, 0.9)';
    setErrors(local);
    setFormError(undefined);
    setDone(undefined);
    if (Object.keys(local).length) return;
    const input = {
      limitUsd: draft.limitUsd.trim(),
      period: draft.period,
      timeZone: draft.timeZone.trim() || 'UTC',
      policy: draft.policy,
      ...(thresholds && thresholds.length ? { thresholds } : {}),
    };
    setBusy(true);
    try {
      if (editing) await mutate(UPDATE_BUDGET, { id: editing, input });
      else await mutate(CREATE_BUDGET, { input: { ...input, apiKeyId: draft.apiKeyId || undefined } });
      edit(undefined);
      setDone(editing ? 'Budget saved.' : 'Budget created.');
      budgets.refresh();
      live.resync();
    } catch (error) {
      const split = splitError(error, FIELDS);
      setErrors(split.fieldErrors);
      setFormError(split.formError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" id="budgets" aria-labelledby="budgets-title">
      <h2 id="budgets-title">Budgets</h2>
      {budgets.error && <p class="form-error">{budgets.error.message}</p>}
      {budgets.data && budgets.data.budgetList.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Budgets" tabIndex={0}>
          <table data-table="budgets">
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Period</th>
                <th scope="col" class="num">
                  Limit
                </th>
                <th scope="col">Policy</th>
                <th scope="col">Thresholds</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {budgets.data.budgetList.map((b) => (
                <tr key={b.id} data-budget-id={b.id} class={editing === b.id ? 'selected' : undefined}>
                  <th scope="row">{keyName(b.apiKeyId)}</th>
                  <td>
                    {b.period} · {b.timeZone}
                  </td>
                  <td class="num mono">{formatUsd(b.limitUsd)}</td>
                  <td>{b.policy}</td>
                  <td>{b.thresholds.map(formatPercent).join(', ')}</td>
                  <td class="actions">
                    <button
                      type="button"
                      class="ghost"
                      onClick={() => edit(b)}
                      aria-label={`Edit the ${b.period.toLowerCase()} budget of ${keyName(b.apiKeyId)}`}
                    >
                      Edit
                    </button>
                    <ConfirmButton
                      label="Delete"
                      confirmLabel="Delete budget"
                      onConfirm={async () => {
                        try {
                          await mutate(DELETE_BUDGET, { id: b.id });
                          if (editing === b.id) edit(undefined);
                          budgets.refresh();
                          live.resync();
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
        aria-label={editing ? 'Edit budget' : 'Create a budget'}
        data-form="budget"
        noValidate
      >
        <h3 class="form-title">{editing ? 'Edit budget' : 'New budget'}</h3>
        <Field
          form="budget"
          name="apiKeyId"
          label="Scope"
          hint={editing ? 'The scope of a budget does not change' : undefined}
          errors={errors}
        >
          {(p) => (
            <select
              {...p}
              value={draft.apiKeyId}
              disabled={Boolean(editing)}
              onChange={(e) => set('apiKeyId', e.currentTarget.value)}
            >
              <option value="">Whole project</option>
              {keys.data?.apiKeys
                .filter((k) => !k.revokedAt)
                .map((k) => (
                  <option key={k.id} value={k.id}>
                    Key {k.name} ({k.prefix}…)
                  </option>
                ))}
            </select>
          )}
        </Field>
        <Field form="budget" name="limitUsd" label="Limit (USD)" errors={errors}>
          {(p) => (
            <input
              {...p}
              inputMode="decimal"
              value={draft.limitUsd}
              onInput={(e) => set('limitUsd', e.currentTarget.value)}
              placeholder="25.00"
            />
          )}
        </Field>
        <Field form="budget" name="period" label="Period" errors={errors}>
          {(p) => (
            <select
              {...p}
              value={draft.period}
              onChange={(e) => set('period', e.currentTarget.value as Period)}
            >
              <option value="DAILY">Daily</option>
              <option value="MONTHLY">Monthly</option>
            </select>
          )}
        </Field>
        <Field
          form="budget"
          name="timeZone"
          label="Time zone"
          hint="IANA name: the calendar of the period"
          errors={errors}
        >
          {(p) => (
            <>
              <input
                {...p}
                list="time-zones"
                value={draft.timeZone}
                onInput={(e) => set('timeZone', e.currentTarget.value)}
                autoComplete="off"
              />
              <datalist id="time-zones">
                {zones.map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </>
          )}
        </Field>
        <Field form="budget" name="policy" label="When a call would exceed it" errors={errors}>
          {(p) => (
            <select
              {...p}
              value={draft.policy}
              onChange={(e) => set('policy', e.currentTarget.value as Policy)}
            >
              <option value="REJECT">REJECT — refuse the call</option>
              <option value="DOWNGRADE">DOWNGRADE — cheapest model that fits</option>
            </select>
          )}
        </Field>
        <Field
          form="budget"
          name="thresholds"
          label="Alert thresholds"
          hint="Fractions of the limit, e.g. 0.5, 0.75, 0.9"
          errors={errors}
        >
          {(p) => (
            <input
              {...p}
              value={draft.thresholds}
              onInput={(e) => set('thresholds', e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            {editing ? 'Save budget' : 'Create budget'}
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
