import { createScheduledController, env } from 'cloudflare:test';
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import worker from '../src/index';
import {
  PASSWORD,
  api,
  auditRows,
  authorizeCall,
  createAdminKey,
  createUser,
  expectError,
  login,
  seedApp,
  verifyLikeAClient,
} from './helpers';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'private_jwk_sealed', 'privateJwkSealed'];

async function userToken() {
  const app = await seedApp();
  await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'admin' });
  const res = await login(app.name, 'jane@acme.co', PASSWORD);
  expect(res.status).toBe(200);
  return { app, token: res.body.access_token as string };
}

function kidOf(token: string): string {
  return decodeProtectedHeader(token).kid!;
}

async function runCron(): Promise<void> {
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '17 * * * *' }), env);
}

describe('the JWKS', () => {
  it('publishes public members only, cacheably, to any origin, with an ETag', async () => {
    await userToken();
    const res = await api('GET', '/v1/.well-known/jwks.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('public, max-age=300, stale-while-revalidate=60');
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect(res.headers.get('Content-Type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('X-RateLimit-Limit')).toBeNull();
    const kids = new Set<string>();
    for (const key of res.body.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
      expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
      // 2048-bit modulus: 256 bytes, 342 base64url characters.
      expect(key.n.length).toBeGreaterThanOrEqual(342);
      kids.add(key.kid);
    }
    expect(kids.size).toBe(res.body.keys.length);
    // The next key is published before it signs anything.
    expect(res.body.keys).toHaveLength(2);

    const etag = res.headers.get('ETag')!;
    const again = await api('GET', '/v1/.well-known/jwks.json', { key: null, headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
  });

  it('is never stored with private members in any answer', async () => {
    const list = await api('GET', '/v1/signing-keys');
    for (const key of list.body.data) for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
  });
});

describe('key rotation', () => {
  it('promotes the published next key; old tokens still verify locally and at authorize', async () => {
    const { app, token: before } = await userToken();
    const listed = await api('GET', '/v1/signing-keys');
    expect(listed.status).toBe(200);
    const active = listed.body.data.find((k: { status: string }) => k.status === 'active');
    const next = listed.body.data.find((k: { status: string }) => k.status === 'next');
    expect(kidOf(before)).toBe(active.kid);

    const rotated = await api('POST', '/v1/signing-keys/rotate');
    expect(rotated.status).toBe(200);
    const statuses = Object.fromEntries(rotated.body.data.map((k: { kid: string; status: string }) => [k.kid, k.status]));
    expect(statuses[active.kid]).toBe('retired');
    expect(statuses[next.kid]).toBe('active');
    expect(Object.values(statuses).filter((s) => s === 'next')).toHaveLength(1);
    const retired = rotated.body.data.find((k: { kid: string }) => k.kid === active.kid);
    expect(Date.parse(retired.expires_at) - Date.parse(retired.retired_at)).toBeGreaterThanOrEqual(3600_000);

    const jwks = (await api('GET', '/v1/.well-known/jwks.json', { key: null })).body.keys.map((k: { kid: string }) => k.kid);
    expect(jwks).toEqual(expect.arrayContaining([active.kid, next.kid]));

    const after = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token;
    expect(kidOf(after)).toBe(next.kid);
    for (const token of [before, after]) {
      await verifyLikeAClient(token, app.name);
      expect((await authorizeCall({ token, permission: 'projects:read' })).body.allowed).toBe(true);
    }

    const [entry] = await auditRows(null, 'signing_key.rotated');
    expect(entry).toMatchObject({ actor_id: 'root', target_type: 'signing_key', target_id: next.kid });
  });

  it('is for the root key only', async () => {
    const key = await createAdminKey();
    expectError(await api('POST', '/v1/signing-keys/rotate', { key: key.key }), 403, 'FORBIDDEN');
    expectError(await api('GET', '/v1/signing-keys', { key: key.key }), 403, 'FORBIDDEN');
    expectError(await api('POST', '/v1/signing-keys/rotate', { key: null }), 401, 'UNAUTHORIZED');
  });
});

describe('the scheduled job', () => {
  it('rotates a key that reached its age, and drops retired keys once their tokens have expired', async () => {
    const { app, token } = await userToken();
    const start = Date.now();
    const kidBefore = kidOf(token);
    try {
      vi.useFakeTimers({ toFake: ['Date'], now: start });
      await runCron();
      // Not due yet: nothing changes.
      expect((await api('GET', '/v1/signing-keys')).body.data.find((k: { status: string }) => k.status === 'active').kid).toBe(kidBefore);

      vi.setSystemTime(start + 31 * 86_400_000);
      await runCron();
      const keys = (await api('GET', '/v1/signing-keys')).body.data;
      expect(keys.find((k: { kid: string }) => k.kid === kidBefore).status).toBe('retired');
      const scheduled = await auditRows(null, 'signing_key.rotated');
      expect(JSON.parse(scheduled.at(-1).metadata)).toMatchObject({ trigger: 'schedule', retired_kid: kidBefore });
      expect(scheduled.at(-1).actor_id).toBeNull();

      // Well after the retired key's tokens expired, it leaves the JWKS and the store.
      vi.setSystemTime(start + 32 * 86_400_000);
      await runCron();
      expect((await api('GET', '/v1/signing-keys')).body.data.map((k: { kid: string }) => k.kid)).not.toContain(kidBefore);
      const jwks = (await api('GET', '/v1/.well-known/jwks.json', { key: null })).body.keys.map((k: { kid: string }) => k.kid);
      expect(jwks).not.toContain(kidBefore);
      // A token signed with a removed key no longer verifies (it has expired anyway).
      expectError(await authorizeCall({ token, permission: 'projects:read' }), 401, 'INVALID_TOKEN');
    } finally {
      vi.useRealTimers();
    }
    // Once the clock is back, a login is signed by the key the schedule promoted.
    const fresh = await login(app.name, 'jane@acme.co', PASSWORD);
    expect(fresh.status, fresh.text).toBe(200);
    expect(kidOf(fresh.body.access_token)).not.toBe(kidBefore);
  });
});

describe('key material', () => {
  it('is stored sealed: no private JWK member in D1 in the clear', async () => {
    await userToken();
    const rows = await env.DB.prepare('SELECT public_jwk, private_jwk_sealed FROM signing_keys').all<{ public_jwk: string; private_jwk_sealed: string }>();
    for (const row of rows.results) {
      expect(JSON.parse(row.public_jwk)).not.toHaveProperty('d');
      expect(row.private_jwk_sealed).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(row.private_jwk_sealed).not.toContain('"d"');
    }
  });
});
