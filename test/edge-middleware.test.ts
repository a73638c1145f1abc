/**
 * The edge SDK (`heimdall/middleware`) against the real Worker in workerd:
 * a customer's Hono app protected by `heimdallAuth` and `requirePermission`,
 * fetching Heimdall's JWKS and revocation feed from the Worker.
 */
import { Hono } from 'hono';
import { jwk } from 'hono/jwk';
import { base64url, decodeJwt } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { createHeimdallVerifier, verifyHeimdallToken, HeimdallTokenError } from '../src/client';
import { heimdallAuth, requirePermission, type HeimdallVariables } from '../src/client/hono';
import { BASE, PASSWORD, api, createRole, createUser, eventually, login, seedApp, workerFetch } from './helpers';

const viaWorker = ((input: RequestInfo | URL, init?: RequestInit) => workerFetch(input as string, init)) as typeof fetch;

async function setup() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:*'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  const token = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token as string;
  return { app, user, token };
}

/** A customer's service: one route open to any verified token, one that needs projects:write, one billing:read. */
function customerService(appName: string, options: { intervalMs?: number; jwksCooldownMs?: number } = {}) {
  const service = new Hono<{ Variables: HeimdallVariables }>();
  service.use(
    '/api/*',
    heimdallAuth({
      issuer: BASE,
      app: appName,
      fetch: viaWorker,
      jwksCooldownMs: options.jwksCooldownMs ?? 30_000,
      revocations: { intervalMs: options.intervalMs ?? 1_000 },
    }),
  );
  service.get('/api/me', (c) => c.json({ sub: c.get('heimdall').sub, permissions: c.get('heimdall').permissions }));
  service.post('/api/projects', requirePermission('projects:write'), (c) => c.json({ ok: true }));
  service.get('/api/billing', requirePermission('billing:read'), (c) => c.json({ ok: true }));
  const call = async (method: string, path: string, token?: string) => {
    const res = await service.request(path, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };
  return call;
}

describe('heimdallAuth and requirePermission', () => {
  it('let a valid token through with its claims, and enforce permissions with wildcards', async () => {
    const { app, user, token } = await setup();
    const call = customerService(app.name);
    const me = await call('GET', '/api/me', token);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ sub: user.id, permissions: ['projects:*'] });
    expect((await call('POST', '/api/projects', token)).status).toBe(200);
    const denied = await call('GET', '/api/billing', token);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ error: { code: 'FORBIDDEN', message: 'missing permission' } });
  });

  it('refuse missing, tampered, other-app and expired tokens with 401', async () => {
    const { app, token } = await setup();
    const other = await setup();
    const call = customerService(app.name);
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${base64url.encode(JSON.stringify({ ...decodeJwt(token), permissions: ['*'] }))}.${s}`;
    for (const bad of [undefined, 'garbage', tampered, other.token, `${h}.${p}.`]) {
      const res = await call('GET', '/api/me', bad);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_TOKEN');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token"');
    }
    try {
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3601_000 });
      expect((await call('GET', '/api/me', token)).status).toBe(401);
      await expect(createHeimdallVerifier({ issuer: BASE, app: app.name, fetch: viaWorker, revocations: false }).verify(token)).rejects.toMatchObject({ code: 'expired' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('pick up a rotated signing key by refetching the JWKS on an unknown kid', async () => {
    const { app, token } = await setup();
    const call = customerService(app.name, { jwksCooldownMs: 0 });
    expect((await call('GET', '/api/me', token)).status).toBe(200);
    // Two rotations: the key that signs next did not exist when the service cached the JWKS.
    await api('POST', '/v1/signing-keys/rotate');
    await api('POST', '/v1/signing-keys/rotate');
    const fresh = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token;
    expect((await call('GET', '/api/me', fresh)).status).toBe(200);
    expect((await call('GET', '/api/me', token)).status).toBe(200);
  });

  it('refuse a deactivated user\'s token within the feed interval, without calling Heimdall per request', async () => {
    const { app, user, token } = await setup();
    const call = customerService(app.name, { intervalMs: 1_000 });
    expect((await call('GET', '/api/me', token)).status).toBe(200);
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    const took = await eventually(async () => (await call('GET', '/api/me', token)).status === 401, 5_000, 50);
    // Feed interval (1 s) + the feed's own caches (1 s each at most) + one fetch.
    expect(took).toBeLessThan(3_500);
  });

  it('validate their options when built', () => {
    expect(() => heimdallAuth({ issuer: 'not a url', app: 'acme' })).toThrow(TypeError);
    expect(() => heimdallAuth({ issuer: BASE, app: 'Acme Corp' })).toThrow(TypeError);
    expect(() => heimdallAuth({ issuer: BASE, app: 'acme-corp', clockToleranceSeconds: 300 })).toThrow(TypeError);
    expect(() => requirePermission()).toThrow(TypeError);
    expect(() => requirePermission('PROJECTS')).toThrow(TypeError);
  });
});

describe('verifyHeimdallToken', () => {
  it('verifies in any runtime with a cached verifier, and refuses with a typed error', async () => {
    const { app, user, token } = await setup();
    const options = { issuer: BASE, app: app.name, fetch: viaWorker, revocations: false as const };
    expect((await verifyHeimdallToken(token, options)).sub).toBe(user.id);
    const err = await verifyHeimdallToken('x.y.z', options).catch((e) => e);
    expect(err).toBeInstanceOf(HeimdallTokenError);
    expect(err.code).toBe('invalid_token');
  });
});

describe('the revocation feed', () => {
  it('lists cut-off subjects with not_before, cacheably, with an ETag and 304s', async () => {
    const { app, user } = await setup();
    const empty = await api('GET', `/v1/apps/${app.name}/revocations`, { key: null });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ app: app.name, app_id: app.id, app_not_before: null, app_epoch: 0, window_seconds: 3600, revocations: [] });
    expect(empty.headers.get('Cache-Control')).toBe('public, max-age=1');
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    await new Promise((r) => setTimeout(r, 1_100));
    const res = await api('GET', `/v1/apps/${app.name}/revocations`, { key: null });
    expect(res.body.revocations).toEqual([{ type: 'user', id: user.id, not_before: expect.any(Number), epoch: 1 }]);
    expect(Math.abs(res.body.revocations[0].not_before - Date.now() / 1000)).toBeLessThan(10);
    const etag = res.headers.get('ETag')!;
    expect((await api('GET', `/v1/apps/${app.name}/revocations`, { key: null, headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await api('GET', '/v1/apps/no-such-app/revocations', { key: null })).status).toBe(404);
  });
});

describe('the ecosystem\'s stock verifier', () => {
  it('hono/jwk, given our JWKS, pinned to RS256 and told the RFC 9068 type, accepts our tokens', async () => {
    const { app, token } = await setup();
    const service = new Hono<{ Variables: { jwtPayload: { sub: string } } }>();
    service.use(
      '/api/*',
      jwk({
        alg: ['RS256'],
        keys: async () => ((await (await workerFetch(`${BASE}/v1/.well-known/jwks.json`)).json()) as { keys: any[] }).keys,
        // Hono expects typ "JWT" unless told otherwise; ours are RFC 9068 access tokens.
        verification: { iss: BASE, aud: app.name, typ: 'at+jwt' },
      }),
    );
    service.get('/api/ok', (c) => c.json({ sub: c.get('jwtPayload').sub }));
    const ok = await service.request('/api/ok', { headers: { Authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ sub: decodeJwt(token).sub });
    const forged = await service.request('/api/ok', { headers: { Authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    expect(forged.status).toBe(401);
  });
});
