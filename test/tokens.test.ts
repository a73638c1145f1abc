import { env } from 'cloudflare:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  BASE,
  OTHER_PASSWORD,
  PASSWORD,
  api,
  auditRows,
  createRole,
  createUser,
  expectDetail,
  expectError,
  freshIp,
  login,
  seedApp,
  verifyLikeAClient,
} from './helpers';

async function appWithJane() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', display_name: 'Editor', permissions: ['projects:read', 'projects:write', 'comments:read'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, roles: ['editor', 'admin'] });
  return { app, user };
}

describe('the password grant', () => {
  it('answers the reference example, and the JWT verifies as a client would verify it', async () => {
    const { app, user } = await appWithJane();
    const res = await api('POST', `/v1/apps/${app.name}/tokens`, {
      key: null,
      body: { grant_type: 'password', email: 'jane@acme.co', password: PASSWORD },
      headers: { 'CF-Connecting-IP': freshIp() },
    });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['access_token', 'token_type', 'expires_in', 'refresh_token']);
    expect(res.body.token_type).toBe('Bearer');
    expect(res.body.expires_in).toBe(3600);
    expect(res.body.refresh_token).toMatch(/^rt_[0-9A-Z]{52}$/);
    expect(res.body.access_token).toMatch(/^eyJhbGciOiJSUzI1NiIs/);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(res.headers.get('Pragma')).toBe('no-cache');

    const { payload, protectedHeader } = await verifyLikeAClient(res.body.access_token, app.name);
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(typeof protectedHeader.kid).toBe('string');
    expect(Object.keys(payload).sort()).toEqual(['app', 'app_id', 'aud', 'exp', 'iat', 'iss', 'jti', 'permissions', 'roles', 'sub', 'app_epoch', 'sub_epoch'].sort());
    expect(payload).toMatchObject({ iss: BASE, sub: user.id, aud: app.name, app_id: app.id, app: app.name, roles: ['admin', 'editor'], app_epoch: 0, sub_epoch: 0 });
    // Effective permissions: the union of both roles, each once.
    expect(payload.permissions).toEqual(['*', 'projects:read', 'projects:write', 'comments:read']);
    expect(payload.exp! - payload.iat!).toBe(3600);

    const [issued] = await auditRows(app.id, 'token.issued');
    expect(issued).toMatchObject({ actor_id: user.id, target_type: 'token' });
    expect(JSON.parse(issued.metadata)).toMatchObject({ grant_type: 'password', subject: user.id, jti: payload.jti });
  });

  it('takes a form-encoded body and the OAuth `username` name, and ignores unknown parameters', async () => {
    const { app } = await appWithJane();
    const form = new URLSearchParams({ grant_type: 'password', username: 'JANE@acme.co ', password: PASSWORD, scope: 'openid' });
    const res = await api('POST', `/v1/apps/${app.name}/tokens`, {
      key: null,
      raw: form.toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': freshIp() },
    });
    expect(res.status, res.text).toBe(200);
    expect(decodeJwt(res.body.access_token).aud).toBe(app.name);
  });

  it('refuses repeated parameters, a missing or unsupported grant type, and other content types', async () => {
    const { app } = await appWithJane();
    const post = (raw: string, type = 'application/x-www-form-urlencoded') =>
      api('POST', `/v1/apps/${app.name}/tokens`, { key: null, raw, headers: { 'Content-Type': type } });
    expectDetail(await post('grant_type=password&grant_type=client_credentials'), 'grant_type', 'duplicate_field');
    expectDetail(await post('email=jane%40acme.co'), 'grant_type', 'required');
    expectDetail(await post('grant_type=authorization_code'), 'grant_type', 'unsupported_grant_type');
    expectDetail(await post('grant_type=password', 'text/plain'), 'Content-Type', 'unsupported_media_type');
    expectDetail(await post('{"grant_type":"password","grant_type":"x"}', 'application/json'), 'grant_type', 'duplicate_field');
    expectDetail(await post('grant_type=password&email=jane%40acme.co'), 'password', 'required');
  });

  it('answers a wrong password, an unknown email and a deactivated user identically', async () => {
    const { app, user } = await appWithJane();
    const other = await createUser(app.name, { email: 'gone@acme.co', password: PASSWORD });
    await api('DELETE', `/v1/apps/${app.name}/users/${other.id}`);
    const noPassword = await createUser(app.name, { email: 'invited@acme.co' });
    const answers = [
      await login(app.name, 'jane@acme.co', 'wrong password!'),
      await login(app.name, 'nobody@acme.co', PASSWORD),
      await login(app.name, 'gone@acme.co', PASSWORD),
      await login(app.name, noPassword.email, PASSWORD),
    ];
    for (const res of answers) {
      expectError(res, 401, 'INVALID_CREDENTIALS');
      expect(res.headers.get('Cache-Control')).toBe('no-store');
    }
    expect(new Set(answers.map((r) => r.text)).size).toBe(1);

    const failures = await auditRows(app.id, 'auth.failed');
    expect(failures).toHaveLength(4);
    expect(failures[0]).toMatchObject({ actor_id: null, target_type: 'user', target_id: user.id });
    expect(failures[1]).toMatchObject({ actor_id: null, target_id: null });
    expect(JSON.parse(failures[1].metadata)).toMatchObject({ email: 'nobody@acme.co', reason: 'invalid_credentials' });
    for (const f of failures) expect(f.metadata).not.toMatch(/wrong password|correct horse/);
  });

  it('answers 404 for an unknown app and 409 APP_ARCHIVED for an archived one', async () => {
    const { app } = await appWithJane();
    expectError(await login('no-such-app', 'jane@acme.co', PASSWORD), 404, 'NOT_FOUND');
    await api('DELETE', `/v1/apps/${app.name}`);
    expectError(await login(app.name, 'jane@acme.co', PASSWORD), 409, 'APP_ARCHIVED');
  });

  it('upgrades a hash made with older parameters on a successful login', async () => {
    const { app, user } = await appWithJane();
    // A hash of the same password at weaker parameters, as an older release would have stored it.
    const { argon2id } = await import('@noble/hashes/argon2.js');
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const weak = argon2id(new TextEncoder().encode(PASSWORD), salt, { m: 8192, t: 1, p: 1, dkLen: 32 });
    const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/=+$/, '');
    await env.DB.prepare('UPDATE users SET password_hash = ? WHERE id = ?').bind(`$argon2id$v=19$m=8192,t=1,p=1$${b64(salt)}$${b64(weak)}`, user.id).run();
    expect((await login(app.name, 'jane@acme.co', PASSWORD)).status).toBe(200);
    const stored = await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(user.id).first<string>('h');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect((await login(app.name, 'jane@acme.co', PASSWORD)).status).toBe(200);
  });
});

describe('failed-login throttling', () => {
  it('answers the sixth failure in a row with 429 and Retry-After; another email is unaffected', async () => {
    const { app } = await appWithJane();
    await createUser(app.name, { email: 'bob@acme.co', password: PASSWORD });
    for (let i = 0; i < 5; i++) expectError(await login(app.name, 'jane@acme.co', `wrong-${i}-password`), 401, 'INVALID_CREDENTIALS');
    const locked = await login(app.name, 'jane@acme.co', PASSWORD);
    expectError(locked, 429, 'RATE_LIMITED');
    const retryAfter = Number(locked.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect((await login(app.name, 'bob@acme.co', PASSWORD)).status).toBe(200);
    const [last] = (await auditRows(app.id, 'auth.failed')).slice(-1);
    expect(JSON.parse(last.metadata).locked_until).toMatch(/Z$/);
  });

  it('counts an unknown email like a known one, whatever IP the guesses come from', async () => {
    const { app } = await appWithJane();
    for (let i = 0; i < 5; i++) expectError(await login(app.name, 'ghost@acme.co', `guess-${i}-password`, freshIp()), 401, 'INVALID_CREDENTIALS');
    expectError(await login(app.name, 'ghost@acme.co', 'guess-6-password', freshIp()), 429, 'RATE_LIMITED');
  });

  it('lets a burst of parallel guesses check at most the allowance against the hash', async () => {
    const { app } = await appWithJane();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => login(app.name, 'jane@acme.co', `burst-${i}-password`, freshIp())));
    const checked = results.filter((r) => r.status === 401);
    expect(checked.length).toBeLessThanOrEqual(5);
    expect(results.filter((r) => r.status === 429).length).toBe(12 - checked.length);
    expect(await auditRows(app.id, 'auth.failed')).toHaveLength(checked.length);
  });

  it('a success resets the count', async () => {
    const { app } = await appWithJane();
    for (let i = 0; i < 4; i++) await login(app.name, 'jane@acme.co', `wrong-${i}-password`);
    expect((await login(app.name, 'jane@acme.co', PASSWORD)).status).toBe(200);
    for (let i = 0; i < 4; i++) expectError(await login(app.name, 'jane@acme.co', `again-${i}-password`), 401, 'INVALID_CREDENTIALS');
  });
});

describe('refresh tokens', () => {
  it('rotate on every refresh: a new pair each time, audited, with the user\'s current roles', async () => {
    const { app, user } = await appWithJane();
    const first = (await login(app.name, 'jane@acme.co', PASSWORD)).body;
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/admin`);
    const res = await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: first.refresh_token } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.refresh_token).not.toBe(first.refresh_token);
    expect(res.body.refresh_token.slice(0, 29)).toBe(first.refresh_token.slice(0, 29)); // same family
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    const claims = decodeJwt(res.body.access_token);
    expect(claims.roles).toEqual(['editor']);
    expect(claims.permissions).toEqual(['projects:read', 'projects:write', 'comments:read']);

    const viaGrant = await api('POST', `/v1/apps/${app.name}/tokens`, { key: null, body: { grant_type: 'refresh_token', refresh_token: res.body.refresh_token } });
    expect(viaGrant.status).toBe(200);
    const refreshed = await auditRows(app.id, 'token.refreshed');
    expect(refreshed).toHaveLength(2);
    expect(refreshed[0]).toMatchObject({ actor_id: user.id, target_type: 'token' });
  });

  it('a rotated refresh token, presented again, revokes its family (the newest token too) and is audited', async () => {
    const { app } = await appWithJane();
    const r1 = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    const r2 = (await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: r1 } })).body.refresh_token;
    const r3 = (await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: r2 } })).body.refresh_token;
    expect(r3).toMatch(/^rt_/);
    const replay = await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: r1 } });
    expectError(replay, 401, 'INVALID_TOKEN');
    expectError(await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: r3 } }), 401, 'INVALID_TOKEN');
    const detected = await auditRows(app.id, 'token.reuse_detected');
    expect(detected).toHaveLength(1);
    expect(JSON.parse(detected[0].metadata)).toMatchObject({ family_revoked: true });
  });

  it('gives exactly one winner when the same token is refreshed concurrently', async () => {
    const { app } = await appWithJane();
    const r1 = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: r1 } })),
    );
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 200)) expectError(loser, 401, 'INVALID_TOKEN');
    // Never two live children. A loser that arrived while the winner held the
    // token just loses; one that arrived after the rotation is reuse, which
    // revokes the family, the winner's new token included (RFC 9700 §4.14.2).
    const next = await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: winners[0]!.body.refresh_token } });
    const reuse = await auditRows(app.id, 'token.reuse_detected');
    if (reuse.length === 0) expect(next.status).toBe(200);
    else {
      expect(reuse).toHaveLength(1);
      expectError(next, 401, 'INVALID_TOKEN');
    }
  });

  it('dies with deactivation, a password change and an app archive', async () => {
    const { app, user } = await appWithJane();
    const refresh = (rt: string) => api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } });

    let rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { password: OTHER_PASSWORD } });
    expectError(await refresh(rt), 401, 'INVALID_TOKEN');

    rt = (await login(app.name, 'jane@acme.co', OTHER_PASSWORD)).body.refresh_token;
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } });
    expectError(await refresh(rt), 401, 'INVALID_TOKEN');

    rt = (await login(app.name, 'jane@acme.co', OTHER_PASSWORD)).body.refresh_token;
    await api('DELETE', `/v1/apps/${app.name}`);
    await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } });
    expectError(await refresh(rt), 401, 'INVALID_TOKEN');
  });

  it('refuses malformed, unknown and other-app tokens without touching the real family', async () => {
    const { app } = await appWithJane();
    const other = await seedApp();
    const rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    const flipped = rt.slice(0, -1) + (rt.endsWith('0') ? '1' : '0');
    for (const token of ['', 'x'.repeat(600), 'rt_notreal', "rt_' OR 1=1--", flipped]) {
      const res = await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: token } });
      expect([400, 401]).toContain(res.status);
    }
    // The same family id presented to another app: refused there, and the family lives on here.
    expectError(await api('POST', `/v1/apps/${other.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } }), 401, 'INVALID_TOKEN');
    expect((await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } })).status).toBe(200);
  });

  it('expire after 14 idle days and 30 days in all, even when used', async () => {
    const { app } = await appWithJane();
    const { vi } = await import('vitest');
    const refresh = (rt: string) => api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } });
    const start = Date.now();
    try {
      vi.useFakeTimers({ toFake: ['Date'], now: start });
      let rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
      vi.setSystemTime(start + 14 * 86_400_000 + 1000);
      expectError(await refresh(rt), 401, 'INVALID_TOKEN');

      vi.setSystemTime(start);
      rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
      for (let day = 10; day < 30; day += 10) {
        vi.setSystemTime(start + day * 86_400_000);
        const res = await refresh(rt);
        expect(res.status, `day ${day}`).toBe(200);
        rt = res.body.refresh_token;
      }
      vi.setSystemTime(start + 30 * 86_400_000 + 1000);
      expectError(await refresh(rt), 401, 'INVALID_TOKEN');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('revocation (RFC 7009)', () => {
  it('answers 200 for known and unknown tokens alike, and a revoked token cannot refresh', async () => {
    const { app, user } = await appWithJane();
    const rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    const answers = [
      await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, body: { refresh_token: rt } }),
      await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, body: { refresh_token: rt } }),
      await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, body: { refresh_token: 'rt_unknown' } }),
      await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, raw: 'token=garbage&token_type_hint=whatever', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    }
    expectError(await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } }), 401, 'INVALID_TOKEN');
    const revoked = await auditRows(app.id, 'token.revoked');
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({ actor_id: user.id, target_type: 'token' });
  });

  it('requires a token, and still answers on an archived app', async () => {
    const { app } = await appWithJane();
    expectDetail(await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, body: {} }), 'refresh_token', 'required');
    const rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    await api('DELETE', `/v1/apps/${app.name}`);
    expect((await api('POST', `/v1/apps/${app.name}/tokens/revoke`, { key: null, body: { refresh_token: rt } })).status).toBe(200);
  });

  it('cannot revoke another app\'s family through this app', async () => {
    const { app } = await appWithJane();
    const other = await seedApp();
    const rt = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    expect((await api('POST', `/v1/apps/${other.name}/tokens/revoke`, { key: null, body: { refresh_token: rt } })).status).toBe(200);
    expect((await api('POST', `/v1/apps/${app.name}/tokens/refresh`, { key: null, body: { refresh_token: rt } })).status).toBe(200);
  });
});

describe('access tokens', () => {
  it('carry a kid the JWKS publishes, with public members only', async () => {
    const { app } = await appWithJane();
    const { access_token } = (await login(app.name, 'jane@acme.co', PASSWORD)).body;
    const jwks = await api('GET', '/v1/.well-known/jwks.json', { key: null });
    expect(jwks.status).toBe(200);
    const kid = decodeProtectedHeader(access_token).kid;
    const key = jwks.body.keys.find((k: { kid: string }) => k.kid === kid);
    expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
  });
});
