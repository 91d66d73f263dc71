import type { ComponentChildren } from 'preact';
import { ApiError, errorText } from '../lib/api';

export type FieldErrors = Record<string, string>;

/**
 * Splits an API error into the message for the field it names (`extensions.field`) and a
 * message for the form; `fields` are the form's field names (API input names).
 */
export function splitError(
  error: unknown,
  fields: readonly string[],
): { fieldErrors: FieldErrors; formError?: string } {
  if (error instanceof ApiError && error.field && fields.includes(error.field)) {
    return { fieldErrors: { [error.field]: error.message } };
  }
  return { fieldErrors: {}, formError: errorText(error) };
}

/**
 * A labelled control with its error underneath, tied together for screen readers. `name` is the
 * API's input field name; the control inside gets id `${form}-${name}`.
 */
export function Field({
  form,
  name,
  label,
  hint,
  errors,
  children,
}: {
  form: string;
  name: string;
  label: string;
  hint?: string;
  errors: FieldErrors;
  children: (props: {
    id: string;
    name: string;
    'aria-invalid'?: 'true';
    'aria-describedby'?: string;
  }) => ComponentChildren;
}) {
  const id = `${form}-${name}`;
  const error = errors[name];
  const describedBy =
    [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${error ? ' field-invalid' : ''}`} data-field={name}>
      <label for={id}>{label}</label>
      {children({ id, name, 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': describedBy })}
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

export function FormError({ message }: { message?: string }) {
  if (!message) return null;
  return (
    <p class="form-error" role="alert">
      {message}
    </p>
  );
}
