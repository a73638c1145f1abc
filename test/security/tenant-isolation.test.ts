/**
 * Tenant isolation over the route table (docs/security-decisions.md#tenant-isolation; ASVS 5 V8.2.2,
 * V8.4.1): every route nested under an app, called through app A's path
 * with one of app B's ids, answers exactly the 404 of an id that does not
 * exist, and changes nothing in A, in B or in the global tables (rows and
 * audit logs compared whole). Bodies naming B's roles, and B's credentials
 * and tokens presented to A, get A's answer for unknown ones, and B is
 * left as it was.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { api, authorizeCall, expectDetail, expectError, freshIp } from '../helpers';
import { callRoute, expectRouteHeaders } from './call';
import { BODIES, PARAMS, PROTECTED, ROUTES, type Route } from './routes';
import { appRows, buildWorld, globalRows, mintRefreshToken, type World } from './world';

let a: World;
let b: World;

beforeAll(async () => {
  [a, b] = [await buildWorld(), await buildWorld()];
});

/** Everything the two apps and the global tables hold, to compare before and after. */
async function everything() {
  return { a: await appRows(a.app.id), b: await appRows(b.app.id), global: await globalRows() };
}

const byId = (id: string) => ROUTES.find((r) => r.id === id)!;

/** Routes that name something inside an app besides the app itself. */
const NESTED = PROTECTED.filter((r) => r.params[0] === 'app_name' && r.params.length > 1);

describe('every route nested under an app', () => {
  it('covers each kind of id an app owns', () => {
    expect(new Set(NESTED.flatMap((r) => r.params.slice(1)))).toEqual(new Set(['user_id', 'role_name', 'credential_id', 'invite_id', 'log_id']));
  });

  it.each(NESTED)('$id answers another app\'s id with the 404 of an unknown id, and changes nothing', async (route: Route) => {
    for (const param of route.params.slice(1)) {
      const before = await everything();
      const body = BODIES[route.id]?.(a) ?? null;
      const foreign = await callRoute(route, a, { params: { [param]: PARAMS[param]!.of(b, route) }, body });
      const unknown = await callRoute(route, a, { params: { [param]: PARAMS[param]!.unknown }, body });
      expectError(foreign, 404, 'NOT_FOUND');
      expectRouteHeaders(route, foreign);
      expect(foreign.text, param).toBe(unknown.text);
      expect(await everything(), `${route.id} with B's ${param}`).toEqual(before);
    }
  });
});

describe('a body naming another app\'s role', () => {
  it.each([
    ['POST /v1/apps/:app_name/users', () => ({ email: `someone-${Date.now()}@example.com`, role: b.roleName }), 'role'],
    ['POST /v1/apps/:app_name/users', () => ({ email: `someone-${Date.now()}@example.com`, roles: [b.roleName] }), 'roles.0'],
    ['POST /v1/apps/:app_name/users/:user_id/roles', () => ({ role: b.spareRoleName }), 'role'],
    ['POST /v1/apps/:app_name/invites', () => ({ role: b.roleName }), 'role'],
  ] as const)('%s is refused as an unknown role (%#), and changes nothing', async (id, body, field) => {
    const before = await everything();
    const res = await callRoute(byId(id), a, { body: body() });
    expectError(res, 400, 'VALIDATION_ERROR');
    expectDetail(res, field, 'unknown_role');
    expect(await everything()).toEqual(before);
  });

  it('is not a tenant hint either: X-App-Id and app_id name nothing', async () => {
    const before = await everything();
    const res = await callRoute(byId('GET /v1/apps/:app_name/users'), a, { headers: { 'X-App-Id': b.app.id, 'X-App-Name': b.app.name } });
    expect(res.status).toBe(200);
    expect(res.body.data.map((u: { app_id: string }) => u.app_id)).toEqual([a.app.id]);
    expectDetail(await callRoute(byId('GET /v1/apps/:app_name/users'), a, { query: `?app_id=${b.app.id}` }), 'app_id', 'unknown_field');
    expect(await everything()).toEqual(before);
  });
});

describe('another app\'s credentials and tokens presented to an app', () => {
  it('a client id and secret of B are refused by A like an unknown client, and B keeps its credential', async () => {
    const path = `/v1/apps/${a.app.name}/tokens`;
    const ip = freshIp();
    const send = (clientId: string, secret: string) =>
      api('POST', path, { key: null, headers: { 'CF-Connecting-IP': ip }, body: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret } });
    const foreign = await send(b.clientId, b.clientSecret);
    const unknown = await send(`svc_${'0'.repeat(36)}`, b.clientSecret);
    expectError(foreign, 401, 'INVALID_CREDENTIALS');
    expect(foreign.text).toBe(unknown.text);
    const before = await appRows(b.app.id);
    expect((await api('POST', `/v1/apps/${b.app.name}/tokens`, { key: null, body: { grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret } })).status).toBe(200);
    expect((await appRows(b.app.id)).credentials).toEqual(before.credentials);
  });

  it('a refresh token of B refreshes nothing and revokes nothing through A', async () => {
    const token = await mintRefreshToken(b.app.id, b.userId);
    const refresh = (app: string, refreshToken: string) => api('POST', `/v1/apps/${app}/tokens/refresh`, { key: null, body: { refresh_token: refreshToken } });
    const foreign = await refresh(a.app.name, token);
    expectError(foreign, 401, 'INVALID_TOKEN');
    expect(foreign.text).toBe((await refresh(a.app.name, `rt_${'0'.repeat(52)}`)).text);
    const revoke = await api('POST', `/v1/apps/${a.app.name}/tokens/revoke`, { key: null, body: { refresh_token: token } });
    expect([revoke.status, revoke.body]).toEqual([200, {}]);
    // Neither the probe nor the revocation through A touched B's family.
    expect((await refresh(b.app.name, token)).status).toBe(200);
  });

  it('an access token of B is checked as B\'s, and an authorize call expecting A says app_mismatch', async () => {
    const res = await authorizeCall({ token: b.accessToken, permission: 'projects:read', app: a.app.name });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: false, reason: 'app_mismatch', app: b.app.name });
  });
});
