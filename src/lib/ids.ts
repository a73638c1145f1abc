/**
 * Prefixed, lexicographically sortable identifiers (ULIDs) and opaque secrets.
 *
 * ULIDs are monotonic within an isolate, so two ids minted in the same
 * millisecond still sort in creation order (lists order by id as a tiebreak).
 */

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const ID_PREFIX = {
  app: 'app_',
  user: 'usr_',
  role: 'role_',
  credential: 'cred_',
  invite: 'inv_',
  audit: 'aud_',
  adminKey: 'key_',
  request: 'req_',
} as const;

export type IdKind = keyof typeof ID_PREFIX;

let lastTime = -1;
const lastRandom = new Uint8Array(10);

function encodeTime(ms: number): string {
  let out = '';
  let t = Math.floor(ms);
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** Base32 (Crockford) of a byte string, 5 bits a character, most significant first. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += CROCKFORD[(buffer << (5 - bits)) & 31];
  return out;
}

function incrementRandom(): void {
  for (let i = lastRandom.length - 1; i >= 0; i--) {
    if (lastRandom[i] === 255) {
      lastRandom[i] = 0;
    } else {
      lastRandom[i]! += 1;
      return;
    }
  }
}

/** A 26-character ULID: 48 bits of time, 80 bits of randomness. */
export function ulid(now: number = Date.now()): string {
  if (now > lastTime) {
    lastTime = now;
    crypto.getRandomValues(lastRandom);
  } else {
    incrementRandom();
  }
  return encodeTime(lastTime) + base32(lastRandom).slice(0, 16);
}

export function newId(kind: IdKind, now?: number): string {
  return ID_PREFIX[kind] + ulid(now);
}

/** True when `value` looks like an id of `kind` (prefix and ULID shape). */
export function isId(kind: IdKind, value: string): boolean {
  return value.length === ID_PREFIX[kind].length + 26 && value.startsWith(ID_PREFIX[kind]) &&
    /^[0-9A-HJKMNP-TV-Z]{26}$/.test(value.slice(ID_PREFIX[kind].length));
}

/**
 * An opaque secret: prefix, a 10-character time stamp (so secrets sort and
 * read like the reference's `rt_01HQ3KXFG6...`), then `randomBytes` (at
 * least 16: 128 bits) from the CSPRNG (RFC 6749 §10.10: guessing must be at
 * most 2^-128).
 */
export function newSecret(prefix: string, now: number = Date.now(), randomBytes = 16): string {
  if (randomBytes < 16) throw new Error('newSecret: at least 16 random bytes');
  return prefix + encodeTime(now) + base32(crypto.getRandomValues(new Uint8Array(randomBytes)));
}
