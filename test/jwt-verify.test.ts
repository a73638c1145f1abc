import { SignJWT, base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidTokenError, verifyAccessToken } from '../src/auth/jwt';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);
const claims = {
  iss: 'https://heimdall.test',
  sub: 'usr_01M8GD2M7C1T3V5X7Z9B1D3F5H',
  aud: 'acme-corp',
  app: 'acme-corp',
  app_id: 'app_01M8GCYKQVBFWM07Q9RW99N439',
  permissions: ['projects:read'],
  iat: NOW / 1000,
  exp: NOW / 1000 + 3600,
  jti: '01M8GD4QBW7D8ECEMQ024Z2QMC',
};
const part = (value: unknown) => base64url.encode(JSON.stringify(value));

/** Verifies `token`, counting the key lookups it made. */
async function verifyCounting(token: string): Promise<{ error: unknown; lookups: string[] }> {
  const lookups: string[] = [];
  const error = await verifyAccessToken(token, {
    issuer: claims.iss,
    now: NOW,
    keys: async (kid) => {
      lookups.push(kid);
      return null;
    },
  }).then(() => null, (err: unknown) => err);
  return { error, lookups };
}

describe('verifying an access token', () => {
  it('refuses a token of another algorithm before looking up any key (no key-ring reload for a forged kid)', async () => {
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'unknown-kid', typ: 'at+jwt' }).sign(new Uint8Array(32));
    for (const token of [
      hs256,
      `${part({ alg: 'none', kid: 'unknown-kid', typ: 'at+jwt' })}.${part(claims)}.`,
      `${part({ alg: 'RS256', kid: 'unknown-kid', typ: 'at+jwt', crit: ['exp'], exp: 1 })}.${part(claims)}.c2ln`,
    ]) {
      const { error, lookups } = await verifyCounting(token);
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect(lookups).toEqual([]);
    }
  });

  it('looks up only a well-formed kid, and refuses a token whose kid is unknown', async () => {
    for (const kid of ['../../etc/passwd', "' OR '1'='1", 'k'.repeat(100), 7, undefined]) {
      const { error, lookups } = await verifyCounting(`${part({ alg: 'RS256', kid, typ: 'at+jwt' })}.${part(claims)}.c2ln`);
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).reason).toBe('kid');
      expect(lookups).toEqual([]);
    }
    const { error, lookups } = await verifyCounting(`${part({ alg: 'RS256', kid: 'unknown-kid', typ: 'at+jwt' })}.${part(claims)}.c2ln`);
    expect((error as InvalidTokenError).reason).toBe('unknown_kid');
    expect(lookups).toEqual(['unknown-kid']);
  });

  it('refuses malformed compact tokens as invalid, whatever their shape', async () => {
    for (const token of ['', 'a', 'a.b', 'a.b.c.d', '..', `${part({ alg: 'RS256' })}..`, 'x'.repeat(9000)]) {
      const { error } = await verifyCounting(token);
      expect(error, token.slice(0, 20)).toBeInstanceOf(InvalidTokenError);
    }
  });
});
