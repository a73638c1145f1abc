/**
 * Password hashing with argon2id from @noble/hashes.
 *
 * Parameters: OWASP's first recommendation, m = 19 MiB, t = 2, p = 1. That
 * is the memory ceiling we accept: a Worker isolate has 128 MB shared by
 * concurrent requests, so 64-128 MiB configurations would exhaust it. The
 * hash runs synchronously on purpose: an isolate computes one at a time, so
 * concurrent logins queue for CPU instead of each holding 19 MiB at once. (A
 * cross-request semaphore around the async variant is not an option: in
 * Workers, a request awaiting a promise another request resolves is
 * cancelled as hung.) WebCrypto PBKDF2 is not an option: the
 * production runtime refuses more than 100,000 iterations (workerd#1346),
 * far below OWASP's 600,000, although `wrangler dev` accepts them.
 *
 * Stored form is the PHC string `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`,
 * self-describing, so parameters can be raised later: `verifyPassword`
 * reports `needsRehash` when a hash was made with other parameters.
 */
import { argon2id } from '@noble/hashes/argon2.js';

export const ARGON2_PARAMS = { m: 19_456, t: 2, p: 1, dkLen: 32 } as const;
const SALT_BYTES = 16;

/** Password length rules, in Unicode code points after NFKC (docs/resources.md#passwords). */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
/**
 * Raw input longer than this is refused before any normalisation or hashing,
 * so a 1 MB "password" costs nothing (NFKC can expand text, hence the margin).
 */
export const PASSWORD_RAW_MAX = PASSWORD_MAX * 4;

export type PasswordProblem = 'too_short' | 'too_long';

/**
 * NFKC-normalises a password (so visually identical compositions verify, as
 * NIST SP 800-63B and RFC 8265 ask) and checks its length; never truncates.
 */
export function normalisePassword(raw: string): { ok: true; value: string } | { ok: false; problem: PasswordProblem } {
  if (raw.length > PASSWORD_RAW_MAX) return { ok: false, problem: 'too_long' };
  const value = raw.normalize('NFKC');
  const length = [...value].length;
  if (length < PASSWORD_MIN) return { ok: false, problem: 'too_short' };
  if (length > PASSWORD_MAX) return { ok: false, problem: 'too_long' };
  return { ok: true, value };
}

function b64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/=+$/, '');
}

function unb64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const encoder = new TextEncoder();

function derive(password: string, salt: Uint8Array, params: { m: number; t: number; p: number; dkLen: number }): Uint8Array {
  return argon2id(encoder.encode(password), salt, { ...params, maxmem: 32 * 1024 * 1024 });
}

/** Hashes an already normalised password into a PHC string. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = derive(password, salt, ARGON2_PARAMS);
  const { m, t, p } = ARGON2_PARAMS;
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${b64(salt)}$${b64(hash)}`;
}

const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

/**
 * A well-formed hash with the current parameters whose password nobody knows
 * (random salt and digest). Logins for an unknown email, or for a user with
 * no password, verify against it, so they cost the same argon2id work as a
 * wrong password and their timing reveals nothing.
 */
export const DUMMY_PASSWORD_HASH = `$argon2id$v=19$m=${ARGON2_PARAMS.m},t=${ARGON2_PARAMS.t},p=${ARGON2_PARAMS.p}$lCEl4gvMxdyTBEistOQF0Q$GrqiFsqIUKkaoGYFK0010mxOpi4c54Y886FlOvGIhHY`;

/** Verifies a normalised password against a stored PHC string in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<{ ok: boolean; needsRehash: boolean }> {
  const match = PHC.exec(stored);
  if (!match) return { ok: false, needsRehash: false };
  const [, m, t, p, salt, expected] = match;
  const params = { m: Number(m), t: Number(t), p: Number(p) };
  const expectedBytes = unb64(expected!);
  const actual = derive(password, unb64(salt!), { ...params, dkLen: expectedBytes.length });
  let diff = actual.length ^ expectedBytes.length;
  for (let i = 0; i < actual.length && i < expectedBytes.length; i++) diff |= actual[i]! ^ expectedBytes[i]!;
  const needsRehash = params.m !== ARGON2_PARAMS.m || params.t !== ARGON2_PARAMS.t || params.p !== ARGON2_PARAMS.p;
  return { ok: diff === 0, needsRehash };
}
