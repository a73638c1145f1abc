/**
 * The shared auth and tenant-isolation checks, run over every admin route the
 * router holds (read from `app.routes`), so a route added later cannot skip
 * them: no key is 401, a key limited to other apps is 403 on every
 * `/v1/apps/:app_name...` route, a read-only key is 403 on every write, and a
 * managed key is 403 on root-only routes.
 */
import { describe, expect, it } from 'vitest';
import { PUBLIC_APP_ROUTES, app } from '../src/app';
import { api, createAdminKey, expectError, seedApp } from './helpers';

const PUBLIC_ROUTES = new Set<string>([...PUBLIC_APP_ROUTES, '/v1/invites/:invite_token/accept', '/v1/authorize']);
const ROOT_ONLY = /^\/v1\/(admin-keys|audit-logs|signing-keys)(\/|$)/;

const adminRoutes = [
  ...new Map(
    app.routes
      .filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/') && !PUBLIC_ROUTES.has(r.path) && !r.path.includes('.well-known'))
      .map((r) => [`${r.method} ${r.path}`, { method: r.method, path: r.path }]),
  ).values(),
];

function fill(path: string, appName: string): string {
  return path.replace(':app_name', appName).replace(/:[A-Za-z_]+/g, 'x_0');
}

function bodyFor(method: string): unknown {
  return method === 'GET' || method === 'DELETE' ? undefined : {};
}

describe('every admin route', () => {
  it('is found in the router', () => {
    expect(adminRoutes.length).toBeGreaterThanOrEqual(8);
    expect(adminRoutes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining([
      'POST /v1/apps', 'GET /v1/apps/:app_name', 'POST /v1/admin-keys', 'DELETE /v1/admin-keys/:key_id',
    ]));
  });

  it.each(adminRoutes)('$method $path answers 401 without a key', async ({ method, path }) => {
    const res = await api(method, fill(path, 'some-app'), { key: null, body: bodyFor(method) });
    expectError(res, 401, 'UNAUTHORIZED');
    expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
  });

  it.each(adminRoutes.filter((r) => r.path.startsWith('/v1/apps/:app_name')))(
    '$method $path answers 403 to a key limited to another app',
    async ({ method, path }) => {
      const mine = await seedApp();
      const theirs = await seedApp();
      const key = await createAdminKey({ apps: [mine.name] });
      expectError(await api(method, fill(path, theirs.name), { key: key.key, body: bodyFor(method) }), 403, 'FORBIDDEN');
    },
  );

  it.each(adminRoutes.filter((r) => !['GET', 'HEAD'].includes(r.method)))(
    '$method $path answers 403 to a read-only key',
    async ({ method, path }) => {
      const app = await seedApp();
      const key = await createAdminKey({ read_only: true });
      expectError(await api(method, fill(path, app.name), { key: key.key, body: bodyFor(method) }), 403, 'FORBIDDEN');
    },
  );

  it.each(adminRoutes.filter((r) => ROOT_ONLY.test(r.path)))('$method $path answers 403 to a managed key', async ({ method, path }) => {
    const key = await createAdminKey();
    expectError(await api(method, fill(path, 'some-app'), { key: key.key, body: bodyFor(method) }), 403, 'FORBIDDEN');
  });
});

describe('the tenant check is structural', () => {
  it('also covers routes nested under an app that no router serves yet', async () => {
    const mine = await seedApp();
    const theirs = await seedApp();
    const key = await createAdminKey({ apps: [mine.name] });
    expectError(await api('GET', `/v1/apps/${theirs.name}/not-a-resource-yet`, { key: key.key }), 403, 'FORBIDDEN');
    expectError(await api('GET', `/v1/apps/${mine.name}/not-a-resource-yet`, { key: key.key }), 404, 'NOT_FOUND');
  });

  it('decodes the app name the same way the routes do', async () => {
    const mine = await seedApp();
    const key = await createAdminKey({ apps: [mine.name] });
    const encoded = [...mine.name].map((ch) => `%${ch.charCodeAt(0).toString(16)}`).join('');
    expect((await api('GET', `/v1/apps/${encoded}`, { key: key.key })).status).toBe(200);
    expectError(await api('GET', `/v1/apps/${mine.name}%2F..%2Fother`, { key: key.key }), 403, 'FORBIDDEN');
  });
});
