import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ISO_SECONDS, api, auditRows, expectDetail, expectError, idPattern, seedApp, uniqueName } from './helpers';

describe('creating an app', () => {
  it('answers the reference example with every field, and stores the default admin role', async () => {
    // The reference's request, verbatim except for the name, which must be unique in this file's database.
    const res = await api('POST', '/v1/apps', {
      body: { name: 'acme-corp', display_name: 'Acme Corporation', metadata: { plan: 'growth', region: 'us-east-1' } },
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'name', 'display_name', 'status', 'metadata', 'created_at', 'updated_at']);
    expect(res.body.id).toMatch(idPattern('app_'));
    expect(res.body).toMatchObject({
      name: 'acme-corp',
      display_name: 'Acme Corporation',
      status: 'active',
      metadata: { plan: 'growth', region: 'us-east-1' },
    });
    expect(res.body.created_at).toMatch(ISO_SECONDS);
    expect(res.body.updated_at).toBe(res.body.created_at);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    expect(res.headers.get('X-Request-Id')).toMatch(/^req_/);

    const role = await env.DB.prepare('SELECT name, permissions FROM roles WHERE app_id = ?').bind(res.body.id).first();
    expect(role).toEqual({ name: 'admin', permissions: '["*"]' });

    const got = await api('GET', '/v1/apps/acme-corp');
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it('refuses a taken name with 409, and writes nothing', async () => {
    const app = await seedApp();
    const before = await env.DB.prepare('SELECT count(*) AS n FROM audit_logs').first('n');
    const res = await api('POST', '/v1/apps', { body: { name: app.name } });
    expectError(res, 409, 'CONFLICT');
    expectDetail(res, 'name', 'taken');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM audit_logs').first('n')).toBe(before);
  });

  // Twenty creates racing for one name: test/security/races.test.ts.

  it.each([
    ['ab', 'too short'],
    ['a'.repeat(64), 'too long'],
    ['Acme', 'upper case'],
    ['-acme', 'leading dash'],
    ['acme-', 'trailing dash'],
    ['acme_corp', 'underscore'],
    ['acme corp', 'space'],
    ['../admin', 'path traversal'],
    ['acme\u202ecorp', 'bidi override'],
    ['   ', 'whitespace only'],
  ])('refuses the app name %j (%s) with a details entry', async (name) => {
    const res = await api('POST', '/v1/apps', { body: { name } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'name', 'invalid_format');
  });

  it('accepts names of exactly 3 and 63 characters', async () => {
    const three = `a${Math.random().toString(36).slice(2, 3)}z`;
    expect((await api('POST', '/v1/apps', { body: { name: three } })).status).toBe(201);
    const long = `${`${uniqueName()}-`.padEnd(62, 'x')}9`;
    expect(long).toHaveLength(63);
    expect((await api('POST', '/v1/apps', { body: { name: long } })).status).toBe(201);
  });

  it('requires a name', async () => {
    const res = await api('POST', '/v1/apps', { body: { display_name: 'x' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'name', 'required');
    expect(res.body.error.message).toBe('name is required');
  });

  it.each([
    [{ metadata: [] }, 'metadata', 'invalid_type'],
    [{ metadata: 'x' }, 'metadata', 'invalid_type'],
    [{ metadata: null }, 'metadata', 'invalid_type'],
    [{ metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) }, 'metadata', 'too_many_keys'],
    [{ metadata: { ['k'.repeat(41)]: 1 } }, `metadata.${'k'.repeat(41)}`, 'invalid_key'],
    [{ metadata: { big: 'x'.repeat(8200) } }, 'metadata', 'too_large'],
    [{ display_name: '' }, 'display_name', 'too_short'],
    [{ display_name: 'x'.repeat(201) }, 'display_name', 'too_long'],
    [{ display_name: 'evil\r\nname' }, 'display_name', 'invalid_characters'],
    [{ display_name: 7 }, 'display_name', 'invalid_type'],
  ])('refuses bad metadata and display names: %j', async (extra, field, reason) => {
    const name = uniqueName();
    const res = await api('POST', '/v1/apps', { body: { name, ...extra } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, reason);
    expect(await env.DB.prepare('SELECT count(*) AS n FROM apps WHERE name = ?').bind(name).first('n')).toBe(0);
  });

  it('accepts metadata at its limits: 50 keys, 40-character keys', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${i}`.padStart(40, 'k'), i]));
    const res = await api('POST', '/v1/apps', { body: { name: uniqueName(), metadata } });
    expect(res.status).toBe(201);
    expect(res.body.metadata).toEqual(metadata);
  });

  it('refuses unknown fields, naming each', async () => {
    const res = await api('POST', '/v1/apps', { body: { name: uniqueName(), id: 'app_x', is_admin: true } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'id', 'unknown_field');
    expectDetail(res, 'is_admin', 'unknown_field');
  });

  it.each([
    ['{"name":', 'invalid_json'],
    ['', 'required'],
    ['null', 'invalid_type'],
    ['[]', 'invalid_type'],
    ['"acme"', 'invalid_type'],
    ['{"name":"dup-a","name":"dup-b"}', 'duplicate_field'],
    ['['.repeat(10_000) + ']'.repeat(10_000), 'too_deep'],
  ])('refuses the body %j with a clear 400', async (raw, reason) => {
    const res = await api('POST', '/v1/apps', { raw: raw as string, headers: { 'Content-Type': 'application/json' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expect(res.body.error.details.map((d: { reason: string }) => d.reason)).toContain(reason);
    expect(res.text).not.toMatch(/SyntaxError|at JSON|Unexpected/);
  });

  it('refuses prototype keys and pollutes nothing', async () => {
    const res = await api('POST', '/v1/apps', { raw: `{"name":"${uniqueName()}","__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}`, headers: { 'Content-Type': 'application/json' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, '__proto__', 'forbidden_key');
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const viaConstructor = await api('POST', '/v1/apps', { raw: `{"name":"${uniqueName()}","constructor":{"prototype":{"x":1}}}`, headers: { 'Content-Type': 'application/json' } });
    expectDetail(viaConstructor, 'constructor', 'unknown_field');
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16'])('refuses the content type %s', async (type) => {
    const res = await api('POST', '/v1/apps', { raw: JSON.stringify({ name: uniqueName() }), headers: { 'Content-Type': type } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'Content-Type', 'unsupported_media_type');
  });

  it('accepts application/json; charset=utf-8', async () => {
    const res = await api('POST', '/v1/apps', { raw: JSON.stringify({ name: uniqueName() }), headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(201);
  });

  it('answers 413 for a body over 64 KiB, by Content-Length and by stream', async () => {
    const big = JSON.stringify({ name: uniqueName(), metadata: { x: 'y'.repeat(64 * 1024) } });
    const res = await api('POST', '/v1/apps', { raw: big, headers: { 'Content-Type': 'application/json' } });
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    const exact = `{"name":"${'a'.repeat(64 * 1024 - 10)}"}`;
    expect(exact.length).toBe(64 * 1024 + 1);
    expectError(await api('POST', '/v1/apps', { raw: exact, headers: { 'Content-Type': 'application/json' } }), 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('admin authentication', () => {
  it('answers no key, a wrong key and a key one character off with the same 401', async () => {
    const { ROOT_KEY } = await import('./helpers');
    const variants: (string | null)[] = [null, 'wrong', ROOT_KEY.slice(0, -1), `${ROOT_KEY}x`, ROOT_KEY.slice(0, -1) + (ROOT_KEY.endsWith('f') ? 'e' : 'f'), ROOT_KEY.toUpperCase()];
    const bodies = new Set<string>();
    for (const key of variants) {
      const res = await api('GET', '/v1/apps', { key });
      expectError(res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
      bodies.add(res.text);
    }
    for (const header of [`bearer ${ROOT_KEY}`, `Basic ${ROOT_KEY}`, ROOT_KEY, `Bearer  ${ROOT_KEY}`]) {
      const res = await api('GET', '/v1/apps', { key: null, headers: { Authorization: header } });
      expectError(res, 401, 'UNAUTHORIZED');
      bodies.add(res.text);
    }
    const inQuery = await api('GET', `/v1/apps?api_key=${ROOT_KEY}`, { key: null });
    expect(inQuery.status).toBe(401);
    bodies.add(inQuery.text);
    expect(bodies.size).toBe(1);
  });

  it('refuses a write without a key and changes nothing', async () => {
    const name = uniqueName();
    expectError(await api('POST', '/v1/apps', { key: null, body: { name } }), 401, 'UNAUTHORIZED');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM apps WHERE name = ?').bind(name).first('n')).toBe(0);
  });
});

describe('listing apps', () => {
  it('paginates with defaults, totals and has_more in a stable newest-first order', async () => {
    const created = [];
    for (let i = 0; i < 25; i++) created.push((await seedApp()).id);
    const all = await api('GET', '/v1/apps?limit=100');
    const total = all.body.pagination.total;
    expect(total).toBeGreaterThanOrEqual(25);

    const first = await api('GET', '/v1/apps');
    expect(first.status).toBe(200);
    expect(first.body.pagination).toEqual({ total, limit: 20, offset: 0, has_more: true });
    expect(first.body.data).toHaveLength(20);
    // Newest first: the 20 most recent are the last 20 created, reversed.
    expect(first.body.data.map((a: { id: string }) => a.id)).toEqual(created.slice(-20).reverse());

    const pages: string[] = [];
    for (let offset = 0; offset < total; offset += 7) {
      const res = await api('GET', `/v1/apps?limit=7&offset=${offset}`);
      expect(res.body.pagination).toEqual({ total, limit: 7, offset, has_more: offset + 7 < total });
      pages.push(...res.body.data.map((a: { id: string }) => a.id));
    }
    expect(pages).toEqual(all.body.data.map((a: { id: string }) => a.id));
    expect(new Set(pages).size).toBe(total);

    const beyond = await api('GET', `/v1/apps?offset=${total + 5}`);
    expect(beyond.body).toEqual({ data: [], pagination: { total, limit: 20, offset: total + 5, has_more: false } });
  });

  it.each(['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=1e3', 'offset=-1', 'offset=abc', 'limit=10&limit=100', 'status=deleted', 'app_id=x'])(
    'refuses ?%s with a 400 naming the parameter',
    async (q) => {
      const res = await api('GET', `/v1/apps?${q}`);
      expectError(res, 400, 'VALIDATION_ERROR');
      const field = q.split('=')[0]!;
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    },
  );

  it('accepts limit=100 and filters by status', async () => {
    const app = await seedApp();
    await api('DELETE', `/v1/apps/${app.name}`);
    const archived = await api('GET', '/v1/apps?status=archived&limit=100');
    expect(archived.status).toBe(200);
    expect(archived.body.data.every((a: { status: string }) => a.status === 'archived')).toBe(true);
    expect(archived.body.data.map((a: { id: string }) => a.id)).toContain(app.id);
    const active = await api('GET', '/v1/apps?status=active&limit=100');
    expect(active.body.data.map((a: { id: string }) => a.id)).not.toContain(app.id);
  });
});

describe('updating, archiving and restoring an app', () => {
  it('changes only the fields sent, replaces metadata whole, and audits what changed', async () => {
    const app = await seedApp({ metadata: { plan: 'growth', region: 'eu' } });
    const res = await api('PATCH', `/v1/apps/${app.name}`, { body: { metadata: { plan: 'scale' } } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: app.id, name: app.name, display_name: 'Test App', metadata: { plan: 'scale' } });
    const rows = await auditRows(app.id, 'app.updated');
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0].metadata)).toEqual({ changes: { metadata: { from: { plan: 'growth', region: 'eu' }, to: { plan: 'scale' } } } });
    expect(rows[0]).toMatchObject({ actor_id: 'root', target_type: 'app', target_id: app.id });
  });

  it('refuses a name change as immutable', async () => {
    const app = await seedApp();
    const res = await api('PATCH', `/v1/apps/${app.name}`, { body: { name: 'other-name' } });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, 'name', 'immutable');
  });

  it('archives, refuses writes while archived, keeps the name taken, and restores', async () => {
    const app = await seedApp();
    const archived = await api('DELETE', `/v1/apps/${app.name}`);
    expect(archived.status).toBe(200);
    expect(archived.body).toMatchObject({ id: app.id, status: 'archived' });

    expectError(await api('PATCH', `/v1/apps/${app.name}`, { body: { display_name: 'x' } }), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', `/v1/apps/${app.name}`), 409, 'APP_ARCHIVED');
    expect((await api('GET', `/v1/apps/${app.name}`)).body.status).toBe('archived');
    expectError(await api('POST', '/v1/apps', { body: { name: app.name } }), 409, 'CONFLICT');

    const restored = await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } });
    expect(restored.status).toBe(200);
    expect(restored.body.status).toBe('active');
    expect((await api('PATCH', `/v1/apps/${app.name}`, { body: { display_name: 'Back' } })).body.display_name).toBe('Back');
  });

  it('unknown apps are 404 on every verb', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await api(method, '/v1/apps/no-such-app', method === 'PATCH' ? { body: { display_name: 'x' } } : {});
      expectError(res, 404, 'NOT_FOUND');
    }
  });
});

describe('the audit trail of app changes', () => {
  it('writes exactly one entry per change, in the app\'s own log', async () => {
    const app = await seedApp();
    await api('PATCH', `/v1/apps/${app.name}`, { body: { display_name: 'Renamed' } });
    await api('PATCH', `/v1/apps/${app.name}`, { body: { display_name: 'Renamed' } }); // no change, no entry
    await api('DELETE', `/v1/apps/${app.name}`);
    await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } });
    const rows = await auditRows(app.id);
    expect(rows.map((r) => r.action)).toEqual(['app.created', 'app.updated', 'app.archived', 'app.updated']);
    for (const row of rows) {
      expect(row).toMatchObject({ app_id: app.id, actor_id: 'root', target_type: 'app', target_id: app.id });
      expect(row.id).toMatch(idPattern('aud_'));
    }
    expect(JSON.parse(rows[3].metadata)).toEqual({ changes: { status: { from: 'archived', to: 'active' } } });
  });

  it('records the caller IP from CF-Connecting-IP, never from X-Forwarded-For', async () => {
    const res = await api('POST', '/v1/apps', {
      body: { name: uniqueName() },
      headers: { 'CF-Connecting-IP': '203.0.113.42', 'X-Forwarded-For': '198.51.100.7', 'User-Agent': 'heimdall-tests/1' },
    });
    const [row] = await auditRows(res.body.id, 'app.created');
    expect(row).toMatchObject({ ip_address: '203.0.113.42', user_agent: 'heimdall-tests/1' });
  });

  it('is refused UPDATE and DELETE by the database itself', async () => {
    const app = await seedApp();
    const [row] = await auditRows(app.id);
    await expect(env.DB.prepare("UPDATE audit_logs SET action = 'x' WHERE id = ?").bind(row.id).run()).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare('DELETE FROM audit_logs WHERE id = ?').bind(row.id).run()).rejects.toThrow(/append-only/);
    expect((await auditRows(app.id))[0]).toEqual(row);
  });
});

describe('unknown routes and methods', () => {
  it('answers an unknown route with 404 in the error shape', async () => {
    for (const path of ['/v1/nope', '/.git/config', '/', '/v2/apps']) {
      const res = await api('GET', path);
      expectError(res, 404, 'NOT_FOUND');
      expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    }
  });

  it('answers a wrong method with 405, an Allow header and the error shape', async () => {
    const res = await api('PUT', '/v1/apps/acme-corp', { body: {} });
    expectError(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.get('Allow')).toBe('DELETE, GET, HEAD, PATCH');
    const trace = await api('DELETE', '/v1/apps');
    expectError(trace, 405, 'METHOD_NOT_ALLOWED');
    expect(trace.headers.get('Allow')).toBe('GET, HEAD, POST');
  });
});
