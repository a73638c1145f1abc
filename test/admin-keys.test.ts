import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  ISO_SECONDS,
  api,
  auditRows,
  createAdminKey,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
  seenBodies,
  sha256Hex,
  uniqueName,
} from './helpers';

const KEY_SHAPE = /^hk_[0-9A-HJKMNP-TV-Z]{36}$/;

async function storedKey(id: string): Promise<any> {
  return env.DB.prepare('SELECT * FROM admin_keys WHERE id = ?').bind(id).first();
}

async function globalAudit(targetId: string): Promise<any[]> {
  return (await auditRows(null)).filter((r) => r.target_id === targetId);
}

describe('creating an admin key', () => {
  it('answers 201 with the key this once, stores only its SHA-256 digest, and audits it in the global log', async () => {
    const app = await seedApp();
    const res = await api('POST', '/v1/admin-keys', { body: { name: 'CI deployer', apps: [app.name], read_only: true } });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'name', 'apps', 'read_only', 'status', 'created_at', 'revoked_at', 'key']);
    expect(res.body).toMatchObject({ name: 'CI deployer', apps: [app.name], read_only: true, status: 'active', revoked_at: null });
    expect(res.body.id).toMatch(idPattern('key_'));
    expect(res.body.key).toMatch(KEY_SHAPE);
    expect(res.body.created_at).toMatch(ISO_SECONDS);
    expect(res.headers.get('Cache-Control')).toBe('no-store');

    const row = await storedKey(res.body.id);
    expect(row.key_hash).toBe(await sha256Hex(res.body.key));
    expect(JSON.stringify(row)).not.toContain(res.body.key);

    const [entry, ...more] = await globalAudit(res.body.id);
    expect(more).toHaveLength(0);
    expect(entry).toMatchObject({ app_id: null, actor_id: 'root', action: 'admin_key.created', target_type: 'admin_key', target_id: res.body.id });
    expect(JSON.parse(entry.metadata)).toEqual({ name: 'CI deployer', apps: [app.name], read_only: true });
    expect(JSON.stringify(entry)).not.toContain(res.body.key);
    expect(JSON.stringify(entry)).not.toContain(row.key_hash);
  });

  it('defaults to every app and write access; null apps means every app too', async () => {
    const plain = await createAdminKey();
    expect(plain).toMatchObject({ apps: null, read_only: false, status: 'active' });
    const explicit = await createAdminKey({ apps: null });
    expect(explicit.apps).toBeNull();
    expect(plain.key).not.toBe(explicit.key);
  });

  it('de-duplicates the app list in order', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const key = await createAdminKey({ apps: [b.name, a.name, b.name] });
    expect(key.apps).toEqual([b.name, a.name]);
  });

  it('refuses apps that do not exist with unknown_app, naming each, and writes nothing', async () => {
    const app = await seedApp();
    const before = await env.DB.prepare('SELECT count(*) AS n FROM admin_keys').first('n');
    const res = await api('POST', '/v1/admin-keys', { body: { name: 'x', apps: [app.name, 'no-such-app', 'nor-this-one'] } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'apps.1', 'unknown_app');
    expectDetail(res, 'apps.2', 'unknown_app');
    expect(res.body.error.details).toHaveLength(2);
    expect(await env.DB.prepare('SELECT count(*) AS n FROM admin_keys').first('n')).toBe(before);
  });

  it.each([
    [{}, 'name', 'required'],
    [{ name: '' }, 'name', 'too_short'],
    [{ name: 'x'.repeat(201) }, 'name', 'too_long'],
    [{ name: 'evil\r\nname' }, 'name', 'invalid_characters'],
    [{ name: 'x', apps: [] }, 'apps', 'too_few'],
    [{ name: 'x', apps: 'acme-corp' }, 'apps', 'invalid_type'],
    [{ name: 'x', apps: ['Acme Corp'] }, 'apps.0', 'invalid_format'],
    [{ name: 'x', apps: ['../admin'] }, 'apps.0', 'invalid_format'],
    [{ name: 'x', read_only: 'yes' }, 'read_only', 'invalid_type'],
    [{ name: 'x', key: 'hk_chosen' }, 'key', 'unknown_field'],
    [{ name: 'x', key_hash: 'ab' }, 'key_hash', 'unknown_field'],
    [{ name: 'x', id: 'key_x' }, 'id', 'unknown_field'],
  ])('refuses %j with a 400 naming the field', async (body, field, reason) => {
    const res = await api('POST', '/v1/admin-keys', { body });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, reason);
  });

  it('gives a key that authenticates from the next request on', async () => {
    const created = await createAdminKey();
    const res = await api('GET', '/v1/apps', { key: created.key });
    expect(res.status).toBe(200);
  });
});

describe('listing and reading admin keys', () => {
  it('lists newest first with the reference pagination, and never shows a key or its hash', async () => {
    const created: any[] = [];
    for (let i = 0; i < 3; i++) created.push(await createAdminKey({ name: `list ${i}` }));
    const all = await api('GET', '/v1/admin-keys?limit=100');
    expect(all.status).toBe(200);
    const ids = all.body.data.map((k: { id: string }) => k.id);
    expect(ids.slice(0, 3)).toEqual(created.map((k) => k.id).reverse());
    expect(all.body.pagination).toMatchObject({ limit: 100, offset: 0, has_more: false });
    expect(all.body.pagination.total).toBe(all.body.data.length);
    for (const item of all.body.data) {
      expect(Object.keys(item)).toEqual(['id', 'name', 'apps', 'read_only', 'status', 'created_at', 'revoked_at']);
    }

    const page = await api('GET', '/v1/admin-keys?limit=2&offset=1');
    expect(page.body.data.map((k: { id: string }) => k.id)).toEqual(ids.slice(1, 3));
    expect(page.body.pagination).toEqual({ total: all.body.pagination.total, limit: 2, offset: 1, has_more: true });

    const one = await api('GET', `/v1/admin-keys/${created[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(all.body.data.find((k: { id: string }) => k.id === created[0].id));

    for (const k of created) {
      const hash = await sha256Hex(k.key);
      for (const text of [all.text, page.text, one.text]) {
        expect(text).not.toContain(k.key);
        expect(text).not.toContain(hash);
      }
    }
  });

  it('filters by status', async () => {
    const key = await createAdminKey();
    await api('DELETE', `/v1/admin-keys/${key.id}`);
    const revoked = await api('GET', '/v1/admin-keys?status=revoked&limit=100');
    expect(revoked.body.data.every((k: { status: string }) => k.status === 'revoked')).toBe(true);
    expect(revoked.body.data.map((k: { id: string }) => k.id)).toContain(key.id);
    const active = await api('GET', '/v1/admin-keys?status=active&limit=100');
    expect(active.body.data.map((k: { id: string }) => k.id)).not.toContain(key.id);
  });

  it.each(['limit=0', 'limit=101', 'offset=-1', 'status=deleted', 'key=x'])('refuses ?%s with a 400', async (q) => {
    const res = await api('GET', `/v1/admin-keys?${q}`);
    expectError(res, 400, 'VALIDATION_ERROR');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(q.split('=')[0]);
  });

  it('answers 404 for an unknown or malformed id', async () => {
    for (const id of ['key_01HQ3KXFG6AAAAAAAAAAAAAAAA', 'nope', 'app_01HQ3KXFG6AAAAAAAAAAAAAAAA']) {
      expectError(await api('GET', `/v1/admin-keys/${id}`), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/v1/admin-keys/${id}`), 404, 'NOT_FOUND');
    }
  });
});

describe('revoking an admin key', () => {
  it('answers 200 with status revoked, refuses the key with 401 from then on, and audits once', async () => {
    const key = await createAdminKey({ name: 'to revoke' });
    expect((await api('GET', '/v1/apps', { key: key.key })).status).toBe(200);

    const res = await api('DELETE', `/v1/admin-keys/${key.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: key.id, name: 'to revoke', status: 'revoked' });
    expect(res.body.revoked_at).toMatch(ISO_SECONDS);
    expect(res.body.key).toBeUndefined();

    const refused = await api('GET', '/v1/apps', { key: key.key });
    expectError(refused, 401, 'UNAUTHORIZED');
    // The same 401 as a key that never existed.
    expect(refused.text).toBe((await api('GET', '/v1/apps', { key: 'hk_0000000000AAAAAAAAAAAAAAAAAAAAAAAAAA' })).text);

    expect(await storedKey(key.id)).toMatchObject({ status: 'revoked' });
    const entries = await globalAudit(key.id);
    expect(entries.map((e) => e.action)).toEqual(['admin_key.created', 'admin_key.revoked']);
    expect(entries[1]).toMatchObject({ app_id: null, actor_id: 'root', target_type: 'admin_key', target_id: key.id });
    expect(JSON.parse(entries[1].metadata)).toEqual({ name: 'to revoke' });
  });

  it('is idempotent: revoking again answers 200 with the same state and writes nothing', async () => {
    const key = await createAdminKey();
    const first = await api('DELETE', `/v1/admin-keys/${key.id}`);
    const again = await api('DELETE', `/v1/admin-keys/${key.id}`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect((await globalAudit(key.id)).filter((e) => e.action === 'admin_key.revoked')).toHaveLength(1);
  });

  it('writes one revocation when ten revokes race', async () => {
    const key = await createAdminKey();
    const results = await Promise.all(Array.from({ length: 10 }, () => api('DELETE', `/v1/admin-keys/${key.id}`)));
    expect(results.every((r) => r.status === 200 && r.body.status === 'revoked')).toBe(true);
    expect((await globalAudit(key.id)).filter((e) => e.action === 'admin_key.revoked')).toHaveLength(1);
  });
});

describe('only the root key manages admin keys', () => {
  it('refuses every other key with 403, read-only or not, and changes nothing', async () => {
    const managed = await createAdminKey({ name: 'powerful' });
    const victim = await createAdminKey({ name: 'victim' });
    const before = await env.DB.prepare('SELECT count(*) AS n FROM admin_keys').first('n');
    for (const [method, path, body] of [
      ['POST', '/v1/admin-keys', { name: 'escalated' }],
      ['GET', '/v1/admin-keys', undefined],
      ['GET', `/v1/admin-keys/${victim.id}`, undefined],
      ['DELETE', `/v1/admin-keys/${victim.id}`, undefined],
      ['DELETE', `/v1/admin-keys/${managed.id}`, undefined],
    ] as const) {
      expectError(await api(method, path, { key: managed.key, body }), 403, 'FORBIDDEN');
    }
    expect(await env.DB.prepare('SELECT count(*) AS n FROM admin_keys').first('n')).toBe(before);
    expect(await storedKey(victim.id)).toMatchObject({ status: 'active' });
  });

  it('refuses no key with 401', async () => {
    expectError(await api('GET', '/v1/admin-keys', { key: null }), 401, 'UNAUTHORIZED');
    expectError(await api('POST', '/v1/admin-keys', { key: null, body: { name: 'x' } }), 401, 'UNAUTHORIZED');
  });
});

describe('what a managed key may do', () => {
  it('a key limited to one app acts on it, and gets 403 on any other, existing or not', async () => {
    const mine = await seedApp();
    const other = await seedApp();
    const key = await createAdminKey({ apps: [mine.name] });

    expect((await api('GET', `/v1/apps/${mine.name}`, { key: key.key })).status).toBe(200);
    const patched = await api('PATCH', `/v1/apps/${mine.name}`, { key: key.key, body: { display_name: 'Mine' } });
    expect(patched.status).toBe(200);

    for (const name of [other.name, 'no-such-app']) {
      expectError(await api('GET', `/v1/apps/${name}`, { key: key.key }), 403, 'FORBIDDEN');
      expectError(await api('PATCH', `/v1/apps/${name}`, { key: key.key, body: { display_name: 'Hijacked' } }), 403, 'FORBIDDEN');
      expectError(await api('DELETE', `/v1/apps/${name}`, { key: key.key }), 403, 'FORBIDDEN');
    }
    expect((await api('GET', `/v1/apps/${other.name}`)).body).toMatchObject({ display_name: 'Test App', status: 'active' });
  });

  it('a key limited to apps cannot create apps', async () => {
    const mine = await seedApp();
    const key = await createAdminKey({ apps: [mine.name] });
    const name = uniqueName();
    expectError(await api('POST', '/v1/apps', { key: key.key, body: { name } }), 403, 'FORBIDDEN');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM apps WHERE name = ?').bind(name).first('n')).toBe(0);
  });

  it('a key limited to apps sees only its apps in lists, totals included', async () => {
    const a = await seedApp();
    const b = await seedApp();
    await seedApp();
    const key = await createAdminKey({ apps: [a.name, b.name] });
    const res = await api('GET', '/v1/apps?limit=100', { key: key.key });
    expect(res.status).toBe(200);
    expect(res.body.data.map((x: { name: string }) => x.name)).toEqual([b.name, a.name]);
    expect(res.body.pagination).toEqual({ total: 2, limit: 100, offset: 0, has_more: false });
  });

  it('a read-only key may read, and every write is 403 and changes nothing', async () => {
    const app = await seedApp();
    const key = await createAdminKey({ read_only: true });
    expect((await api('GET', '/v1/apps', { key: key.key })).status).toBe(200);
    expect((await api('GET', `/v1/apps/${app.name}`, { key: key.key })).status).toBe(200);
    expect((await api('HEAD', `/v1/apps/${app.name}`, { key: key.key })).status).toBe(200);
    const name = uniqueName();
    expectError(await api('POST', '/v1/apps', { key: key.key, body: { name } }), 403, 'FORBIDDEN');
    expectError(await api('PATCH', `/v1/apps/${app.name}`, { key: key.key, body: { display_name: 'x' } }), 403, 'FORBIDDEN');
    expectError(await api('DELETE', `/v1/apps/${app.name}`, { key: key.key }), 403, 'FORBIDDEN');
    expect((await api('GET', `/v1/apps/${app.name}`)).body).toMatchObject({ display_name: 'Test App', status: 'active' });
    expect(await env.DB.prepare('SELECT count(*) AS n FROM apps WHERE name = ?').bind(name).first('n')).toBe(0);
    expect((await auditRows(app.id)).map((r) => r.action)).toEqual(['app.created']);
  });

  it('a key for every app may create apps, and is the audit actor of what it does', async () => {
    const key = await createAdminKey();
    const res = await api('POST', '/v1/apps', { key: key.key, body: { name: uniqueName() } });
    expect(res.status).toBe(201);
    await api('PATCH', `/v1/apps/${res.body.name}`, { key: key.key, body: { display_name: 'By key' } });
    const rows = await auditRows(res.body.id);
    expect(rows.map((r) => [r.action, r.actor_id])).toEqual([['app.created', key.id], ['app.updated', key.id]]);
  });
});

describe('secrets in answers and the log', () => {
  it('shows a key in its create answer and nowhere else', async () => {
    const app = await seedApp();
    const key = await createAdminKey({ apps: [app.name] });
    await api('GET', '/v1/admin-keys?limit=100');
    await api('GET', `/v1/admin-keys/${key.id}`);
    await api('GET', `/v1/apps/${app.name}`, { key: key.key });
    await api('DELETE', `/v1/admin-keys/${key.id}`);
    await api('GET', '/v1/apps', { key: key.key });
    const hash = await sha256Hex(key.key);
    expect(seenBodies.filter((text) => text.includes(key.key))).toHaveLength(1);
    expect(seenBodies.some((text) => text.includes(hash))).toBe(false);
    const { results } = await env.DB.prepare('SELECT * FROM audit_logs').all();
    const log = JSON.stringify(results);
    expect(log).not.toContain(key.key);
    expect(log).not.toContain(hash);
  });
});
