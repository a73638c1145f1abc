import { env } from 'cloudflare:test';
import { SignJWT, base64url, decodeJwt, decodeProtectedHeader, exportJWK, exportSPKI, generateKeyPair, type JWTPayload } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { unsealSigningKey } from '../src/auth/signing-keys';
import {
  BASE,
  ROOT_KEY,
  api,
  authorizeCall,
  createRole,
  createUser,
  eventually,
  expectCleanResponses,
  expectDetail,
  expectError,
  login,
  seedApp,
} from './helpers';

const PASSWORD = 'correct horse battery staple';

afterAll(() => expectCleanResponses([PASSWORD]));

async function setup() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read', 'projects:write', 'comments:*'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  const tokens = (await login(app.name, 'jane@acme.co', PASSWORD)).body;
  return { app, user, token: tokens.access_token as string, refresh: tokens.refresh_token as string };
}

/**
 * Signs with Heimdall's own active key, byte for byte (so headers jose would
 * refuse to produce, like an unknown `crit`, can be made): for claims and
 * headers that a valid signature must not rescue.
 */
async function forge(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const row = await env.DB.prepare("SELECT kid, private_jwk_sealed AS sealed FROM signing_keys WHERE status = 'active'").first<{ kid: string; sealed: string }>();
  const key = await unsealSigningKey(row!.sealed, row!.kid, env.HEIMDALL_KEY_ENCRYPTION_KEY);
  const input = rawToken({ alg: 'RS256', kid: row!.kid, typ: 'at+jwt', ...header }, claims).slice(0, -1);
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

function rawToken(header: object, payload: object, signature = ''): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

describe('authorize', () => {
  it('allows a permission the user holds, with the current state of the subject', async () => {
    const { app, user, token } = await setup();
    const res = await authorizeCall({ token, permission: 'projects:write' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      app: app.name,
      app_id: app.id,
      subject: user.id,
      subject_type: 'user',
      roles: ['editor'],
      permissions: ['projects:read', 'projects:write', 'comments:*'],
      expires_at: new Date(decodeJwt(token).exp! * 1000).toISOString().replace('.000Z', 'Z'),
    });
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it('denies a permission the user lacks, honours wildcards, and checks every permission of a list', async () => {
    const { token } = await setup();
    const denied = await authorizeCall({ token, permission: 'billing:read' });
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ allowed: false, reason: 'permission_denied' });
    expect(Object.keys(denied.body).slice(0, 2)).toEqual(['allowed', 'reason']);
    expect((await authorizeCall({ token, permission: 'comments:delete' })).body.allowed).toBe(true);
    expect((await authorizeCall({ token, permission: 'projects:readme' })).body.allowed).toBe(false);
    expect((await authorizeCall({ token, permissions: ['projects:read', 'comments:write'] })).body.allowed).toBe(true);
    expect((await authorizeCall({ token, permissions: ['projects:read', 'billing:read'] })).body).toMatchObject({ allowed: false, reason: 'permission_denied' });
  });

  it('answers app_mismatch when the token belongs to another app than the caller expects', async () => {
    const { token } = await setup();
    const other = await seedApp();
    expect((await authorizeCall({ token, permission: 'projects:read', app: other.name })).body).toMatchObject({ allowed: false, reason: 'app_mismatch' });
  });

  it('validates its body: exactly one of permission or permissions, each in the grammar', async () => {
    const { token } = await setup();
    expectDetail(await authorizeCall({ token }), 'permission', 'required');
    expectDetail(await authorizeCall({ token, permission: 'a:b', permissions: ['a:b'] }), 'permission', 'required');
    expectDetail(await authorizeCall({ token, permission: 'PROJECTS:READ' }), 'permission', 'invalid_format');
    expectDetail(await authorizeCall({ permission: 'a:b' }), 'token', 'required');
  });

  it('accepts any valid admin key but refuses an invalid one', async () => {
    const { token } = await setup();
    expect((await authorizeCall({ token, permission: 'projects:read' }, ROOT_KEY)).status).toBe(200);
    expectError(await authorizeCall({ token, permission: 'projects:read' }, 'not-a-key'), 401, 'UNAUTHORIZED');
  });
});

describe('authorize refuses tokens that must not verify, all with the same 401', () => {
  it('refuses every forged, tampered, foreign or mistyped token', async () => {
    const { app, user, token, refresh } = await setup();
    const other = await seedApp();
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    const [h, p, s] = token.split('.');
    const now = Math.floor(Date.now() / 1000);
    const attacker = await generateKeyPair('RS256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const jwks = (await api('GET', '/v1/.well-known/jwks.json', { key: null })).body;
    const publicJwk = jwks.keys.find((k: { kid: string }) => k.kid === header.kid);
    const { importJWK } = await import('jose');
    const realPublic = (await importJWK(publicJwk, 'RS256')) as CryptoKey;
    const pem = await exportSPKI(realPublic);
    const der = new Uint8Array((await crypto.subtle.exportKey("spki", realPublic)) as ArrayBuffer);
    const hs256 = (secret: Uint8Array) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: header.kid!, typ: 'at+jwt' }).sign(secret);
    const enc = new TextEncoder();

    const cases: Record<string, string> = {
      'alg none': rawToken({ alg: 'none', typ: 'at+jwt', kid: header.kid }, claims),
      'alg None': rawToken({ alg: 'None', typ: 'at+jwt', kid: header.kid }, claims),
      'alg NONE with the original signature': rawToken({ alg: 'NONE', typ: 'at+jwt', kid: header.kid }, claims, s),
      'alg nOnE, no trailing dot': rawToken({ alg: 'nOnE', typ: 'at+jwt', kid: header.kid }, claims).slice(0, -1),
      'HS256 keyed with the PEM public key': await hs256(enc.encode(pem)),
      'HS256 keyed with the PEM public key and a leading newline': await hs256(enc.encode(`\n${pem}`)),
      'HS256 keyed with the DER public key': await hs256(der),
      'HS256 keyed with the JWKS JSON': await hs256(enc.encode(JSON.stringify(publicJwk))),
      'HS256 keyed with the raw modulus': await hs256(base64url.decode(publicJwk.n)),
      'unknown kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'unknown-kid', typ: 'at+jwt' }).sign(attacker.privateKey),
      'kid path traversal': await forge(claims, { kid: '../../etc/passwd' }),
      'kid SQL': await forge(claims, { kid: "' OR '1'='1" }),
      'kid 10 KB': await forge(claims, { kid: 'k'.repeat(10_000) }),
      'kid a number': await forge(claims, { kid: 7 }),
      'kid null': await forge(claims, { kid: null }),
      'embedded jwk with the real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: header.kid!, typ: 'at+jwt', jwk: attackerJwk }).sign(attacker.privateKey),
      'jku pointing elsewhere': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt', jku: 'https://evil.example/jwks.json' }).sign(attacker.privateKey),
      'x5u pointing elsewhere': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt', x5u: 'https://evil.example/cert.pem' }).sign(attacker.privateKey),
      'RS512 under the real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'RS512', kid: header.kid!, typ: 'at+jwt' }).sign((await generateKeyPair('RS512')).privateKey),
      'PS256 under the real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'PS256', kid: header.kid!, typ: 'at+jwt' }).sign((await generateKeyPair('PS256')).privateKey),
      'another issuer\'s RS256 token': await new SignJWT({ ...claims, iss: 'https://evil.example' }).setProtectedHeader({ alg: 'RS256', kid: 'evil', typ: 'at+jwt' }).sign(attacker.privateKey),
      'tampered sub': `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'usr_01M8GCYKQVBFWM07Q9RW99N439' }))}.${s}`,
      'tampered permissions': `${h}.${base64url.encode(JSON.stringify({ ...claims, permissions: ['*'] }))}.${s}`,
      'tampered app': `${h}.${base64url.encode(JSON.stringify({ ...claims, app: other.name, aud: other.name, app_id: other.id }))}.${s}`,
      'unknown crit': await forge(claims, { crit: ['x-heimdall'], 'x-heimdall': 1 }),
      'typ JWT': await forge(claims, { typ: 'JWT' }),
      'no typ': await forge(claims, { typ: undefined }),
      'wrong iss': await forge({ ...claims, iss: 'https://evil.example' }),
      'iss with a trailing slash': await forge({ ...claims, iss: `${BASE}/` }),
      'no iss': await forge({ ...claims, iss: undefined }),
      'aud of another app': await forge({ ...claims, aud: other.name }),
      'generic aud': await forge({ ...claims, aud: 'heimdall' }),
      'no aud': await forge({ ...claims, aud: undefined }),
      'expired': await forge({ ...claims, iat: now - 7200, exp: now - 3600 }),
      'exp now': await forge({ ...claims, exp: now }),
      'no exp': await forge({ ...claims, exp: undefined }),
      'nbf in five minutes': await forge({ ...claims, nbf: now + 300 }),
      'iat far in the future': await forge({ ...claims, iat: now + 3600, exp: now + 7200 }),
      'sub of another app\'s user': await forge({ ...claims, app_id: other.id, app: other.name, aud: other.name }),
      'service-looking sub that is no credential': await forge({ ...claims, sub: 'cred_01M8GCYKQVBFWM07Q9RW99N439' }),
      'a refresh token': refresh,
      'an invite-shaped token': 'inv_tok_01M8GCYKQVBFWM07Q9RW99N439ABCDEFGHJKMNPQRSTV',
      'JWE-shaped': `${h}.${p}.${s}.x.y`,
      'padded base64url': `${h}=.${p}.${s}`,
      'not a JWT': 'hello',
    };
    const bodies = new Set<string>();
    for (const [name, candidate] of Object.entries(cases)) {
      const res = await authorizeCall({ token: candidate, permission: 'projects:read' });
      expect(res.status, `${name}: ${res.text}`).toBe(401);
      expect(res.body.error.code, name).toBe('INVALID_TOKEN');
      bodies.add(res.text);
    }
    expect(bodies.size).toBe(1);
    // The real token still works, and its claims were never changed.
    expect((await authorizeCall({ token, permission: 'projects:read' })).body.subject).toBe(user.id);
    expect(app.id).toBe(claims.app_id);
  });
});

describe('authorize is authoritative within five seconds', () => {
  it('refuses a deactivated user\'s token', async () => {
    const { app, user, token } = await setup();
    expect((await authorizeCall({ token, permission: 'projects:read' })).status).toBe(200);
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    await eventually(async () => (await authorizeCall({ token, permission: 'projects:read' })).status === 401);
    // Reactivation does not revive tokens issued before the deactivation.
    await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } });
    await new Promise((r) => setTimeout(r, 1200));
    expectError(await authorizeCall({ token, permission: 'projects:read' }), 401, 'INVALID_TOKEN');
  });

  it('reflects a removed role and a changed role', async () => {
    const { app, user, token } = await setup();
    await api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { permissions: ['projects:read'] } });
    await eventually(async () => (await authorizeCall({ token, permission: 'projects:write' })).body.allowed === false);
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/editor`);
    await eventually(async () => {
      const res = await authorizeCall({ token, permission: 'projects:read' });
      return res.body.allowed === false && res.body.roles.length === 0;
    });
  });

  it('refuses every token of an archived app, also after a restore', async () => {
    const { app, token } = await setup();
    await api('DELETE', `/v1/apps/${app.name}`);
    await eventually(async () => (await authorizeCall({ token, permission: 'projects:read' })).status === 401);
    await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } });
    await new Promise((r) => setTimeout(r, 1200));
    expectError(await authorizeCall({ token, permission: 'projects:read' }), 401, 'INVALID_TOKEN');
  });

  it('refuses tokens issued before a password change', async () => {
    const { app, user, token } = await setup();
    await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { password: 'another long passphrase' } });
    await eventually(async () => (await authorizeCall({ token, permission: 'projects:read' })).status === 401);
  });
});
