/**
 * JSON from outside (webhooks, callbacks, API bodies), parsed once the same way everywhere. PostgreSQL refuses NUL in
 * text and in jsonb (`\u0000`), and a lone surrogate in jsonb, so either would turn a genuine request into a 5xx (and a
 * webhook Meta retries for days): every string, key included, is made storable here, before anything downstream
 * sees it. Deep nesting is refused before parsing: nothing duka accepts nests deeper than a few levels, and recursion
 * over 5,000 levels (zod, jsonb, the payload codec) is where deep input hurts.
 */
export const MAX_JSON_DEPTH = 64;

export class UntrustedJsonError extends Error {
  override name = 'UntrustedJsonError';
}

const NUL = /\0/g;
/** A surrogate without its pair (`"\ud800"` is valid JSON): jsonb refuses it, so it becomes U+FFFD. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** What PostgreSQL can store of a string from outside: no NUL, no lone surrogate. */
export function storableText(text: string): string {
  const withoutNul = text.includes('\0') ? text.replace(NUL, '') : text;
  return withoutNul.replace(LONE_SURROGATE, '\ufffd');
}

/** A `JSON.parse` reviver that makes every string value and every key storableText. */
export function storableJson(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    for (const k of Object.keys(record)) {
      const clean = storableText(k);
      if (clean === k) continue;
      if (!(clean in record)) record[clean] = record[k];
      delete record[k];
    }
  }
  return value;
}

/** How deep `text` nests arrays and objects, stopping as soon as it passes `max` (strings are skipped, escapes too). */
export function nestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/** Parses JSON from outside: no NUL anywhere in the result; UntrustedJsonError when it is not JSON or nests too deep. */
export function parseUntrustedJson(text: string | Buffer, max = MAX_JSON_DEPTH): unknown {
  const source = typeof text === 'string' ? text : text.toString('utf8');
  if (nestsDeeperThan(source, max)) throw new UntrustedJsonError(`JSON nests deeper than ${max} levels`);
  try {
    return JSON.parse(source, storableJson);
  } catch (err) {
    throw new UntrustedJsonError(`not JSON: ${(err as Error).message}`);
  }
}

/** For text that is not JSON (form bodies, path and query values): true when it holds a NUL. */
export const hasNul = (text: string): boolean => text.includes('\0');
