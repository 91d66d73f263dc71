import type { Pico } from '../../shared/money';
import type { Tier } from '../providers/model.entity';
import type { ChatMessage } from '../upstream/upstream.types';

export interface CompletionRequest {
  /** A model name, or "auto" (the default) to let the router choose. */
  model?: string | null;
  messages: ChatMessage[];
  maxTokens?: number | null;
  temperature?: number | null;
  /** Idempotency key: a repeat returns the first result and is charged once. */
  requestId?: string | null;
  intent?: string | null;
  requiresReasoning?: boolean | null;
}

export interface CompletionResult {
  id: string;
  requestId: string;
  modelRequested: string;
  model: string;
  provider: string;
  content: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: Pico;
  /** False when the served model had no price: the call was recorded at $0 and flagged. */
  priced: boolean;
  latencyMs: number;
  upstreamLatencyMs: number;
  attempts: number;
  tier: Tier | null;
  fallbacks: string[];
  downgraded: boolean;
  /** True when this is the stored result of an earlier call with the same requestId. */
  replayed: boolean;
  createdAt: Date;
}
