/**
 * Strict JSON for request bodies. The native parser decides what is JSON;
 * a linear scan of the (then known valid) text refuses what JSON.parse lets
 * through silently: duplicate object keys (RFC 6749 §3.2's "MUST NOT be
 * included more than once", and `{"role":"viewer","role":"admin"}` games),
 * nesting deeper than any body of ours needs, and `__proto__` keys.
 *
 * JSON.parse makes `__proto__` an ordinary own key, but the first copy of
 * the value into a plain object (zod's record parsing, a spread, an
 * assignment) sets that object's prototype instead: the key vanishes without
 * a word (metadata `{"__proto__": {...}}` was stored as `{}`) and the copy
 * inherits whatever the body put there. No body of ours has a use for the
 * key, so it is refused at any depth, before any schema sees the value.
 */

export const MAX_JSON_DEPTH = 32;

/** Keys no body may hold, at any depth. */
const FORBIDDEN_KEYS = new Set(['__proto__']);

export type JsonProblem = 'invalid_json' | 'duplicate_key' | 'too_deep' | 'forbidden_key';

/** `key` is the offending key; `path` its place in the body (`metadata.__proto__`). */
export type JsonResult = { ok: true; value: unknown } | { ok: false; problem: JsonProblem; key?: string; path?: string };

export function parseStrictJson(text: string): JsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'invalid_json' };
  }
  const problem = scan(text);
  return problem ? { ok: false, ...problem } : { ok: true, value };
}

interface Frame {
  keys: Set<string> | null; // null for arrays
  expectKey: boolean;
  /** The member being read: its key in an object, its index in an array. */
  at: string | number;
}

function pathOf(stack: Frame[]): string {
  return stack.map((frame) => String(frame.at)).join('.');
}

function scan(text: string): { problem: JsonProblem; key?: string; path?: string } | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    switch (ch) {
      case 0x7b: // {
      case 0x5b: // [
        if (stack.length >= MAX_JSON_DEPTH) return { problem: 'too_deep' };
        stack.push({ keys: ch === 0x7b ? new Set() : null, expectKey: ch === 0x7b, at: 0 });
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        break;
      case 0x2c: {
        // ,
        const top = stack[stack.length - 1];
        if (top?.keys) top.expectKey = true;
        else if (top) top.at = (top.at as number) + 1;
        break;
      }
      case 0x22: {
        // "
        const end = stringEnd(text, i);
        const top = stack[stack.length - 1];
        if (top?.keys && top.expectKey) {
          // A key without escapes is its own text; only an escaped one needs decoding.
          const raw = text.slice(i + 1, end);
          const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
          top.at = key;
          if (FORBIDDEN_KEYS.has(key)) return { problem: 'forbidden_key', key, path: pathOf(stack) };
          if (top.keys.has(key)) return { problem: 'duplicate_key', key };
          top.keys.add(key);
          top.expectKey = false;
        }
        i = end;
        break;
      }
      default:
        break;
    }
  }
  return null;
}

/**
 * Index of the closing quote of the string literal opening at `start`: the
 * next quote not escaped, i.e. preceded by an even number of backslashes.
 * Found with indexOf rather than a loop over every character, since a body's
 * strings (a token to authorize) are most of its length.
 */
function stringEnd(text: string, start: number): number {
  for (let quote = text.indexOf('"', start + 1); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
  return text.length - 1;
}
