import type {
  AnthropicCacheControl,
  AnthropicContentBlockParam,
  AnthropicDocumentBlock,
  AnthropicImageBlock,
  AnthropicMessageParam,
  AnthropicTextBlock,
  AnthropicToolUseBlock,
} from './anthropic.types';
import { TranslationError, type DroppedHintListener } from './translation-error';
import {
  assertKnownKeys,
  isObject,
  join,
  parseBase64DataUrl,
  readArray,
  readObject,
  readString,
  type JsonObject,
} from './wire-read';

const TARGET = 'Anthropic';

/** The image types Anthropic accepts; anything else would be a 400 from Anthropic anyway, and later. */
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

export interface AnthropicConversation {
  /** System and developer messages, in order, hoisted to Anthropic's top-level `system`. */
  system: AnthropicTextBlock[];
  messages: AnthropicMessageParam[];
}

/**
 * OpenAI's message list as Anthropic's `system` + turns. Tool messages become `tool_result`
 * blocks in a user turn, and consecutive turns of one role are merged into one, because
 * Anthropic wants the results of one assistant turn's tool calls together in the next user turn.
 */
export function toAnthropicConversation(
  raw: unknown,
  onDroppedHint?: DroppedHintListener,
): AnthropicConversation {
  const list = readArray(raw, 'messages');
  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessageParam[] = [];
  const append = (role: 'user' | 'assistant', content: AnthropicMessageParam['content']) => {
    const last = messages[messages.length - 1];
    if (last && last.role === role) last.content = [...asBlocks(last.content), ...asBlocks(content)];
    else messages.push({ role, content });
  };

  list.forEach((item, i) => {
    const path = `messages[${i}]`;
    const message = readObject(item, path);
    const role = readString(message.role, join(path, 'role'));
    switch (role) {
      case 'system':
      case 'developer':
        assertKnownKeys(message, ['role', 'content'], path, TARGET);
        system.push(...textBlocks(message.content, join(path, 'content')));
        return;
      case 'user':
        assertKnownKeys(message, ['role', 'content'], path, TARGET);
        append('user', userContent(message.content, join(path, 'content'), onDroppedHint));
        return;
      case 'assistant':
        assertKnownKeys(message, ['role', 'content', 'refusal', 'tool_calls'], path, TARGET);
        append('assistant', assistantContent(message, path));
        return;
      case 'tool':
        assertKnownKeys(message, ['role', 'content', 'tool_call_id'], path, TARGET);
        append('user', [
          {
            type: 'tool_result',
            tool_use_id: readString(message.tool_call_id, join(path, 'tool_call_id')),
            content:
              typeof message.content === 'string'
                ? message.content
                : textBlocks(message.content, join(path, 'content')),
          },
        ]);
        return;
      case 'function':
        throw new TranslationError(
          join(path, 'role'),
          `${path}.role "function" (deprecated) has no Anthropic equivalent; send tool messages`,
        );
      default:
        throw new TranslationError(
          join(path, 'role'),
          `${path}.role "${role}" is not an OpenAI message role`,
        );
    }
  });
  return { system, messages };
}

function asBlocks(content: AnthropicMessageParam['content']): AnthropicContentBlockParam[] {
  if (typeof content !== 'string') return content;
  // Anthropic refuses empty text blocks; an empty string adds nothing to a merged turn.
  return content === '' ? [] : [{ type: 'text', text: content }];
}

function cacheControl(part: JsonObject, path: string): { cache_control?: AnthropicCacheControl } {
  const breakpoint = part.prompt_cache_breakpoint;
  if (breakpoint === undefined || breakpoint === null) return {};
  const mode = readObject(breakpoint, join(path, 'prompt_cache_breakpoint')).mode;
  if (mode !== 'explicit') {
    throw new TranslationError(
      join(path, 'prompt_cache_breakpoint.mode'),
      `${path}.prompt_cache_breakpoint.mode must be "explicit"`,
    );
  }
  // OpenAI's explicit breakpoint and Anthropic's cache_control both end a cached prefix here.
  return { cache_control: { type: 'ephemeral' } };
}

function textBlock(part: JsonObject, path: string): AnthropicTextBlock {
  assertKnownKeys(part, ['type', 'text', 'prompt_cache_breakpoint'], path, TARGET);
  return { type: 'text', text: readString(part.text, join(path, 'text')), ...cacheControl(part, path) };
}

/** String content or text parts (system, developer and tool messages take nothing else). */
function textBlocks(content: unknown, path: string): AnthropicTextBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return readArray(content, path).map((item, j) => {
    const partPath = join(path, j);
    const part = readObject(item, partPath);
    if (part.type !== 'text') {
      throw new TranslationError(join(partPath, 'type'), `${partPath}.type must be "text" in this message`);
    }
    return textBlock(part, partPath);
  });
}

function userContent(
  content: unknown,
  path: string,
  onDroppedHint?: DroppedHintListener,
): string | AnthropicContentBlockParam[] {
  if (typeof content === 'string') return content;
  return readArray(content, path).map((item, j): AnthropicContentBlockParam => {
    const partPath = join(path, j);
    const part = readObject(item, partPath);
    switch (part.type) {
      case 'text':
        return textBlock(part, partPath);
      case 'image_url':
        return imageBlock(part, partPath, onDroppedHint);
      case 'file':
        return documentBlock(part, partPath);
      case 'input_audio':
        throw new TranslationError(
          partPath,
          `${partPath} (input_audio) has no Anthropic equivalent: Claude takes no audio`,
        );
      default:
        throw new TranslationError(
          join(partPath, 'type'),
          `${partPath}.type is not a content part Tollgate can carry to Anthropic`,
        );
    }
  });
}

function imageBlock(
  part: JsonObject,
  path: string,
  onDroppedHint?: DroppedHintListener,
): AnthropicImageBlock {
  assertKnownKeys(part, ['type', 'image_url', 'prompt_cache_breakpoint'], path, TARGET);
  const imagePath = join(path, 'image_url');
  const image = readObject(part.image_url, imagePath);
  assertKnownKeys(image, ['url', 'detail'], imagePath, TARGET);
  if (image.detail !== undefined && image.detail !== null && image.detail !== 'auto') {
    // Detail picks OpenAI's resizing (cost and legibility), not what the model is asked.
    onDroppedHint?.(join(imagePath, 'detail'), 'Anthropic sizes images itself and has no detail setting');
  }
  const urlPath = join(imagePath, 'url');
  const url = readString(image.url, urlPath);
  const inline = parseBase64DataUrl(url);
  if (inline) {
    if (!IMAGE_MEDIA_TYPES.has(inline.mediaType)) {
      throw new TranslationError(
        urlPath,
        `${urlPath} is ${inline.mediaType}; Anthropic takes JPEG, PNG, GIF or WebP`,
      );
    }
    const source = { type: 'base64' as const, media_type: inline.mediaType, data: inline.data };
    return { type: 'image', source, ...cacheControl(part, path) };
  }
  if (/^https?:\/\//i.test(url))
    return { type: 'image', source: { type: 'url', url }, ...cacheControl(part, path) };
  throw new TranslationError(urlPath, `${urlPath} must be an http(s) URL or a base64 data URL`);
}

/** OpenAI's inline file part; Anthropic reads inline PDFs as documents, nothing else inline. */
function documentBlock(part: JsonObject, path: string): AnthropicDocumentBlock {
  assertKnownKeys(part, ['type', 'file', 'prompt_cache_breakpoint'], path, TARGET);
  const filePath = join(path, 'file');
  const file = readObject(part.file, filePath);
  assertKnownKeys(file, ['file_data', 'filename', 'file_id'], filePath, TARGET);
  if (file.file_id !== undefined && file.file_id !== null) {
    throw new TranslationError(
      join(filePath, 'file_id'),
      `${filePath}.file_id names a file stored at OpenAI, which Anthropic cannot read; send file_data`,
    );
  }
  const dataPath = join(filePath, 'file_data');
  const inline = parseBase64DataUrl(readString(file.file_data, dataPath));
  if (!inline || inline.mediaType !== 'application/pdf') {
    throw new TranslationError(
      dataPath,
      `${dataPath} must be a data:application/pdf;base64 URL for Anthropic`,
    );
  }
  const title =
    file.filename === undefined || file.filename === null
      ? {}
      : { title: readString(file.filename, join(filePath, 'filename')) };
  return {
    type: 'document',
    source: { type: 'base64', media_type: 'application/pdf', data: inline.data },
    ...title,
    ...cacheControl(part, path),
  };
}

function assistantContent(message: JsonObject, path: string): string | AnthropicContentBlockParam[] {
  const contentPath = join(path, 'content');
  const hasCalls = message.tool_calls !== undefined && message.tool_calls !== null;
  const refusal =
    message.refusal === undefined || message.refusal === null
      ? ''
      : readString(message.refusal, join(path, 'refusal'));
  const hasRefusal = refusal !== '';
  // Plain text stays a string: the same prompt, byte for byte, for the cache and the estimate.
  if (typeof message.content === 'string' && !hasCalls && !hasRefusal) return message.content;

  const blocks: AnthropicContentBlockParam[] = [];
  if (typeof message.content === 'string') blocks.push(...asBlocks(message.content));
  else if (message.content !== undefined && message.content !== null) {
    readArray(message.content, contentPath).forEach((item, j) => {
      const partPath = join(contentPath, j);
      const part = readObject(item, partPath);
      if (part.type === 'text') blocks.push(textBlock(part, partPath));
      else if (part.type === 'refusal') {
        assertKnownKeys(part, ['type', 'refusal'], partPath, TARGET);
        // A refusal is what the model said; Anthropic holds it as text.
        blocks.push({ type: 'text', text: readString(part.refusal, join(partPath, 'refusal')) });
      } else {
        throw new TranslationError(join(partPath, 'type'), `${partPath}.type must be "text" or "refusal"`);
      }
    });
  }
  if (hasRefusal) blocks.push({ type: 'text', text: refusal });
  if (hasCalls) {
    readArray(message.tool_calls, join(path, 'tool_calls')).forEach((call, k) => {
      blocks.push(toolUseBlock(call, join(join(path, 'tool_calls'), k)));
    });
  }
  return blocks;
}

function toolUseBlock(raw: unknown, path: string): AnthropicToolUseBlock {
  const call = readObject(raw, path);
  assertKnownKeys(call, ['id', 'type', 'function'], path, TARGET);
  if (call.type !== undefined && call.type !== 'function') {
    throw new TranslationError(
      join(path, 'type'),
      `${path}.type "${String(call.type)}" has no Anthropic equivalent`,
    );
  }
  const fnPath = join(path, 'function');
  const fn = readObject(call.function, fnPath);
  assertKnownKeys(fn, ['name', 'arguments'], fnPath, TARGET);
  return {
    type: 'tool_use',
    id: readString(call.id, join(path, 'id')),
    name: readString(fn.name, join(fnPath, 'name')),
    input: parseArguments(fn.arguments, join(fnPath, 'arguments')),
  };
}

/** Anthropic holds tool input as a JSON object; OpenAI as its text. */
export function parseArguments(raw: unknown, path: string, code?: 'UPSTREAM_ERROR'): JsonObject {
  if (typeof raw !== 'string') throw new TranslationError(path, `${path} must be a string`, code);
  const text = raw;
  // Some models send "" for a call without parameters; that is the empty object.
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TranslationError(path, `${path} is not valid JSON`, code);
  }
  if (!isObject(parsed)) throw new TranslationError(path, `${path} must be a JSON object`, code);
  return parsed;
}
