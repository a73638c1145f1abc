/**
 * Hashing and comparison of opaque secrets (admin keys, client secrets,
 * refresh and invite tokens). These secrets carry 128 bits of randomness, so
 * a fast SHA-256 digest is the right at-rest form (a slow password hash would
 * add nothing but CPU); comparisons are constant-time over the digests.
 */

const encoder = new TextEncoder();

export async function sha256(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(value)));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Hex SHA-256 of a secret: what is stored and looked up, never the secret. */
export async function hashSecret(value: string): Promise<string> {
  return toHex(await sha256(value));
}

/**
 * Constant-time equality of two byte strings of equal length (digests). Uses
 * workerd's `crypto.subtle.timingSafeEqual`, falling back to an XOR fold.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (x: ArrayBufferView, y: ArrayBufferView) => boolean };
  if (typeof subtle.timingSafeEqual === 'function') return subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Compares a presented secret with a stored hex digest in constant time. */
export async function secretMatches(presented: string, storedHexDigest: string): Promise<boolean> {
  const digest = await sha256(presented);
  return timingSafeEqual(digest, fromHex(storedHexDigest));
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
