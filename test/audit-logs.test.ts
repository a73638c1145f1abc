import { beforeAll, describe, expect, it } from 'vitest';
import {
  ISO_SECONDS,
  PASSWORD,
  api,
  count,
  createRole,
  createUser,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
} from './helpers';
import { ENTRY_FIELDS, T, ids, logPath, writeEntry } from './audit-helpers';

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
