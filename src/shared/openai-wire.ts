/**
 * The OpenAI Chat Completions wire, as far as the Anthropic translation reads or writes it
 * (checked against the `openai` 6.x SDK definitions). Fields the translators never produce are
 * left out; fields they refuse are named in `openai-to-anthropic.ts`, not typed here.
 */

export interface OpenAiCacheBreakpoint {
  mode: 'explicit';
}

export interface OpenAiTextPart {
  type: 'text';
  text: string;
  prompt_cache_breakpoint?: OpenAiCacheBreakpoint;
}

export interface OpenAiImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
  prompt_cache_breakpoint?: OpenAiCacheBreakpoint;
}

export interface OpenAiFilePart {
  type: 'file';
  file: { file_data?: string; file_id?: string; filename?: string };
  prompt_cache_breakpoint?: OpenAiCacheBreakpoint;
}

export type OpenAiUserPart = OpenAiTextPart | OpenAiImagePart | OpenAiFilePart;

export interface OpenAiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type OpenAiMessage =
  | { role: 'system' | 'developer'; content: string | OpenAiTextPart[] }
  | { role: 'user'; content: string | OpenAiUserPart[] }
  | { role: 'assistant'; content: string | OpenAiTextPart[] | null; tool_calls?: OpenAiToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string | OpenAiTextPart[] };

export interface OpenAiTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

export type OpenAiToolChoice =
  'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type OpenAiReasoningEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface OpenAiChatRequest {
  model: string;
  messages: OpenAiMessage[];
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  tools?: OpenAiTool[];
  tool_choice?: OpenAiToolChoice;
  parallel_tool_calls?: boolean;
  user?: string;
  response_format?: {
    type: 'json_schema';
    json_schema: { name: string; schema: Record<string, unknown>; strict: boolean };
  };
  reasoning_effort?: OpenAiReasoningEffort;
  service_tier?: 'auto' | 'default';
}

export type OpenAiFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: {
    cached_tokens?: number;
    cache_write_tokens?: number;
    audio_tokens?: number;
  } | null;
  completion_tokens_details?: { reasoning_tokens?: number; [other: string]: number | undefined } | null;
}

export interface OpenAiAnswerMessage {
  role: 'assistant';
  content: string | null;
  refusal?: string | null;
  tool_calls?: OpenAiToolCall[];
  /**
   * Not OpenAI's own field: the de facto one (DeepSeek, vLLM) for reasoning text, used so that
   * Claude's thinking is carried rather than lost.
   */
  reasoning_content?: string | null;
}

export interface OpenAiCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: OpenAiAnswerMessage;
    finish_reason: OpenAiFinishReason | null;
    logprobs?: unknown;
  }>;
  usage?: OpenAiUsage;
  service_tier?: string | null;
  system_fingerprint?: string | null;
}

export interface OpenAiToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAiDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  reasoning_content?: string | null;
  tool_calls?: OpenAiToolCallDelta[];
}

export interface OpenAiChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: OpenAiDelta;
    finish_reason: OpenAiFinishReason | null;
    logprobs?: unknown;
  }>;
  usage?: OpenAiUsage | null;
}
