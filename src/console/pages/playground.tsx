import { useEffect, useRef, useState } from 'preact/hooks';
import { BudgetGauge } from '../components/gauge';
import { Field, FormError, type FieldErrors } from '../components/field';
import { errorText, gql } from '../lib/api';
import { formatInt, formatMs } from '../lib/format';
import { useNow, useQuery } from '../lib/hooks';
import { useLive } from '../lib/live-context';
import { formatUsd } from '../lib/money';
import { optionalInt } from '../lib/mutate';
import {
  COMPLETION_STREAM,
  ESTIMATE,
  MODELS,
  type Completion,
  type CostEstimate,
  type Model,
} from '../lib/queries';
import { useSession } from '../lib/session-context';
import { useScopeName } from './overview';

type RunState = 'idle' | 'streaming' | 'done' | 'stopped' | 'failed';

/** A chat completion streamed over the chatCompletionStream subscription. */
export function PlaygroundPage() {
  const { key } = useSession();
  const live = useLive();
  const now = useNow(15_000);
  const scopeName = useScopeName();
  const models = useQuery<{ models: Model[] }>(MODELS, {}, []);
  const [model, setModel] = useState('auto');
  const [prompt, setPrompt] = useState(
    'Explain in two sentences why a gateway reserves the worst-case cost before calling a model.',
  );
  const [maxTokens, setMaxTokens] = useState('256');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [run, setRun] = useState<RunState>('idle');
  const [text, setText] = useState('');
  const [chunks, setChunks] = useState(0);
  const [result, setResult] = useState<Completion | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [estimate, setEstimate] = useState<CostEstimate | string | undefined>(undefined);
  const stop = useRef<(() => void) | undefined>(undefined);

  useEffect(() => () => stop.current?.(), []);

  // What the call would reserve, as the form changes (debounced).
  useEffect(() => {
    const max = optionalInt(maxTokens);
    if (!prompt.trim() || Number.isNaN(max)) {
      setEstimate(undefined);
      return undefined;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      gql<{ estimateCost: CostEstimate }>(
        key,
        ESTIMATE,
        { input: { model, maxTokens: max, messages: [{ role: 'user', content: prompt }] } },
        { signal: controller.signal },
      ).then(
        (d) => setEstimate(d.estimateCost),
        (e: unknown) => !controller.signal.aborted && setEstimate(errorText(e)),
      );
    }, 400);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [key, model, prompt, maxTokens]);

  const send = (e: Event) => {
    e.preventDefault();
    const max = optionalInt(maxTokens);
    const local: FieldErrors = {};
    if (!prompt.trim()) local.messages = 'Write a prompt';
    if (Number.isNaN(max)) local.maxTokens = 'A whole number of tokens';
    setErrors(local);
    if (Object.keys(local).length) return;
    stop.current?.();
    setRun('streaming');
    setText('');
    setChunks(0);
    setResult(undefined);
    setError(undefined);
    stop.current = live.client.subscribe<{
      chatCompletionStream: { delta: string; done: boolean; completion: Completion | null };
    }>(
      COMPLETION_STREAM,
      { input: { model, maxTokens: max, messages: [{ role: 'user', content: prompt }] } },
      {
        next: ({ chatCompletionStream: chunk }) => {
          if (chunk.delta) {
            setText((t) => t + chunk.delta);
            setChunks((n) => n + 1);
          }
          if (chunk.done && chunk.completion) {
            setResult(chunk.completion);
            setText(chunk.completion.content);
            setRun('done');
          }
        },
        error: (err) => {
          setError(errorText(err));
          setRun('failed');
          if (err.field === 'maxTokens') setErrors({ maxTokens: err.message });
          if (err.field === 'model') setErrors({ model: err.message });
        },
        complete: () => setRun((r) => (r === 'streaming' ? 'stopped' : r)),
      },
    );
  };

  const halt = () => {
    stop.current?.();
    stop.current = undefined;
    setRun('stopped');
  };

  const enabled = models.data?.models.filter((m) => m.enabled) ?? [];
  return (
    <section class="page" aria-labelledby="play-title">
      <div class="page-head">
        <h1 id="play-title">Playground</h1>
        <p class="muted">
          A real call through the gateway: routed, reserved, metered and charged to this project.
        </p>
      </div>
      <div class="columns playground">
        <form
          class="card form-stack"
          onSubmit={send}
          aria-label="Chat completion"
          data-form="playground"
          noValidate
        >
          <Field form="play" name="model" label="Model" errors={errors}>
            {(p) => (
              <select {...p} value={model} onChange={(e) => setModel(e.currentTarget.value)}>
                <option value="auto">auto — the router picks the cheapest fit</option>
                {enabled.map((m) => (
                  <option key={m.id} value={m.name}>
                    {m.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field form="play" name="messages" label="Prompt" errors={errors}>
            {(p) => (
              <textarea {...p} rows={6} value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
            )}
          </Field>
          <Field
            form="play"
            name="maxTokens"
            label="Max tokens"
            hint="Caps the completion and the reservation"
            errors={errors}
          >
            {(p) => (
              <input
                {...p}
                inputMode="numeric"
                value={maxTokens}
                onInput={(e) => setMaxTokens(e.currentTarget.value)}
              />
            )}
          </Field>
          <p class="hint" aria-live="polite" data-estimate>
            {typeof estimate === 'string'
              ? estimate
              : estimate && (
                  <>
                    Reserves up to <strong class="mono">{formatUsd(estimate.worstCaseCost)}</strong> on{' '}
                    <span class="mono">{estimate.model}</span>
                    {estimate.tier ? ` (${estimate.tier.toLowerCase()} tier)` : ''}:{' '}
                    {formatInt(estimate.promptTokens)} prompt + {formatInt(estimate.maxTokens)} completion
                    tokens.
                  </>
                )}
          </p>
          <div class="form-actions">
            <button type="submit" class="primary" disabled={run === 'streaming'}>
              {run === 'streaming' ? 'Streaming…' : 'Send'}
            </button>
            {run === 'streaming' && (
              <button type="button" class="ghost" onClick={halt}>
                Stop
              </button>
            )}
          </div>
          <FormError message={error} />
        </form>
        <section class="card" aria-labelledby="answer-title">
          <h2 id="answer-title">Answer</h2>
          <div
            class="answer"
            aria-live="polite"
            aria-busy={run === 'streaming'}
            data-answer
            data-state={run}
            data-chunks={chunks}
          >
            {text || (
              <span class="muted">
                {run === 'streaming'
                  ? 'Waiting for the first token…'
                  : 'Send a prompt to see the answer stream in.'}
              </span>
            )}
            {run === 'streaming' && <span class="cursor" aria-hidden="true" />}
          </div>
          {result && (
            <dl class="stats result" data-result>
              <div>
                <dt>Model</dt>
                <dd class="mono" data-figure="model">
                  {result.routing.model}
                  {result.routing.modelRequested !== result.routing.model && (
                    <small class="muted"> (asked {result.routing.modelRequested})</small>
                  )}
                </dd>
              </div>
              <div>
                <dt>Tier</dt>
                <dd data-figure="tier">{result.routing.tier ?? 'explicit'}</dd>
              </div>
              <div>
                <dt>Tokens</dt>
                <dd data-figure="tokens">
                  {formatInt(result.usage.promptTokens)} + {formatInt(result.usage.completionTokens)} ={' '}
                  {formatInt(result.usage.totalTokens)}
                </dd>
              </div>
              <div>
                <dt>Cost</dt>
                <dd class="mono" data-figure="cost">
                  {formatUsd(result.cost)}
                </dd>
              </div>
              <div>
                <dt>Latency</dt>
                <dd>
                  {formatMs(result.latencyMs)} <small class="muted">({chunks} chunks)</small>
                </dd>
              </div>
              <div>
                <dt>Finish</dt>
                <dd>
                  {result.finishReason}
                  {result.routing.downgraded && <span class="badge badge-warn">downgraded</span>}
                  {result.routing.fallbacks.length > 0 && (
                    <small class="muted"> after {result.routing.fallbacks.join(', ')}</small>
                  )}
                </dd>
              </div>
            </dl>
          )}
        </section>
      </div>
      <h2 class="section-title">Budgets</h2>
      {live.budgets && live.budgets.length > 0 ? (
        <div class="gauges gauges-compact">
          {live.budgets.map((s) => (
            <BudgetGauge key={s.budget.id} status={s} scope={scopeName(s.budget)} now={now} compact />
          ))}
        </div>
      ) : (
        <p class="empty">No budgets.</p>
      )}
    </section>
  );
}
