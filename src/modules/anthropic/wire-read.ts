import { TranslationError } from './translation-error';

/**
 * Readers for an untrusted JSON body: each either returns the value in the type the translator
 * needs or throws a TranslationError naming the exact path (`messages[2].content[0].image_url`),
 * so a client learns what to fix from the 400 alone.
 */

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readObject(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw new TranslationError(path, `${path} must be an object`);
  return value;
}

export function readArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new TranslationError(path, `${path} must be an array`);
  return value;
}

export function readString(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new TranslationError(path, `${path} must be a string`);
  return value;
}

export function readNumber(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TranslationError(path, `${path} must be a number`);
  }
  return value;
}

export function readBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new TranslationError(path, `${path} must be a boolean`);
  return value;
}

export function readCount(value: unknown, path: string): number {
  const n = readNumber(value, path);
  if (!Number.isInteger(n) || n < 0) {
    throw new TranslationError(path, `${path} must be a non-negative integer`);
  }
  return n;
}

/** A string or an array of strings (OpenAI's `stop`), as an array. */
export function readStrings(value: unknown, path: string): string[] {
  if (typeof value === 'string') return [value];
  return readArray(value, path).map((item, i) => readString(item, `${path}[${i}]`));
}

/**
 * `table[key]` for a key that came off the wire: only the table's own entries, so a field named
 * `constructor` or `toString` cannot reach Object.prototype.
 */
export function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Every key of `object` must be one the translator knows; the first other one is refused, so a
 * field the target wire cannot carry is never dropped on the floor. A null value is an absent
 * one, as both APIs document it.
 */
export function assertKnownKeys(
  object: JsonObject,
  known: readonly string[],
  path: string,
  target: string,
): void {
  for (const [key, value] of Object.entries(object)) {
    if (value !== null && value !== undefined && !known.includes(key)) {
      const field = join(path, key);
      throw new TranslationError(field, `${field} has no ${target} equivalent`);
    }
  }
}

/** `data:<media type>;base64,<data>`, the only data URL shape the wires share. */
export function parseBase64DataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (!match || match[1] === undefined || match[2] === undefined) return null;
  return { mediaType: match[1].toLowerCase(), data: match[2] };
}
