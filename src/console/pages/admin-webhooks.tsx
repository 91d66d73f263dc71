import { useState } from 'preact/hooks';
import { ConfirmButton } from '../components/confirm-button';
import { OnceSecret } from '../components/copy-button';
import { Field, FormError, splitError, type FieldErrors } from '../components/field';
import { errorText } from '../lib/api';
import { formatDateTime } from '../lib/format';
import { useQuery } from '../lib/hooks';
import { useMutate } from '../lib/mutate';
import {
  ADD_WEBHOOK,
  REMOVE_WEBHOOK,
  SET_WEBHOOK_ENABLED,
  TEST_WEBHOOK,
  WEBHOOKS,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../lib/queries';

const FIELDS = ['url', 'format'];
const REFRESH_MS = 4000;

export function AdminWebhooks() {
  const mutate = useMutate();
  const hooks = useQuery<{ webhookEndpoints: WebhookEndpoint[]; webhookDeliveries: WebhookDelivery[] }>(
    WEBHOOKS,
    {},
    [],
    { pollMs: REFRESH_MS },
  );
  const [url, setUrl] = useState('');
  const [format, setFormat] = useState<'JSON' | 'SLACK'>('JSON');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const [secret, setSecret] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const endpointUrl = (id: string) =>
    hooks.data?.webhookEndpoints.find((e) => e.id === id)?.url ?? id.slice(0, 8);

  const act = async (what: () => Promise<unknown>, ok?: string) => {
    setNotice(undefined);
    try {
      await what();
      if (ok) setNotice(ok);
      hooks.refresh();
    } catch (error) {
      setNotice(errorText(error));
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setErrors(url.trim() ? {} : { url: 'The URL that receives alerts' });
    setFormError(undefined);
    if (!url.trim()) return;
    setBusy(true);
    try {
      const d = await mutate<{ addWebhookEndpoint: { secret: string } }>(ADD_WEBHOOK, {
        input: { url: url.trim(), format },
      });
      setSecret(d.addWebhookEndpoint.secret);
      setUrl('');
      hooks.refresh();
    } catch (error) {
      const split = splitError(error, FIELDS);
      setErrors(split.fieldErrors);
      setFormError(split.formError);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" id="webhooks" aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <form
        class="form-grid"
        onSubmit={(e) => void submit(e)}
        aria-label="Add a webhook endpoint"
        data-form="webhook"
        noValidate
      >
        <Field form="webhook" name="url" label="Endpoint URL" errors={errors}>
          {(p) => (
            <input
              {...p}
              type="url"
              class="mono"
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
              placeholder="https://hooks.example.com/tollgate"
            />
          )}
        </Field>
        <Field form="webhook" name="format" label="Format" errors={errors}>
          {(p) => (
            <select
              {...p}
              value={format}
              onChange={(e) => setFormat(e.currentTarget.value as 'JSON' | 'SLACK')}
            >
              <option value="JSON">JSON</option>
              <option value="SLACK">Slack blocks</option>
            </select>
          )}
        </Field>
        <div class="form-actions">
          <button type="submit" class="primary" disabled={busy}>
            Add endpoint
          </button>
        </div>
        <FormError message={formError} />
      </form>
      {secret && (
        <OnceSecret
          label="Signing secret"
          value={secret}
          note="Shown this once. Deliveries carry x-tollgate-signature: v1=HMAC-SHA256(secret, timestamp.body)."
        />
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {hooks.error && <p class="form-error">{hooks.error.message}</p>}
      {hooks.data && hooks.data.webhookEndpoints.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Webhook endpoints" tabIndex={0}>
          <table data-table="webhooks">
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Format</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {hooks.data.webhookEndpoints.map((ep) => (
                <tr key={ep.id} data-endpoint-id={ep.id}>
                  <th scope="row" class="mono wrap">
                    {ep.url}
                  </th>
                  <td>{ep.format}</td>
                  <td>
                    {ep.enabled ? (
                      <span class="badge badge-ok">enabled</span>
                    ) : (
                      <span class="badge">disabled</span>
                    )}
                  </td>
                  <td class="actions">
                    <button
                      type="button"
                      onClick={() =>
                        void act(
                          () => mutate(TEST_WEBHOOK, { id: ep.id }),
                          `Test delivery queued to ${ep.url}.`,
                        )
                      }
                    >
                      Send test
                    </button>
                    <button
                      type="button"
                      class="ghost"
                      onClick={() =>
                        void act(() => mutate(SET_WEBHOOK_ENABLED, { id: ep.id, enabled: !ep.enabled }))
                      }
                    >
                      {ep.enabled ? 'Disable' : 'Enable'}
                    </button>
                    <ConfirmButton
                      label="Remove"
                      confirmLabel="Remove endpoint"
                      onConfirm={() => act(() => mutate(REMOVE_WEBHOOK, { id: ep.id }))}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Delivery log</h3>
      {hooks.data && hooks.data.webhookDeliveries.length === 0 && <p class="empty">No deliveries yet.</p>}
      {hooks.data && hooks.data.webhookDeliveries.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Webhook deliveries" tabIndex={0}>
          <table data-table="deliveries">
            <thead>
              <tr>
                <th scope="col">Queued</th>
                <th scope="col">Endpoint</th>
                <th scope="col">What</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last answer</th>
              </tr>
            </thead>
            <tbody>
              {hooks.data.webhookDeliveries.slice(0, 50).map((d) => (
                <tr key={d.id} data-delivery-id={d.id}>
                  <td>{formatDateTime(d.createdAt)}</td>
                  <td class="mono wrap">{endpointUrl(d.endpointId)}</td>
                  <td>{d.alertId ? 'alert' : 'test'}</td>
                  <td>
                    <span
                      class={`badge badge-${d.status === 'DELIVERED' ? 'ok' : d.status === 'FAILED' ? 'crit' : 'warn'}`}
                    >
                      {d.status}
                    </span>
                    {d.status === 'PENDING' && (
                      <small class="muted"> next {formatDateTime(d.nextAttemptAt)}</small>
                    )}
                  </td>
                  <td class="num">{d.attempts}</td>
                  <td class="wrap">
                    {d.lastStatusCode !== null && <span class="mono">HTTP {d.lastStatusCode} </span>}
                    {d.lastError && <span class="muted">{d.lastError}</span>}
                    {d.deliveredAt && <span class="muted"> delivered {formatDateTime(d.deliveredAt)}</span>}
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
