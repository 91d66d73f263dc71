import { countTextTokens } from '../../shared/tokenizer';

/** Thrown into the upstream call when a stream reached its maxTokens. */
export class StreamCapReached extends Error {
  override name = 'StreamCapReached';
}

/**
 * Meters a streamed call as it is passed on: counts the tokens of each piece, passes it to the
 * client, and cuts the stream at maxTokens (so a stream never costs more completion than it
 * reserved). What was passed on is what a stream that ends early is charged for.
 */
export class StreamMeter {
  text = '';
  tokens = 0;
  /** Set when the stream reached maxTokens and was cut there. */
  capped = false;
  /** Aborts the upstream call when the cap is reached. */
  readonly cut = new AbortController();

  constructor(
    private readonly maxTokens: number,
    private readonly deliver: (text: string) => void,
  ) {}

  /** Whether anything reached the client (after which the call can no longer fall back or be retried). */
  get started(): boolean {
    return this.text.length > 0;
  }

  readonly onDelta = (piece: string): void => {
    if (this.capped) return;
    const tokens = countTextTokens(piece);
    if (this.tokens + tokens > this.maxTokens) {
      this.capped = true;
      this.cut.abort(new StreamCapReached('maxTokens reached'));
      return;
    }
    this.tokens += tokens;
    this.text += piece;
    this.deliver(piece);
  };
}
