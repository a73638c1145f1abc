/**
 * OAuth client authentication with HTTP Basic (RFC 6749 §2.3.1): the header
 * carries `base64(urlencode(client_id) ":" urlencode(client_secret))`, each
 * half form-urlencoded before the colon is added, so either may contain a
 * colon. Pure: no Hono, no storage.
 */

/** The client authentication methods of the token endpoint (RFC 8414 / RFC 7591 names). */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/**
 * What an `Authorization` header says about client authentication:
 * nothing (absent, or another scheme such as `Bearer`), a Basic header that
 * cannot be decoded, or a client id and secret.
 */
export type BasicCredentials =
  | { kind: 'absent' }
  | { kind: 'malformed' }
  | { kind: 'basic'; clientId: string; clientSecret: string };

/** Longer than any client id and secret we issue, short enough to decode without care. */
const MAX_HEADER_LENGTH = 2048;
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;

/**
 * Decodes a Basic `Authorization` header. Anything that is not exactly a
 * base64 token of UTF-8 text holding a colon, with both halves non-empty and
 * validly form-urlencoded, is `malformed`: the caller answers it like any
 * other failed client authentication (401), never with a 500.
 */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials {
  if (header === undefined) return { kind: 'absent' };
  const scheme = header.trimStart().split(' ', 1)[0]!;
  // Auth schemes are case-insensitive (RFC 9110 §11.1); other schemes are not client authentication.
  if (scheme.toLowerCase() !== 'basic') return { kind: 'absent' };
  const match = header.length <= MAX_HEADER_LENGTH ? BASIC.exec(header.trim()) : null;
  if (!match) return { kind: 'malformed' };
  let text: string;
  try {
    const binary = atob(match[1]!);
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(binary, (ch) => ch.charCodeAt(0)));
  } catch {
    return { kind: 'malformed' };
  }
  const colon = text.indexOf(':');
  if (colon < 0) return { kind: 'malformed' };
  const clientId = formDecode(text.slice(0, colon));
  const clientSecret = formDecode(text.slice(colon + 1));
  if (!clientId || !clientSecret) return { kind: 'malformed' };
  return { kind: 'basic', clientId, clientSecret };
}

/** `application/x-www-form-urlencoded` decoding of one value; null when a `%` escape is invalid. */
function formDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}
