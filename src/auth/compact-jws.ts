/**
 * The one spelling of a compact JWS (RFC 7515 §3.1, §7.1): three segments of
 * base64url without padding, whitespace or line breaks (RFC 7515 §2), each
 * the canonical encoding of its bytes.
 *
 * Base64 decoders are lenient: jose, through `Uint8Array.fromBase64` or
 * `atob`, accepts padding, skips whitespace and ignores the unused low bits
 * of a segment's last character. The signing input is the header and payload
 * as sent, so leniency there breaks the signature; in the signature segment
 * it does not, and one issued token could be presented in many spellings,
 * each verifying. Anything that remembers tokens by their text (a cache, a
 * deny list, a log search) would then be fooled. Both verifiers of Heimdall
 * tokens refuse any other spelling before verifying. Pure: no dependencies.
 */

const SEGMENT = /^[A-Za-z0-9_-]+$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Bits of the last character that encode nothing, by segment length modulo 4 (1 is no valid length). */
const SPARE_BITS: Record<number, number> = { 0: 0, 2: 0b1111, 3: 0b11 };

/** True when `segment` is base64url with no padding, no stray characters and no spare bits set. */
export function isCanonicalBase64url(segment: string): boolean {
  const spare = SPARE_BITS[segment.length % 4];
  if (spare === undefined || !SEGMENT.test(segment)) return false;
  return (ALPHABET.indexOf(segment.at(-1)!) & spare) === 0;
}

/** True when `token` is `header.payload.signature`, each segment canonical base64url. */
export function isCanonicalCompactJws(token: string): boolean {
  const segments = token.split('.');
  return segments.length === 3 && segments.every(isCanonicalBase64url);
}
