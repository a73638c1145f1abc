import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  ISO_SECONDS,
  PASSWORD,
  api,
  auditRows,
  count,
  createRole,
  createUser,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
  uniqueName,
} from './helpers';

describe('creating a user', () => {
  it('answers the reference example field by field, stores only a hash, and audits it', async () => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/users`, {
      body: { email: 'jane@acme.co', display_name: 'Jane Chen', password: PASSWORD, role: 'admin', metadata: { department: 'engineering' } },
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'app_id', 'email', 'display_name', 'roles', 'status', 'metadata', 'created_at']);
    expect(res.body.id).toMatch(idPattern('usr_'));
    expect(res.body).toMatchObject({
      app_id: app.id,
      email: 'jane@acme.co',
      display_name: 'Jane Chen',
      roles: ['admin'],
      status: 'active',
      metadata: { department: 'engineering' },
    });
    expect(res.body.created_at).toMatch(ISO_SECONDS);

    const stored = await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(res.body.id).first<string>('password_hash');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(stored).not.toContain(PASSWORD);

    const entries = await auditRows(app.id, 'user.created');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor_id: 'root', target_type: 'user', target_id: res.body.id });
    expect(JSON.parse(entries[0].metadata)).toEqual({ email: 'jane@acme.co', roles: ['admin'] });
    expect(entries[0].metadata).not.toContain(PASSWORD);
    expect(await auditRows(app.id, 'role.assigned')).toHaveLength(0);
    expect((await api('GET', `/v1/apps/${app.name}/users/${res.body.id}`)).body).toEqual(res.body);
  });

  it('salts every hash: the same password twice gives two different hashes', async () => {
    const app = await seedApp();
    const a = await createUser(app.name, { password: PASSWORD });
    const b = await createUser(app.name, { password: PASSWORD });
    const hashes = await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id IN (?, ?)').bind(a.id, b.id).all<{ h: string }>();
    expect(new Set(hashes.results.map((r) => r.h)).size).toBe(2);
  });

  it('accepts several roles, and no role or password at all', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:write'] });
    // Role lists are in name order, whatever order they were given in.
    expect((await createUser(app.name, { roles: ['editor', 'admin'] })).roles).toEqual(['admin', 'editor']);
    const bare = await createUser(app.name);
    expect(bare.roles).toEqual([]);
    expect(await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(bare.id).first('h')).toBeNull();
  });

  it('refuses an unknown role with reason unknown_role, and creates nothing', async () => {
    const app = await seedApp();
    const email = `${uniqueName('u')}@example.com`;
    const single = await api('POST', `/v1/apps/${app.name}/users`, { body: { email, role: 'ghost' } });
    expectError(single, 400, 'VALIDATION_ERROR');
    expectDetail(single, 'role', 'unknown_role');
    const list = await api('POST', `/v1/apps/${app.name}/users`, { body: { email, roles: ['admin', 'ghost'] } });
    expectDetail(list, 'roles.1', 'unknown_role');
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id)).toBe(0);
  });

  it('refuses role and roles together', async () => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/users`, { body: { email: 'x@example.com', role: 'admin', roles: ['admin'] } });
    expectDetail(res, 'roles', 'conflicting_fields');
  });

  it('normalises email, and keeps it unique per app but not across apps', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const user = await createUser(a.name, { email: '  Alice@Example.COM ' });
    expect(user.email).toBe('alice@example.com');
    const again = await api('POST', `/v1/apps/${a.name}/users`, { body: { email: 'alice@example.com' } });
    expectError(again, 409, 'CONFLICT');
    expectDetail(again, 'email', 'taken');
    expect((await createUser(b.name, { email: 'ALICE@example.com' })).email).toBe('alice@example.com');
    const filtered = await api('GET', `/v1/apps/${a.name}/users?email=%20ALICE%40example.com`);
    expect(filtered.body.data.map((u: { id: string }) => u.id)).toEqual([user.id]);
  });

  // Twenty creates racing for one email: test/security/races.test.ts.

  it.each([
    ['a@b', 'invalid_format'],
    ['not-an-email', 'invalid_format'],
    ['<script>@x', 'invalid_format'],
    ['аlice@example.com', 'invalid_format'],
    ['', 'invalid_format'],
    [`${'a'.repeat(250)}@example.com`, 'too_long'],
  ])('refuses the email %j', async (email, reason) => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/users`, { body: { email } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'email', reason);
  });
});

describe('password rules', () => {
  it('refuses 7 characters, accepts 8 and 256, refuses 257', async () => {
    const app = await seedApp();
    const post = (password: string) => api('POST', `/v1/apps/${app.name}/users`, { body: { email: `${uniqueName('p')}@example.com`, password } });
    expectDetail(await post('1234567'), 'password', 'too_short');
    expect((await post('12345678')).status).toBe(201);
    expect((await post('x'.repeat(256))).status).toBe(201);
    expectDetail(await post('x'.repeat(257)), 'password', 'too_long');
    expectDetail(await post('x'.repeat(5000)), 'password', 'too_long');
  });

  it('counts characters after NFKC, so a composed password is not cut or padded', async () => {
    const app = await seedApp();
    // 256 decomposed "é" (e + combining acute) compose to 256 characters: accepted.
    const res = await api('POST', `/v1/apps/${app.name}/users`, { body: { email: 'nfkc@example.com', password: 'e\u0301'.repeat(256) } });
    expect(res.status).toBe(201);
  });

  it('refuses a 1 MB body before reading a password from it', async () => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/users`, { body: { email: 'big@example.com', password: 'x'.repeat(1024 * 1024) } });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id)).toBe(0);
  });
});

describe('listing users', () => {
  it('filters by status, role and email, with pagination', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:write'] });
    const editors = [await createUser(app.name, { role: 'editor' }), await createUser(app.name, { roles: ['editor', 'admin'] })];
    const plain = await createUser(app.name);
    await api('DELETE', `/v1/apps/${app.name}/users/${plain.id}`);

    const all = await api('GET', `/v1/apps/${app.name}/users`);
    expect(all.body.pagination).toEqual({ total: 3, limit: 20, offset: 0, has_more: false });
    expect(all.body.data.map((u: { id: string }) => u.id)).toEqual([plain.id, editors[1].id, editors[0].id]);

    const byRole = await api('GET', `/v1/apps/${app.name}/users?role=editor`);
    expect(byRole.body.data.map((u: { id: string }) => u.id)).toEqual([editors[1].id, editors[0].id]);
    expect(byRole.body.data[0].roles).toEqual(['admin', 'editor']);
    expect((await api('GET', `/v1/apps/${app.name}/users?role=admin`)).body.pagination.total).toBe(1);
    expect((await api('GET', `/v1/apps/${app.name}/users?role=ghost`)).body.pagination.total).toBe(0);

    const deactivated = await api('GET', `/v1/apps/${app.name}/users?status=deactivated`);
    expect(deactivated.body.data.map((u: { id: string }) => u.id)).toEqual([plain.id]);
    const page2 = await api('GET', `/v1/apps/${app.name}/users?limit=2&offset=2`);
    expect(page2.body.pagination).toEqual({ total: 3, limit: 2, offset: 2, has_more: false });
    expect(page2.body.data.map((u: { id: string }) => u.id)).toEqual([editors[0].id]);
    expectDetail(await api('GET', `/v1/apps/${app.name}/users?status=gone`), 'status', 'invalid_value');
  });

  it('serves a full page of 100 users with their roles (D1 binds at most 100 parameters a query)', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:write'] });
    for (let i = 0; i < 101; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, 101 - i) }, () => createUser(app.name, { role: 'editor' })));
    }
    const page = await api('GET', `/v1/apps/${app.name}/users?limit=100`);
    expect(page.status, page.text).toBe(200);
    expect(page.body.pagination).toEqual({ total: 101, limit: 100, offset: 0, has_more: true });
    expect(page.body.data).toHaveLength(100);
    for (const user of page.body.data) expect(user.roles).toEqual(['editor']);
  });

  it('treats SQL in filters as plain text', async () => {
    const app = await seedApp();
    await createUser(app.name);
    for (const q of ["role=x'%20OR%201=1--", 'email=%25', "email=x'%3B%20DROP%20TABLE%20users%3B--"]) {
      const res = await api('GET', `/v1/apps/${app.name}/users?${q}`);
      expect(res.status).toBe(200);
      expect(res.body.pagination.total).toBe(0);
    }
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id)).toBe(1);
  });
});

describe('updating and deactivating a user', () => {
  it('changes only the fields sent and audits what changed, never the password', async () => {
    const app = await seedApp();
    const user = await createUser(app.name, { display_name: 'Old', metadata: { a: 1 }, password: PASSWORD });
    const before = await env.DB.prepare('SELECT password_hash AS h FROM users WHERE id = ?').bind(user.id).first<string>('h');
    const res = await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { display_name: 'New', password: 'another secret phrase' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...user, display_name: 'New' });
    const after = await env.DB.prepare('SELECT password_hash AS h, tokens_invalid_before AS t FROM users WHERE id = ?').bind(user.id).first<{ h: string; t: number }>();
    expect(after!.h).not.toBe(before);
    expect(after!.t).toBeGreaterThan(0);
    const [entry] = await auditRows(app.id, 'user.updated');
    expect(JSON.parse(entry.metadata)).toEqual({ changes: { display_name: { from: 'Old', to: 'New' } }, password_changed: true });
    expect(entry.metadata).not.toMatch(/another secret phrase|argon2/);
  });

  it('refuses an email another user of the app holds', async () => {
    const app = await seedApp();
    const a = await createUser(app.name);
    const b = await createUser(app.name);
    const res = await api('PATCH', `/v1/apps/${app.name}/users/${b.id}`, { body: { email: a.email.toUpperCase() } });
    expectError(res, 409, 'CONFLICT');
    expect((await api('GET', `/v1/apps/${app.name}/users/${b.id}`)).body.email).toBe(b.email);
  });

  it('deactivates with DELETE, idempotently, and reactivates with PATCH', async () => {
    const app = await seedApp();
    const user = await createUser(app.name, { role: 'admin' });
    const res = await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...user, status: 'deactivated' });
    expect((await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`)).body.status).toBe('deactivated');
    expect(await auditRows(app.id, 'user.deactivated')).toHaveLength(1);

    const back = await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } });
    expect(back.body.status).toBe('active');
    const [entry] = await auditRows(app.id, 'user.updated');
    expect(JSON.parse(entry.metadata)).toEqual({ changes: { status: { from: 'deactivated', to: 'active' } } });
  });
});

describe('assigning and removing roles', () => {
  it('assigns idempotently, auditing only the real change', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:write'] });
    const user = await createUser(app.name);
    const first = await api('POST', `/v1/apps/${app.name}/users/${user.id}/roles`, { body: { role: 'editor' } });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ ...user, roles: ['editor'] });
    const again = await api('POST', `/v1/apps/${app.name}/users/${user.id}/roles`, { body: { role: 'editor' } });
    expect(again.status).toBe(200);
    expect(again.body.roles).toEqual(['editor']);
    const entries = await auditRows(app.id, 'role.assigned');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor_id: 'root', target_type: 'user', target_id: user.id });
    expect(JSON.parse(entries[0].metadata)).toMatchObject({ role: 'editor' });
  });

  it('refuses an unknown role with unknown_role', async () => {
    const app = await seedApp();
    const user = await createUser(app.name);
    const res = await api('POST', `/v1/apps/${app.name}/users/${user.id}/roles`, { body: { role: 'ghost' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'role', 'unknown_role');
  });

  it('removes a held role, and answers 404 for one not held', async () => {
    const app = await seedApp();
    const user = await createUser(app.name, { role: 'admin' });
    const res = await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/admin`);
    expect(res.status).toBe(200);
    expect(res.body.roles).toEqual([]);
    expect(await auditRows(app.id, 'role.removed')).toHaveLength(1);
    expectError(await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/admin`), 404, 'NOT_FOUND');
    expectError(await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/ghost`), 404, 'NOT_FOUND');
    expect(await auditRows(app.id, 'role.removed')).toHaveLength(1);
  });
});

describe('tenant isolation', () => {
  it('answers 404 for another app\'s user on every route, and changes nothing', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const victim = await createUser(b.name, { role: 'admin', display_name: 'Victim' });
    const path = `/v1/apps/${a.name}/users/${victim.id}`;
    const random = await api('GET', `/v1/apps/${a.name}/users/usr_01M8GCYKQVBFWM07Q9RW99N439`);
    const bodies = [
      await api('GET', path),
      await api('PATCH', path, { body: { display_name: 'Owned' } }),
      await api('DELETE', path),
      await api('POST', `${path}/roles`, { body: { role: 'admin' } }),
      await api('DELETE', `${path}/roles/admin`),
      random,
    ];
    for (const res of bodies) expectError(res, 404, 'NOT_FOUND');
    expect(new Set(bodies.map((r) => r.text)).size).toBe(1);
    expect((await api('GET', `/v1/apps/${b.name}/users/${victim.id}`)).body).toEqual(victim);
    expect(await auditRows(a.id, 'user.updated')).toHaveLength(0);
    expect(await auditRows(b.id, 'user.updated')).toHaveLength(0);
  });

  it('cannot assign another app\'s role: the name resolves only inside this app', async () => {
    const a = await seedApp();
    const b = await seedApp();
    await createRole(b.name, { name: 'billing', permissions: ['billing:*'] });
    const user = await createUser(a.name);
    const res = await api('POST', `/v1/apps/${a.name}/users/${user.id}/roles`, { body: { role: 'billing' } });
    expectDetail(res, 'role', 'unknown_role');
    expect(await count('SELECT count(*) AS n FROM user_roles WHERE user_id = ?', user.id)).toBe(0);
  });

  it('refuses a cross-tenant assignment in the database itself', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const user = await createUser(a.name);
    const role = await env.DB.prepare("SELECT id FROM roles WHERE app_id = ? AND name = 'admin'").bind(b.id).first<string>('id');
    await expect(
      env.DB.prepare('INSERT INTO user_roles (app_id, user_id, role_id, created_at) VALUES (?, ?, ?, 0)').bind(a.id, user.id, role).run(),
    ).rejects.toThrow(/FOREIGN KEY/);
  });

  it('ignores no tenant hints: app_id in a body is an unknown field', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const res = await api('POST', `/v1/apps/${a.name}/users`, { body: { email: 'x@example.com', app_id: b.id }, headers: { 'X-App-Id': b.id } });
    expectDetail(res, 'app_id', 'unknown_field');
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id IN (?, ?)', a.id, b.id)).toBe(0);
  });
});

describe('users of an archived app', () => {
  it('stay readable while changes are 409 APP_ARCHIVED', async () => {
    const app = await seedApp();
    const user = await createUser(app.name, { role: 'admin' });
    await api('DELETE', `/v1/apps/${app.name}`);
    expect((await api('GET', `/v1/apps/${app.name}/users/${user.id}`)).body).toEqual(user);
    expect((await api('GET', `/v1/apps/${app.name}/users`)).body.pagination.total).toBe(1);
    expectError(await api('POST', `/v1/apps/${app.name}/users`, { body: { email: 'new@example.com' } }), 409, 'APP_ARCHIVED');
    expectError(await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { display_name: 'x' } }), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`), 409, 'APP_ARCHIVED');
    expectError(await api('POST', `/v1/apps/${app.name}/users/${user.id}/roles`, { body: { role: 'admin' } }), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/admin`), 409, 'APP_ARCHIVED');
  });
});
