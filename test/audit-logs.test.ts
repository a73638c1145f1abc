import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ISO_SECONDS,
  api,
  count,
  createRole,
  createUser,
  expectCleanResponses,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
} from './helpers';
import { asAdminKey, exportPage, logPath, walkExport, writeEntry } from './audit-helpers';

const PASSWORD = 'correct horse battery staple';

afterAll(() => expectCleanResponses([PASSWORD]));

const ENTRY_FIELDS = ['id', 'app_id', 'actor_id', 'action', 'target_type', 'target_id', 'metadata', 'ip_address', 'timestamp', 'user_agent', 'request_id'];

/** 2026-02-20T10:15:00.000Z, the reference example's instant. */
const T = Date.parse('2026-02-20T10:15:00Z');

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((e) => e.id);

describe('reading an app\'s audit log', () => {
  it('answers the reference example, ?action=role.assigned&limit=10, in the reference\'s shape', async () => {
    const app = await seedApp();
    const role = await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
    const user = await createUser(app.name, { password: PASSWORD });
    const assign = await api('POST', `/v1/apps/${app.name}/users/${user.id}/roles`, {
      body: { role: 'editor' },
      headers: { 'CF-Connecting-IP': '203.0.113.42', 'User-Agent': 'acme-admin/2.1' },
    });
    expect(assign.status).toBe(200);

    const res = await api('GET', `/v1/apps/${app.name}/audit-logs?action=role.assigned&limit=10`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(Object.keys(res.body)).toEqual(['data', 'pagination']);
    expect(res.body.pagination).toEqual({ total: 1, limit: 10, offset: 0, has_more: false });
    const [entry] = res.body.data;
    // The reference's fields in its order, then user_agent and request_id.
    expect(Object.keys(entry)).toEqual(ENTRY_FIELDS);
    expect(entry).toEqual({
      id: expect.stringMatching(idPattern('aud_')),
      app_id: app.id,
      actor_id: 'root',
      action: 'role.assigned',
      target_type: 'user',
      target_id: user.id,
      metadata: { role: 'editor', role_id: role.id },
      ip_address: '203.0.113.42',
      timestamp: expect.stringMatching(ISO_SECONDS),
      user_agent: 'acme-admin/2.1',
      // The X-Request-Id of the answer to the change, to find it in the Worker's logs.
      request_id: assign.headers.get('X-Request-Id'),
    });
  });

  it('gets one entry by id, exactly as the list shows it', async () => {
    const app = await seedApp();
    await api('PATCH', `/v1/apps/${app.name}`, { body: { display_name: 'Renamed' } });
    const list = await api('GET', logPath(app.name));
    expect(list.body.data.map((e: { action: string }) => e.action)).toEqual(['app.updated', 'app.created']);
    for (const entry of list.body.data) {
      const one = await api('GET', `${logPath(app.name)}/${entry.id}`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual(entry);
    }
  });

  it('records the caller IP from CF-Connecting-IP only, ignoring a spoofed X-Forwarded-For, and the user agent', async () => {
    const viaCloudflare = await api('POST', '/v1/apps', {
      body: { name: `ip-${Date.now().toString(36)}` },
      headers: { 'CF-Connecting-IP': '203.0.113.42', 'X-Forwarded-For': '198.51.100.7', 'User-Agent': 'heimdall-tests/1' },
    });
    const spoofOnly = await api('POST', '/v1/apps', {
      body: { name: `spoof-${Date.now().toString(36)}` },
      headers: { 'X-Forwarded-For': '198.51.100.7', 'X-Real-IP': '198.51.100.8', 'User-Agent': 'u'.repeat(600) },
    });
    const [first] = (await api('GET', `${logPath(viaCloudflare.body.name)}?action=app.created`)).body.data;
    expect(first).toMatchObject({ ip_address: '203.0.113.42', user_agent: 'heimdall-tests/1' });
    const [second] = (await api('GET', `${logPath(spoofOnly.body.name)}?action=app.created`)).body.data;
    expect(second.ip_address).toBeNull();
    // Kept, but bounded.
    expect(second.user_agent).toBe('u'.repeat(512));
  });

  it('answers 404 for an unknown app on every audit route', async () => {
    for (const path of ['/v1/apps/no-such-app/audit-logs', '/v1/apps/no-such-app/audit-logs/export', '/v1/apps/no-such-app/audit-logs/aud_01M8GCYKQVBFWM07Q9RW99N439']) {
      expectError(await api('GET', path), 404, 'NOT_FOUND');
    }
  });

  it('needs an admin key on every audit route', async () => {
    const app = await seedApp();
    for (const path of [logPath(app.name), `${logPath(app.name)}/export`, `${logPath(app.name)}/aud_01M8GCYKQVBFWM07Q9RW99N439`, '/v1/audit-logs', '/v1/audit-logs/export']) {
      const res = await api('GET', path, { key: 'hk_not-a-key' });
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
    }
  });
});

describe('filtering an app\'s log', () => {
  // Entries at chosen instants around the reference's 10:15:00, in one app of their own.
  let appName: string;
  let appCreated: string;
  const e = { created: '', assigned: '', roleCreated: '', updated: '' };

  beforeAll(async () => {
    const app = await seedApp();
    appName = app.name;
    appCreated = (await api('GET', `${logPath(app.name)}?action=app.created`)).body.data[0].id;
    e.created = await writeEntry(app.id, T - 1, { action: 'user.created', targetType: 'user', targetId: 'usr_01M8GCYKQVBFWM07Q9RW99N4X1' });
    e.assigned = await writeEntry(app.id, T, { action: 'role.assigned', targetType: 'user', targetId: 'usr_01M8GCYKQVBFWM07Q9RW99N4X1', actorId: 'key_01M8GCYKQVBFWM07Q9RW99N4K1' });
    e.roleCreated = await writeEntry(app.id, T + 999, { action: 'role.created', targetType: 'role', targetId: 'role_01M8GCYKQVBFWM07Q9RW99N4R1', actorId: 'usr_01M8GCYKQVBFWM07Q9RW99N4A1' });
    e.updated = await writeEntry(app.id, T + 1000, { action: 'user.updated', targetType: 'user', targetId: 'usr_01M8GCYKQVBFWM07Q9RW99N4Y1' });
  });

  it.each([
    ['action=role.assigned', ['assigned']],
    ['actor_id=usr_01M8GCYKQVBFWM07Q9RW99N4A1', ['roleCreated']],
    ['actor_id=key_01M8GCYKQVBFWM07Q9RW99N4K1', ['assigned']],
    ['target_type=user', ['updated', 'assigned', 'created']],
    ['target_id=usr_01M8GCYKQVBFWM07Q9RW99N4X1', ['assigned', 'created']],
    // Inclusive bounds at second precision: to=10:15:00Z reaches 10:15:00.999.
    ['from=2026-02-20T10:15:00Z&to=2026-02-20T10:15:00Z', ['roleCreated', 'assigned']],
    ['to=2026-02-20T10:15:00Z', ['roleCreated', 'assigned', 'created']],
    ['to=2026-02-20T10:14:59Z', ['created']],
    ['from=2026-02-20T10:14:59Z&to=2026-02-20T10:15:01Z', ['updated', 'roleCreated', 'assigned', 'created']],
    // A fraction counts from the start of its second, as the timestamps shown do.
    ['from=2026-02-20T10:15:00.700Z&to=2026-02-20T10:15:00.200Z', ['roleCreated', 'assigned']],
    // Offsets other than Z name the same instants.
    ['to=2026-02-20T11:15:00%2B01:00', ['roleCreated', 'assigned', 'created']],
    ['target_type=user&from=2026-02-20T10:15:00Z&to=2026-02-20T10:15:00Z', ['assigned']],
    ['action=user.created&target_id=usr_01M8GCYKQVBFWM07Q9RW99N4X1', ['created']],
    ['action=user.created&target_id=usr_01M8GCYKQVBFWM07Q9RW99N4Y1', []],
    ['actor_id=root&target_type=user&to=2026-02-20T10:15:01Z', ['updated', 'created']],
    ['target_type=role&actor_id=root', []],
  ])('?%s finds exactly the matching entries, newest first', async (q, expected) => {
    const res = await api('GET', `${logPath(appName)}?${q}`);
    expect(res.status, res.text).toBe(200);
    expect(ids(res)).toEqual(expected.map((k) => e[k as keyof typeof e]));
    expect(res.body.pagination.total).toBe(expected.length);
  });

  it('finds entries after a from bound up to now, the app\'s creation included', async () => {
    const res = await api('GET', `${logPath(appName)}?from=2026-02-20T10:15:01Z`);
    expect(ids(res)).toEqual([appCreated, e.updated]);
  });

  it.each([
    ['from=yesterday', 'from', 'invalid_format'],
    ['from=2026-02-20', 'from', 'invalid_format'],
    ['to=2026-02-20T10:15:00', 'to', 'invalid_format'],
    ['to=2026-02-20%2010:15:00Z', 'to', 'invalid_format'],
    ['from=2026-02-30T00:00:00Z', 'from', 'invalid_format'],
    ['from=2026-13-01T00:00:00Z', 'from', 'invalid_format'],
    ['to=2026-02-20T24:00:00Z', 'to', 'invalid_format'],
    ['to=2026-02-20T10:15:00%2B25:00', 'to', 'invalid_format'],
    ['to=1771582500', 'to', 'invalid_format'],
    ['from=', 'from', 'invalid_format'],
    ['from=2026-02-20T10:15:00Z&from=2026-02-21T10:15:00Z', 'from', 'invalid_type'],
    ['from=2026-02-20T10:15:01Z&to=2026-02-20T10:15:00Z', 'from', 'invalid_range'],
    ['action=role.assign', 'action', 'invalid_value'],
    ['action=ROLE.ASSIGNED', 'action', 'invalid_value'],
    ['target_type=users', 'target_type', 'invalid_value'],
    ['actor_id=', 'actor_id', 'too_short'],
    [`target_id=${'x'.repeat(129)}`, 'target_id', 'too_long'],
    ['limit=0', 'limit', 'too_small'],
    ['limit=101', 'limit', 'too_large'],
    ['offset=-1', 'offset', 'invalid_format'],
    ['actor=root', 'actor', 'unknown_field'],
    ['target=x', 'target', 'unknown_field'],
    ['app_id=app_01M8GCYKQVBFWM07Q9RW99N439', 'app_id', 'unknown_field'],
  ])('refuses ?%s with a 400 naming %s', async (q, field, reason) => {
    const app = await seedApp();
    const res = await api('GET', `${logPath(app.name)}?${q}`);
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, reason);
  });

  it('says which timestamps it accepts', async () => {
    const app = await seedApp();
    const res = await api('GET', `${logPath(app.name)}?to=2026-02-20`);
    expect(res.body.error.message).toBe('to must be an ISO 8601 date-time with a time zone, such as 2026-02-20T10:15:00Z');
  });

  it('treats SQL in filters as plain text', async () => {
    const app = await seedApp();
    for (const q of ["actor_id=root'%20OR%201=1--", 'target_id=%25', "target_id=x'%3B%20DELETE%20FROM%20audit_logs%3B--"]) {
      const res = await api('GET', `${logPath(app.name)}?${q}`);
      expect(res.status).toBe(200);
      expect(res.body.pagination.total).toBe(0);
    }
    expect(await count('SELECT count(*) AS n FROM audit_logs WHERE app_id = ?', app.id)).toBe(1);
  });
});

describe('pagination', () => {
  it('pages newest first in one stable order, also among entries of the same millisecond', async () => {
    const app = await seedApp();
    // Five instants, five entries each, written out of time order.
    const written: { id: string; at: number }[] = [];
    for (const at of [T + 3000, T, T + 1000, T + 4000, T + 2000]) {
      for (let i = 0; i < 5; i++) written.push({ id: await writeEntry(app.id, at), at });
    }
    const expected = written
      .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
      .map((w) => w.id);

    const all = await api('GET', `${logPath(app.name)}?to=2026-02-20T10:15:04Z&limit=100`);
    expect(ids(all)).toEqual(expected);

    const first = await api('GET', `${logPath(app.name)}?to=2026-02-20T10:15:04Z`);
    expect(first.body.pagination).toEqual({ total: 25, limit: 20, offset: 0, has_more: true });

    const pages: string[] = [];
    for (let offset = 0; offset < 25; offset += 7) {
      const res = await api('GET', `${logPath(app.name)}?to=2026-02-20T10:15:04Z&limit=7&offset=${offset}`);
      expect(res.body.pagination).toEqual({ total: 25, limit: 7, offset, has_more: offset + 7 < 25 });
      pages.push(...ids(res));
    }
    expect(pages).toEqual(expected);

    const beyond = await api('GET', `${logPath(app.name)}?offset=40`);
    expect(beyond.body).toEqual({ data: [], pagination: { total: 26, limit: 20, offset: 40, has_more: false } });
  });
});

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
    for (const principal of [
      { id: 'key_01M8GCYKQVBFWM07Q9RW99N4K3', apps: null, readOnly: false },
      { id: 'key_01M8GCYKQVBFWM07Q9RW99N4K4', apps: null, readOnly: true },
      { id: 'key_01M8GCYKQVBFWM07Q9RW99N4K5', apps: [app.name], readOnly: true },
    ]) {
      const get = asAdminKey(principal);
      for (const path of ['/v1/audit-logs', '/v1/audit-logs/export', `/v1/audit-logs/${global}`]) {
        const res = await get(path);
        expect(res.status, `${principal.id} ${path}`).toBe(403);
        expect(((await res.json()) as any).error.code).toBe('FORBIDDEN');
      }
      // The same keys may read the app's own log.
      const mine = await get(`${logPath(app.name)}/${own.id}`);
      expect(mine.status).toBe(200);
    }
  });

  it('lets a key limited to some apps read only their logs', async () => {
    const mine = await seedApp();
    const other = await seedApp();
    const get = asAdminKey({ id: 'key_01M8GCYKQVBFWM07Q9RW99N4K6', apps: [mine.name], readOnly: true });
    expect((await get(logPath(mine.name))).status).toBe(200);
    for (const path of [logPath(other.name), `${logPath(other.name)}/export`, `${logPath(other.name)}/aud_01M8GCYKQVBFWM07Q9RW99N439`]) {
      const res = await get(path);
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as any).error.code).toBe('FORBIDDEN');
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

describe('exporting a log as NDJSON', () => {
  it('walks the whole log oldest first in bounded pages, each entry exactly once', async () => {
    const app = await seedApp();
    const [created] = ids(await api('GET', logPath(app.name)));
    const written = [created];
    // Written in this order, with timestamps older than the app's creation: the export follows the writes.
    for (let i = 0; i < 11; i++) written.push(await writeEntry(app.id, T + i * 1000, { metadata: { n: i } }));
    const list = await api('GET', `${logPath(app.name)}?limit=100`);

    const first = await exportPage(`${logPath(app.name)}/export?limit=5`);
    expect(first.status).toBe(200);
    expect(first.headers.get('Content-Type')).toBe('application/x-ndjson; charset=utf-8');
    expect(first.headers.get('Cache-Control')).toBe('no-store');
    expect(first.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(first.text.endsWith('\n')).toBe(true);
    expect(first.entries).toHaveLength(5);
    // The next page is named in full, on the public base.
    expect(first.headers.get('Link')).toBe(`<https://heimdall.test${logPath(app.name)}/export?limit=5&after=${first.entries[4].id}>; rel="next"`);
    for (const entry of first.entries) expect(Object.keys(entry)).toEqual(ENTRY_FIELDS);

    const walk = await walkExport(`${logPath(app.name)}/export?limit=5`);
    expect(walk.pages).toBe(3);
    expect(walk.last.entries).toHaveLength(2);
    expect(walk.last.next).toBeNull();
    expect(walk.entries.map((entry) => entry.id)).toEqual(written);
    // Every line is the entry exactly as the list shows it.
    expect(walk.entries.slice().sort(byId)).toEqual(list.body.data.slice().sort(byId));
  });

  it('resumes from the last id a walk saw, including an entry that committed late with an older timestamp', async () => {
    const app = await seedApp();
    await writeEntry(app.id, T + 10_000);
    const walk = await walkExport(`${logPath(app.name)}/export`);
    const last = walk.entries.at(-1).id;
    // A slow request read the clock before the last entry was written, and committed after the walk.
    const late = await writeEntry(app.id, T + 5_000);
    const resumed = await exportPage(`${logPath(app.name)}/export?after=${last}`);
    expect(resumed.entries.map((entry) => entry.id)).toEqual([late]);
    const done = await exportPage(`${logPath(app.name)}/export?after=${late}`);
    expect(done.status).toBe(200);
    expect(done.text).toBe('');
    expect(done.next).toBeNull();
  });

  it('bounds the export by from and to exactly as the list does', async () => {
    const app = await seedApp();
    for (const at of [T - 1, T, T + 999, T + 1000]) await writeEntry(app.id, at);
    const range = 'from=2026-02-20T10:15:00Z&to=2026-02-20T10:15:00Z';
    const listed = await api('GET', `${logPath(app.name)}?${range}`);
    expect(listed.body.pagination.total).toBe(2);
    const exported = await exportPage(`${logPath(app.name)}/export?${range}&limit=1`);
    expect(exported.next).toContain(encodeURIComponent('2026-02-20T10:15:00Z'));
    const walk = await walkExport(`${logPath(app.name)}/export?${range}&limit=1`);
    expect(walk.entries.map((entry) => entry.id)).toEqual(ids(listed).reverse());
  });

  it.each([
    ['limit=0', 'limit', 'too_small'],
    ['limit=1001', 'limit', 'too_large'],
    ['limit=ten', 'limit', 'invalid_format'],
    ['after=', 'after', 'invalid_cursor'],
    ['after=aud_x', 'after', 'invalid_cursor'],
    ['from=2026-02-20', 'from', 'invalid_format'],
    ['from=2026-02-20T10:15:01Z&to=2026-02-20T10:15:00Z', 'from', 'invalid_range'],
    ['offset=10', 'offset', 'unknown_field'],
    ['action=app.created', 'action', 'unknown_field'],
  ])('refuses ?%s with a 400 naming %s', async (q, field, reason) => {
    const app = await seedApp();
    const res = await api('GET', `${logPath(app.name)}/export?${q}`);
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, reason);
  });

  it('serves up to 1000 entries a page, 500 by default', async () => {
    const app = await seedApp();
    const values = Array.from({ length: 600 }, (_, i) => `('aud_01M8GCYKQVBFWM07Q9RW99N${String(i).padStart(3, '0')}', '${app.id}', 'root', 'app.updated', 'app', '{}', ${T + i})`);
    // Plain inserts: the triggers refuse only updates, deletes and replaced ids.
    await env.DB.prepare(`INSERT INTO audit_logs (id, app_id, actor_id, action, target_type, metadata, timestamp) VALUES ${values.join(', ')}`).run();
    const byDefault = await exportPage(`${logPath(app.name)}/export`);
    expect(byDefault.entries).toHaveLength(500);
    expect(byDefault.next).not.toBeNull();
    const max = await exportPage(`${logPath(app.name)}/export?limit=1000`);
    expect(max.entries).toHaveLength(601);
    expect(max.next).toBeNull();
  });

  it('keeps each entry on one line whatever its metadata holds', async () => {
    const app = await seedApp();
    const hostile = { note: 'line1\nline2\r\nline3', html: '</script><script>alert(1)</script>', ansi: '\u001b[31mred\u001b[0m', sep: 'a\u2028b\u2029c', nul: 'x\u0000y' };
    expect((await api('PATCH', `/v1/apps/${app.name}`, { body: { metadata: hostile } })).status).toBe(200);
    const page = await exportPage(`${logPath(app.name)}/export`);
    expect(page.text.split('\n')).toHaveLength(3); // two entries and the final newline
    expect(page.entries[1].metadata.changes.metadata.to).toEqual(hostile);
    const listed = await api('GET', `${logPath(app.name)}?action=app.updated`);
    expect(listed.body.data[0].metadata.changes.metadata.to).toEqual(hostile);
  });
});
