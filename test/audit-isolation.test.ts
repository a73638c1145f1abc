import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  api,
  count,
  createUser,
  expectDetail,
  createAdminKey,
  expectError,
  seedApp,
} from './helpers';
import { ENTRY_FIELDS, T, exportPage, ids, logPath, writeEntry } from './audit-helpers';

describe('tenant isolation of the log', () => {
  it('answers 404 for another app\'s entry through this app\'s path, exactly as for an unknown or malformed id', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const [theirs] = (await api('GET', logPath(b.name))).body.data;
    const answers = [
      await api('GET', `${logPath(a.name)}/${theirs.id}`),
      await api('GET', `${logPath(a.name)}/aud_01M8GCYKQVBFWM07Q9RW99N439`),
      await api('GET', `${logPath(a.name)}/not-an-id`),
      await api('GET', `${logPath(a.name)}/${theirs.id.toLowerCase()}`),
    ];
    for (const res of answers) expectError(res, 404, 'NOT_FOUND');
    expect(new Set(answers.map((r) => r.text)).size).toBe(1);
    expect((await api('GET', `${logPath(b.name)}/${theirs.id}`)).body).toEqual(theirs);
  });

  it('finds nothing of another app with ?actor_id= or ?target_id= set to that app\'s ids', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const userOfB = await createUser(b.name);
    await writeEntry(b.id, T, { action: 'role.assigned', targetType: 'user', targetId: userOfB.id, actorId: userOfB.id });
    for (const q of [`actor_id=${userOfB.id}`, `target_id=${userOfB.id}`, `target_id=${b.id}`, `target_id=${userOfB.id}&action=user.created`]) {
      expect((await api('GET', `${logPath(b.name)}?${q}`)).body.pagination.total, q).toBeGreaterThan(0);
      const res = await api('GET', `${logPath(a.name)}?${q}`);
      expect(res.body, q).toEqual({ data: [], pagination: { total: 0, limit: 20, offset: 0, has_more: false } });
    }
    const everything = await api('GET', `${logPath(a.name)}?limit=100`);
    expect(everything.body.data.every((entry: { app_id: string }) => entry.app_id === a.id)).toBe(true);
  });

  it('refuses an export cursor taken from another app, exactly as a tampered one', async () => {
    const a = await seedApp();
    const b = await seedApp();
    const [theirs] = (await exportPage(`${logPath(b.name)}/export`)).entries;
    const answers = [
      await api('GET', `${logPath(a.name)}/export?after=${theirs.id}`),
      await api('GET', `${logPath(a.name)}/export?after=aud_01M8GCYKQVBFWM07Q9RW99N439`),
    ];
    for (const res of answers) {
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, 'after', 'invalid_cursor');
    }
    expect(new Set(answers.map((r) => r.text)).size).toBe(1);
    expectDetail(await api('GET', `${logPath(a.name)}/export?after=${theirs.id}x`), 'after', 'invalid_cursor');
  });

  it('keeps the global log and the app logs apart', async () => {
    const app = await seedApp();
    const global = await writeEntry(null, T, { action: 'signing_key.rotated', targetType: 'signing_key', targetId: 'kid-2026-02' });
    const [own] = (await api('GET', logPath(app.name))).body.data;

    const list = await api('GET', '/v1/audit-logs?limit=100');
    expect(ids(list)).toContain(global);
    expect(list.body.data.every((entry: { app_id: string | null }) => entry.app_id === null)).toBe(true);
    expectError(await api('GET', `${logPath(app.name)}/${global}`), 404, 'NOT_FOUND');
    expectError(await api('GET', `/v1/audit-logs/${own.id}`), 404, 'NOT_FOUND');
    expect((await api('GET', `${logPath(app.name)}?target_id=kid-2026-02`)).body.pagination.total).toBe(0);
    expectDetail(await api('GET', `/v1/audit-logs/export?after=${own.id}`), 'after', 'invalid_cursor');
  });
});

describe('the global log', () => {
  it('lists, filters and gets the events of no app, in the same shape', async () => {
    const rotated = await writeEntry(null, T + 5000, { action: 'signing_key.rotated', targetType: 'signing_key', targetId: 'kid-b', metadata: { retired: 'kid-a' } });
    const created = await writeEntry(null, T + 6000, { action: 'admin_key.created', targetType: 'admin_key', targetId: 'key_01M8GCYKQVBFWM07Q9RW99N4K2' });

    const res = await api('GET', '/v1/audit-logs?from=2026-02-20T10:15:05Z&to=2026-02-20T10:15:06Z');
    expect(res.status).toBe(200);
    expect(ids(res)).toEqual([created, rotated]);
    expect(Object.keys(res.body.data[0])).toEqual(ENTRY_FIELDS);
    expect(res.body.data[1]).toMatchObject({ app_id: null, action: 'signing_key.rotated', target_type: 'signing_key', target_id: 'kid-b', metadata: { retired: 'kid-a' }, timestamp: '2026-02-20T10:15:05Z' });
    expect(ids(await api('GET', '/v1/audit-logs?action=admin_key.created&target_type=admin_key'))).toContain(created);
    expect((await api('GET', `/v1/audit-logs/${rotated}`)).body).toEqual(res.body.data[1]);
    expectDetail(await api('GET', '/v1/audit-logs?action=key.created'), 'action', 'invalid_value');
    expect((await exportPage('/v1/audit-logs/export')).entries.map((entry) => entry.id)).toEqual(expect.arrayContaining([rotated, created]));
  });

  it('is for the root key alone: any managed key, even unlimited, is 403', async () => {
    const app = await seedApp();
    const [own] = (await api('GET', logPath(app.name))).body.data;
    const global = await writeEntry(null, T, { action: 'signing_key.rotated', targetType: 'signing_key', targetId: 'kid-c' });
    for (const scope of [{ apps: null, read_only: false }, { apps: null, read_only: true }, { apps: [app.name], read_only: true }]) {
      const { key } = await createAdminKey(scope);
      for (const path of ['/v1/audit-logs', '/v1/audit-logs/export', `/v1/audit-logs/${global}`]) {
        expectError(await api('GET', path, { key }), 403, 'FORBIDDEN');
      }
      // The same keys may read the app's own log.
      expect((await api('GET', `${logPath(app.name)}/${own.id}`, { key })).status).toBe(200);
    }
  });

  it('lets a key limited to some apps read only their logs', async () => {
    const mine = await seedApp();
    const other = await seedApp();
    const { key } = await createAdminKey({ apps: [mine.name], read_only: true });
    expect((await api('GET', logPath(mine.name), { key })).status).toBe(200);
    for (const path of [logPath(other.name), `${logPath(other.name)}/export`, `${logPath(other.name)}/aud_01M8GCYKQVBFWM07Q9RW99N439`]) {
      expectError(await api('GET', path, { key }), 403, 'FORBIDDEN');
    }
  });
});

describe('an append-only log', () => {
  it('has no route that writes: PUT, PATCH, DELETE and POST answer 405 with Allow, and nothing changes', async () => {
    const app = await seedApp();
    const [entry] = (await api('GET', logPath(app.name))).body.data;
    const global = await writeEntry(null, T, { action: 'signing_key.rotated', targetType: 'signing_key', targetId: 'kid-d' });
    const before = await env.DB.prepare('SELECT * FROM audit_logs WHERE id IN (?, ?) ORDER BY id').bind(entry.id, global).all();
    const total = await count('SELECT count(*) AS n FROM audit_logs');
    const paths = [
      logPath(app.name),
      `${logPath(app.name)}/${entry.id}`,
      `${logPath(app.name)}/export`,
      '/v1/audit-logs',
      `/v1/audit-logs/${global}`,
      '/v1/audit-logs/export',
    ];
    for (const path of paths) {
      for (const method of ['PUT', 'PATCH', 'DELETE', 'POST']) {
        const res = await api(method, path, { body: { action: 'app.archived', metadata: {} } });
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        expect(res.headers.get('Allow'), `${method} ${path}`).toBe('GET, HEAD');
      }
    }
    expect((await env.DB.prepare('SELECT * FROM audit_logs WHERE id IN (?, ?) ORDER BY id').bind(entry.id, global).all()).results).toEqual(before.results);
    expect(await count('SELECT count(*) AS n FROM audit_logs')).toBe(total);
    expect((await api('GET', `${logPath(app.name)}/${entry.id}`)).body).toEqual(entry);
  });

  it('is refused UPDATE, DELETE and INSERT OR REPLACE by the database itself', async () => {
    const app = await seedApp();
    const before = await env.DB.prepare('SELECT * FROM audit_logs WHERE app_id = ?').bind(app.id).first<Record<string, unknown>>();
    const total = await count('SELECT count(*) AS n FROM audit_logs');
    const attempts = [
      env.DB.prepare("UPDATE audit_logs SET metadata = '{}' WHERE id = ?").bind(before!.id),
      env.DB.prepare('UPDATE audit_logs SET app_id = NULL WHERE app_id = ?').bind(app.id),
      env.DB.prepare('DELETE FROM audit_logs WHERE id = ?').bind(before!.id),
      env.DB.prepare('DELETE FROM audit_logs'),
      // REPLACE deletes without firing delete triggers (recursive_triggers is off): refused on insert.
      env.DB.prepare("INSERT OR REPLACE INTO audit_logs (id, app_id, action, target_type, metadata, timestamp) VALUES (?, ?, 'app.created', 'app', '{}', 0)").bind(before!.id, app.id),
      env.DB.prepare("REPLACE INTO audit_logs (id, app_id, action, target_type, metadata, timestamp) VALUES (?, ?, 'app.created', 'app', '{}', 0)").bind(before!.id, app.id),
      env.DB.prepare("INSERT INTO audit_logs (id, app_id, action, target_type, metadata, timestamp) VALUES (?, ?, 'app.created', 'app', '{}', 0) ON CONFLICT (id) DO UPDATE SET metadata = '{}'").bind(before!.id, app.id),
    ];
    for (const statement of attempts) await expect(statement.run()).rejects.toThrow(/append-only/);
    expect(await env.DB.prepare('SELECT * FROM audit_logs WHERE id = ?').bind(before!.id).first()).toEqual(before);
    expect(await count('SELECT count(*) AS n FROM audit_logs')).toBe(total);
  });

  it('stays whole and readable after its app is archived', async () => {
    const app = await seedApp();
    const user = await createUser(app.name, { role: 'admin' });
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    await api('DELETE', `/v1/apps/${app.name}`);
    const list = await api('GET', logPath(app.name));
    expect(list.status).toBe(200);
    expect(list.body.data.map((entry: { action: string }) => entry.action)).toEqual(['app.archived', 'user.deactivated', 'user.created', 'app.created']);
    for (const entry of list.body.data) expect((await api('GET', `${logPath(app.name)}/${entry.id}`)).body).toEqual(entry);
    expect((await exportPage(`${logPath(app.name)}/export`)).entries.map((entry) => entry.id)).toEqual(ids(list).reverse());
    expect((await api('GET', `${logPath(app.name)}?target_id=${user.id}`)).body.pagination.total).toBe(2);
  });
});
