import { useState } from 'preact/hooks';

/** A secret shown once, in a read-only box, with a copy button. */
export function OnceSecret({ label, value, note }: { label: string; value: string; note: string }) {
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>(undefined);
  const id = `secret-${label.replace(/\W+/g, '-').toLowerCase()}`;
  const copy = async (input: HTMLInputElement | null) => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      // no clipboard (plain http on another host): select it so Ctrl+C works
      input?.select();
      setCopied('failed');
    }
  };
  return (
    <div class="once-secret" role="status">
      <label for={id}>{label}</label>
      <div class="once-secret-row">
        <input
          id={id}
          class="mono"
          readOnly
          value={value}
          onFocus={(e) => e.currentTarget.select()}
          data-secret
        />
        <button
          type="button"
          onClick={() => void copy(document.getElementById(id) as HTMLInputElement | null)}
        >
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <small class="hint">
        {copied === 'failed' ? 'Copying is not allowed here: the text is selected, press Ctrl+C.' : note}
      </small>
    </div>
  );
}
