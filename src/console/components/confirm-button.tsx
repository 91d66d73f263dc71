import { useState } from 'preact/hooks';

/** A destructive action in two steps (no modal dialog): "Revoke" -> "Confirm revoke" / "Cancel". */
export function ConfirmButton({
  label,
  confirmLabel,
  onConfirm,
  disabled,
}: {
  label: string;
  confirmLabel: string;
  onConfirm(): void | Promise<void>;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking)
    return (
      <button type="button" class="danger ghost" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm">
      <button
        type="button"
        class="danger"
        disabled={busy}
        autoFocus
        onClick={() => {
          setBusy(true);
          // onConfirm shows its own errors; this only restores the button, whatever happened
          void Promise.resolve()
            .then(onConfirm)
            .catch(() => undefined)
            .finally(() => {
              setBusy(false);
              setAsking(false);
            });
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" class="ghost" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
