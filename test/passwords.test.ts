import { describe, expect, it } from 'vitest';
import { ARGON2_PARAMS, DUMMY_PASSWORD_HASH, hashPassword, normalisePassword, verifyPassword } from '../src/auth/passwords';

function normalised(raw: string): string {
  const result = normalisePassword(raw);
  if (!result.ok) throw new Error(result.problem);
  return result.value;
}

describe('password hashing (argon2id in workerd)', () => {
  it('stores a self-describing PHC string with OWASP parameters and a 16-byte salt', async () => {
    const hash = await hashPassword(normalised('pässwörd-ünïcode'));
    expect(hash).toMatch(new RegExp(`^\\$argon2id\\$v=19\\$m=${ARGON2_PARAMS.m},t=${ARGON2_PARAMS.t},p=${ARGON2_PARAMS.p}\\$[A-Za-z0-9+/]{22}\\$[A-Za-z0-9+/]{43}$`));
  });

  it('verifies NFKC-equivalent passwords: composed, decomposed and compatibility forms', async () => {
    const hash = await hashPassword(normalised('pässwörd-ünïcode'.normalize('NFC')));
    expect((await verifyPassword(normalised('pässwörd-ünïcode'.normalize('NFD')), hash)).ok).toBe(true);
    // Full-width letters are compatibility-equivalent to ASCII under NFKC.
    const ascii = await hashPassword(normalised('password123'));
    expect((await verifyPassword(normalised('ｐａｓｓｗｏｒｄ１２３'), ascii)).ok).toBe(true);
  });

  it('refuses a wrong password, one character more, and a truncation', async () => {
    const password = normalised(`${'x'.repeat(255)}y`);
    const hash = await hashPassword(password);
    expect((await verifyPassword(password, hash)).ok).toBe(true);
    expect((await verifyPassword(normalised('x'.repeat(256)), hash)).ok).toBe(false);
    expect((await verifyPassword(normalised('x'.repeat(255)), hash)).ok).toBe(false);
  });

  it('asks for a rehash when a hash was made with other parameters', async () => {
    const current = await hashPassword(normalised('password123'));
    expect((await verifyPassword('password123', current)).needsRehash).toBe(false);
    const weaker = current.replace(`m=${ARGON2_PARAMS.m},t=${ARGON2_PARAMS.t}`, 'm=8192,t=1');
    expect((await verifyPassword('password123', weaker)).needsRehash).toBe(true);
  });

  it('never verifies against the dummy hash, nor against garbage', async () => {
    expect((await verifyPassword('password123', DUMMY_PASSWORD_HASH)).ok).toBe(false);
    expect((await verifyPassword('password123', 'not-a-hash')).ok).toBe(false);
  });

  it('refuses over-long input before normalising, and measures length in characters', () => {
    expect(normalisePassword('x'.repeat(1024 * 1024))).toEqual({ ok: false, problem: 'too_long' });
    expect(normalisePassword('😀'.repeat(8))).toEqual({ ok: true, value: '😀'.repeat(8) });
    expect(normalisePassword('😀'.repeat(7))).toEqual({ ok: false, problem: 'too_short' });
  });
});
