import type { ConnectionState } from '../lib/live';

const TEXT: Record<ConnectionState['status'], string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  refused: 'Refused',
};

/** The live connection's state, announced politely when it changes. */
export function ConnectionBadge({ state }: { state: ConnectionState }) {
  const retry = state.status === 'reconnecting' && state.retries > 0 ? ` (attempt ${state.retries})` : '';
  return (
    <span
      class={`conn conn-${state.status}`}
      role="status"
      aria-live="polite"
      data-connection={state.status}
      title={state.detail}
    >
      <span class="conn-dot" aria-hidden="true" />
      {TEXT[state.status]}
      {retry}
    </span>
  );
}
