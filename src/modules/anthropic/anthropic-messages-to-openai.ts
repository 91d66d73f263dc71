import type {
  OpenAiFilePart,
  OpenAiImagePart,
  OpenAiMessage,
  OpenAiTextPart,
  OpenAiToolCall,
  OpenAiUserPart,
} from '../../shared/openai-wire';
import { TranslationError, type DroppedHintListener } from './translation-error';
import {
  assertKnownKeys,
  join,
  readArray,
  readBoolean,
  readObject,
  readString,
  type JsonObject,
} from './wire-read';

const TARGET = 'OpenAI';

/** The in-band marker for a failed tool's result: OpenAI tool messages have no error flag. */
const TOOL_ERROR_PREFIX = 'Error: ';

const CACHE_HINT =
  'OpenAI-compatible upstreams cache prompt prefixes on their own; there is no breakpoint to set';

/** Reports a block's `cache_control`: a cost hint, the one thing the OpenAI wire cannot hold. */
function noteCacheControl(block: JsonObject, path: string, onDroppedHint?: DroppedHintListener): void {
  if (block.cache_control !== undefined && block.cache_control !== null) {
    onDroppedHint?.(join(path, 'cache_control'), CACHE_HINT);
  }
}

/** Anthropic's top-level `system` as OpenAI's first message. */
export function toOpenAiSystem(raw: unknown, onDroppedHint?: DroppedHintListener): OpenAiMessage {
  if (typeof raw === 'string') return { role: 'system', content: raw };
  return { role: 'system', content: textParts(raw, 'system', onDroppedHint) };
}

/**
 * Anthropic turns as OpenAI messages. A user turn's `tool_result` blocks become `tool` messages
 * placed before the rest of the turn, since OpenAI wants them right after the assistant's calls
 * (Anthropic wants them first in the turn too, so no order the client meant is changed).
 */
export function toOpenAiMessages(raw: unknown, onDroppedHint?: DroppedHintListener): OpenAiMessage[] {
  const out: OpenAiMessage[] = [];
  readArray(raw, 'messages').forEach((item, i) => {
    const path = `messages[${i}]`;
    const message = readObject(item, path);
    assertKnownKeys(message, ['role', 'content'], path, TARGET);
    const role = readString(message.role, join(path, 'role'));
    const contentPath = join(path, 'content');
    if (role === 'system') {
      out.push({
        role: 'system',
        content:
          typeof message.content === 'string'
            ? message.content
            : textParts(message.content, contentPath, onDroppedHint),
      });
    } else if (role === 'user') {
      out.push(...userMessages(message.content, contentPath, onDroppedHint));
    } else if (role === 'assistant') {
      out.push(assistantMessage(message.content, contentPath, onDroppedHint));
    } else {
      throw new TranslationError(
        join(path, 'role'),
        `${path}.role "${role}" is not an Anthropic message role`,
      );
    }
  });
  return out;
}

function textPart(block: JsonObject, path: string, onDroppedHint?: DroppedHintListener): OpenAiTextPart {
  assertKnownKeys(block, ['type', 'text', 'cache_control', 'citations'], path, TARGET);
  if (Array.isArray(block.citations) && block.citations.length > 0) {
    throw new TranslationError(join(path, 'citations'), `${path}.citations has no OpenAI equivalent`);
  }
  noteCacheControl(block, path, onDroppedHint);
  return { type: 'text', text: readString(block.text, join(path, 'text')) };
}

function textParts(raw: unknown, path: string, onDroppedHint?: DroppedHintListener): OpenAiTextPart[] {
  return readArray(raw, path).map((item, j) => {
    const blockPath = join(path, j);
    const block = readObject(item, blockPath);
    if (block.type !== 'text') {
      throw new TranslationError(join(blockPath, 'type'), `${blockPath}.type must be "text" here`);
    }
    return textPart(block, blockPath, onDroppedHint);
  });
}

function userMessages(content: unknown, path: string, onDroppedHint?: DroppedHintListener): OpenAiMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const results: OpenAiMessage[] = [];
  const parts: OpenAiUserPart[] = [];
  readArray(content, path).forEach((item, j) => {
    const blockPath = join(path, j);
    const block = readObject(item, blockPath);
    switch (block.type) {
      case 'tool_result':
        results.push(toolMessage(block, blockPath, onDroppedHint));
        return;
      case 'text':
        parts.push(textPart(block, blockPath, onDroppedHint));
        return;
      case 'image':
        parts.push(imagePart(block, blockPath, onDroppedHint));
        return;
      case 'document':
        parts.push(filePart(block, blockPath, onDroppedHint));
        return;
      default:
        throw new TranslationError(
          join(blockPath, 'type'),
          `${blockPath}.type "${String(block.type)}" has no OpenAI equivalent in a user turn`,
        );
    }
  });
  return parts.length > 0 ? [...results, { role: 'user', content: parts }] : results;
}

function imagePart(block: JsonObject, path: string, onDroppedHint?: DroppedHintListener): OpenAiImagePart {
  assertKnownKeys(block, ['type', 'source', 'cache_control'], path, TARGET);
  noteCacheControl(block, path, onDroppedHint);
  const sourcePath = join(path, 'source');
  const source = readObject(block.source, sourcePath);
  if (source.type === 'base64') {
    assertKnownKeys(source, ['type', 'media_type', 'data'], sourcePath, TARGET);
    const mediaType = readString(source.media_type, join(sourcePath, 'media_type'));
    const data = readString(source.data, join(sourcePath, 'data'));
    return { type: 'image_url', image_url: { url: `data:${mediaType};base64,${data}` } };
  }
  if (source.type === 'url') {
    assertKnownKeys(source, ['type', 'url'], sourcePath, TARGET);
    return { type: 'image_url', image_url: { url: readString(source.url, join(sourcePath, 'url')) } };
  }
  throw new TranslationError(
    join(sourcePath, 'type'),
    `${sourcePath}.type "${String(source.type)}" has no OpenAI equivalent (Anthropic file ids are not readable there)`,
  );
}

/** An inline PDF as OpenAI's file part; the title, if any, is the file name the model sees. */
function filePart(block: JsonObject, path: string, onDroppedHint?: DroppedHintListener): OpenAiFilePart {
  assertKnownKeys(block, ['type', 'source', 'title', 'cache_control', 'citations'], path, TARGET);
  if (isEnabled(block.citations)) {
    throw new TranslationError(join(path, 'citations'), `${path}.citations has no OpenAI equivalent`);
  }
  noteCacheControl(block, path, onDroppedHint);
  const sourcePath = join(path, 'source');
  const source = readObject(block.source, sourcePath);
  if (source.type !== 'base64' || source.media_type !== 'application/pdf') {
    throw new TranslationError(
      sourcePath,
      `${sourcePath} must be a base64 PDF to reach an OpenAI-compatible upstream`,
    );
  }
  assertKnownKeys(source, ['type', 'media_type', 'data'], sourcePath, TARGET);
  const data = readString(source.data, join(sourcePath, 'data'));
  const title =
    block.title === undefined || block.title === null
      ? 'document.pdf'
      : readString(block.title, join(path, 'title'));
  return { type: 'file', file: { file_data: `data:application/pdf;base64,${data}`, filename: title } };
}

function isEnabled(citations: unknown): boolean {
  return typeof citations === 'object' && citations !== null && (citations as JsonObject).enabled === true;
}

function toolMessage(block: JsonObject, path: string, onDroppedHint?: DroppedHintListener): OpenAiMessage {
  assertKnownKeys(block, ['type', 'tool_use_id', 'content', 'is_error', 'cache_control'], path, TARGET);
  noteCacheControl(block, path, onDroppedHint);
  const id = readString(block.tool_use_id, join(path, 'tool_use_id'));
  const failed =
    block.is_error !== undefined &&
    block.is_error !== null &&
    readBoolean(block.is_error, join(path, 'is_error'));
  const contentPath = join(path, 'content');
  if (block.content === undefined || block.content === null || typeof block.content === 'string') {
    const text = typeof block.content === 'string' ? block.content : '';
    return { role: 'tool', tool_call_id: id, content: failed ? `${TOOL_ERROR_PREFIX}${text}` : text };
  }
  const parts = readArray(block.content, contentPath).map((item, k) => {
    const partPath = join(contentPath, k);
    const part = readObject(item, partPath);
    if (part.type !== 'text') {
      throw new TranslationError(
        join(partPath, 'type'),
        `${partPath}.type "${String(part.type)}" has no OpenAI equivalent: OpenAI tool messages hold text only`,
      );
    }
    return textPart(part, partPath, onDroppedHint);
  });
  // is_error tells the model its call failed; with no flag on OpenAI's side it travels in the text.
  const content: OpenAiTextPart[] = failed
    ? [{ type: 'text', text: TOOL_ERROR_PREFIX.trimEnd() }, ...parts]
    : parts;
  return { role: 'tool', tool_call_id: id, content };
}

function assistantMessage(
  content: unknown,
  path: string,
  onDroppedHint?: DroppedHintListener,
): OpenAiMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  const texts: OpenAiTextPart[] = [];
  const calls: OpenAiToolCall[] = [];
  readArray(content, path).forEach((item, j) => {
    const blockPath = join(path, j);
    const block = readObject(item, blockPath);
    switch (block.type) {
      case 'text':
        texts.push(textPart(block, blockPath, onDroppedHint));
        return;
      case 'tool_use': {
        assertKnownKeys(block, ['type', 'id', 'name', 'input', 'cache_control'], blockPath, TARGET);
        noteCacheControl(block, blockPath, onDroppedHint);
        calls.push({
          id: readString(block.id, join(blockPath, 'id')),
          type: 'function',
          function: {
            name: readString(block.name, join(blockPath, 'name')),
            arguments: JSON.stringify(readObject(block.input, join(blockPath, 'input'))),
          },
        });
        return;
      }
      case 'thinking':
      case 'redacted_thinking':
        // Earlier reasoning is not an input OpenAI-compatible models take (DeepSeek refuses it).
        onDroppedHint?.(blockPath, 'OpenAI-compatible models take no earlier reasoning as input');
        return;
      default:
        throw new TranslationError(
          join(blockPath, 'type'),
          `${blockPath}.type "${String(block.type)}" has no OpenAI equivalent in an assistant turn`,
        );
    }
  });
  const only = texts.length === 1 ? texts[0] : undefined;
  return {
    role: 'assistant',
    content: only ? only.text : texts.length > 0 ? texts : null,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}
