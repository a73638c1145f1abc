import { describe, expect, it } from 'vitest';
import {
  ISO_SECONDS,
  api,
  auditRows,
  count,
  createRole,
  createUser,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
} from './helpers';

const EDITOR = {
  name: 'editor',
  display_name: 'Editor',
  permissions: ['projects:read', 'projects:write', 'comments:read', 'comments:write'],
};

describe('creating a role', () => {
  it('answers the reference example field by field, and audits it', async () => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/roles`, { body: EDITOR });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'app_id', 'name', 'display_name', 'permissions', 'created_at']);
    expect(res.body.id).toMatch(idPattern('role_'));
    expect(res.body).toMatchObject({ app_id: app.id, ...EDITOR });
    expect(res.body.created_at).toMatch(ISO_SECONDS);

    expect((await api('GET', `/v1/apps/${app.name}/roles/editor`)).body).toEqual(res.body);
    const [entry] = await auditRows(app.id, 'role.created');
    expect(entry).toMatchObject({ actor_id: 'root', target_type: 'role', target_id: res.body.id });
    expect(JSON.parse(entry.metadata)).toEqual({ name: 'editor', permissions: EDITOR.permissions });
  });

  it('refuses a taken name in the same app, but not in another app', async () => {
    const a = await seedApp();
    const b = await seedApp();
    await createRole(a.name, EDITOR);
    const again = await api('POST', `/v1/apps/${a.name}/roles`, { body: EDITOR });
    expectError(again, 409, 'CONFLICT');
    expectDetail(again, 'name', 'taken');
    expect((await api('POST', `/v1/apps/${b.name}/roles`, { body: EDITOR })).status).toBe(201);
  });

  it.each(['Editor', '1editor', '-editor', 'edi tor', 'a'.repeat(65), '../admin', '%2e%2e%2f', 'a/b', 'ed\u0000itor', ''])(
    'refuses the role name %j',
    async (name) => {
      const app = await seedApp();
      const res = await api('POST', `/v1/apps/${app.name}/roles`, { body: { name, permissions: [] } });
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, 'name', 'invalid_format');
    },
  );

  it.each(['*:*', 'projects:', 'projects:write ', 'PROJECTS:WRITE', 'projects', ':read', 'projects:re*d'])(
    'refuses the permission %j, naming its position',
    async (permission) => {
      const app = await seedApp();
      const res = await api('POST', `/v1/apps/${app.name}/roles`, { body: { name: 'r', permissions: ['projects:read', permission] } });
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, 'permissions.1', 'invalid_format');
      expect(await count('SELECT count(*) AS n FROM roles WHERE app_id = ?', app.id)).toBe(1);
    },
  );

  it('stores permissions de-duplicated, wildcards included', async () => {
    const app = await seedApp();
    const role = await createRole(app.name, { name: 'ops', permissions: ['projects:*', '*', 'projects:*'] });
    expect(role.permissions).toEqual(['projects:*', '*']);
  });

  it('requires permissions and refuses unknown fields', async () => {
    const app = await seedApp();
    const res = await api('POST', `/v1/apps/${app.name}/roles`, { body: { name: 'x', app_id: 'app_x' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'permissions', 'required');
    expectDetail(res, 'app_id', 'unknown_field');
  });
});

describe('listing, reading and updating roles', () => {
  it('lists the app\'s roles newest first, the default admin role included', async () => {
    const app = await seedApp();
    await createRole(app.name, EDITOR);
    const res = await api('GET', `/v1/apps/${app.name}/roles`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((r: { name: string }) => r.name)).toEqual(['editor', 'admin']);
    expect(res.body.data[1].permissions).toEqual(['*']);
    expect(res.body.pagination).toEqual({ total: 2, limit: 20, offset: 0, has_more: false });
    const second = await api('GET', `/v1/apps/${app.name}/roles?limit=1&offset=1`);
    expect(second.body.data.map((r: { name: string }) => r.name)).toEqual(['admin']);
    expect(second.body.pagination.has_more).toBe(false);
  });

  it('updates display name and permissions, keeps the name immutable, and audits the change', async () => {
    const app = await seedApp();
    const role = await createRole(app.name, EDITOR);
    const res = await api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { permissions: ['projects:read'] } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...role, permissions: ['projects:read'] });
    const [entry] = await auditRows(app.id, 'role.updated');
    expect(JSON.parse(entry.metadata)).toEqual({ name: 'editor', changes: { permissions: { from: EDITOR.permissions, to: ['projects:read'] } } });

    const rename = await api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { name: 'writer' } });
    expectError(rename, 400, 'VALIDATION_ERROR');
    expectDetail(rename, 'name', 'immutable');
  });

  it('answers 404 for an unknown role on every verb', async () => {
    const app = await seedApp();
    expectError(await api('GET', `/v1/apps/${app.name}/roles/ghost`), 404, 'NOT_FOUND');
    expectError(await api('PATCH', `/v1/apps/${app.name}/roles/ghost`, { body: { permissions: [] } }), 404, 'NOT_FOUND');
    expectError(await api('DELETE', `/v1/apps/${app.name}/roles/ghost`), 404, 'NOT_FOUND');
    expectError(await api('GET', '/v1/apps/no-such-app/roles'), 404, 'NOT_FOUND');
  });
});

describe('deleting a role', () => {
  it('deletes an unused role and audits it', async () => {
    const app = await seedApp();
    const role = await createRole(app.name, EDITOR);
    const res = await api('DELETE', `/v1/apps/${app.name}/roles/editor`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(role);
    expectError(await api('GET', `/v1/apps/${app.name}/roles/editor`), 404, 'NOT_FOUND');
    const [entry] = await auditRows(app.id, 'role.deleted');
    expect(JSON.parse(entry.metadata)).toMatchObject({ name: 'editor', forced: false, assignments_removed: 0 });
  });

  it('refuses to delete a role in use with 409, and changes nothing', async () => {
    const app = await seedApp();
    await createRole(app.name, EDITOR);
    const user = await createUser(app.name, { role: 'editor' });
    const res = await api('DELETE', `/v1/apps/${app.name}/roles/editor`);
    expectError(res, 409, 'CONFLICT');
    expectDetail(res, 'role', 'in_use');
    expect((await api('GET', `/v1/apps/${app.name}/users/${user.id}`)).body.roles).toEqual(['editor']);
    expect(await auditRows(app.id, 'role.deleted')).toHaveLength(0);
  });

  it('with ?force=true removes it from its holders in one audited change', async () => {
    const app = await seedApp();
    await createRole(app.name, EDITOR);
    const u1 = await createUser(app.name, { roles: ['editor', 'admin'] });
    const u2 = await createUser(app.name, { role: 'editor' });
    const res = await api('DELETE', `/v1/apps/${app.name}/roles/editor?force=true`);
    expect(res.status).toBe(200);
    expect((await api('GET', `/v1/apps/${app.name}/users/${u1.id}`)).body.roles).toEqual(['admin']);
    expect((await api('GET', `/v1/apps/${app.name}/users/${u2.id}`)).body.roles).toEqual([]);
    expect(await count('SELECT count(*) AS n FROM user_roles WHERE app_id = ?', app.id)).toBe(1);
    const entries = await auditRows(app.id, 'role.deleted');
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0].metadata)).toMatchObject({ name: 'editor', forced: true, assignments_removed: 2, invites_revoked: 0 });
    expect(await auditRows(app.id, 'role.removed')).toHaveLength(0);
  });

  it('refuses a malformed force value', async () => {
    const app = await seedApp();
    await createRole(app.name, EDITOR);
    expectDetail(await api('DELETE', `/v1/apps/${app.name}/roles/editor?force=yes`), 'force', 'invalid_value');
  });
});

describe('roles across apps', () => {
  it('never reaches another app\'s role of the same name through this app\'s path', async () => {
    const a = await seedApp();
    const b = await seedApp();
    await createRole(b.name, { name: 'billing', permissions: ['billing:*'] });
    expectError(await api('GET', `/v1/apps/${a.name}/roles/billing`), 404, 'NOT_FOUND');
    expectError(await api('PATCH', `/v1/apps/${a.name}/roles/billing`, { body: { permissions: ['*'] } }), 404, 'NOT_FOUND');
    expectError(await api('DELETE', `/v1/apps/${a.name}/roles/billing?force=true`), 404, 'NOT_FOUND');
    expect((await api('GET', `/v1/apps/${b.name}/roles/billing`)).body.permissions).toEqual(['billing:*']);
  });
});

describe('roles of an archived app', () => {
  it('stay readable while every change is 409 APP_ARCHIVED', async () => {
    const app = await seedApp();
    await createRole(app.name, EDITOR);
    await api('DELETE', `/v1/apps/${app.name}`);
    expect((await api('GET', `/v1/apps/${app.name}/roles/editor`)).status).toBe(200);
    expect((await api('GET', `/v1/apps/${app.name}/roles`)).body.pagination.total).toBe(2);
    expectError(await api('POST', `/v1/apps/${app.name}/roles`, { body: { name: 'new', permissions: [] } }), 409, 'APP_ARCHIVED');
    expectError(await api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { permissions: [] } }), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', `/v1/apps/${app.name}/roles/editor`), 409, 'APP_ARCHIVED');
    expect(await count('SELECT count(*) AS n FROM roles WHERE app_id = ?', app.id)).toBe(2);
  });
});
