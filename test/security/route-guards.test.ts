/**
 * The guards of every route the router serves (docs/security-decisions.md:
 * admin key failures, error answers, response headers and CORS, rate-limit headers), run over the table read from `app.routes`:
 * - a valid call answers 2xx with the headers of its class;
 * - every protected route answers no key and every wrong key with one
 *   identical 401, a key limited to another app and a read-only key (on a
 *   write) and a managed key (on a root-only route) with 403, and each
 *   refusal changes nothing;
 * - other spellings of a path (percent-encoded, dot segments, doubled or
 *   trailing slashes) meet the same guards;
 * - a method the path does not serve is 405 with `Allow`;
 * - no route grants CORS to a foreign origin, and a preflight carrying
 *   `Authorization` is refused.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT_KEY, api, createAdminKey, expectError, seedApp, type ApiResponse } from '../helpers';
import { callRoute, expectRateLimitHeaders, expectRouteHeaders } from './call';
import { BODIES, BODY_VARIANTS, PARAMS, PROTECTED, QUERIES, ROUTES, missingFixtures, type Route } from './routes';
import { buildWorld, rowCounts, type World } from './world';

let world: World;
let other: World;
const keys = {} as { scopedToOther: string; readOnly: string; managed: string; revoked: string };

beforeAll(async () => {
  world = await buildWorld();
  other = await buildWorld();
  const revoked = await createAdminKey();
  await api('DELETE', `/v1/admin-keys/${revoked.id}`);
  keys.scopedToOther = (await createAdminKey({ apps: [other.app.name] })).key;
  keys.readOnly = (await createAdminKey({ read_only: true })).key;
  keys.managed = (await createAdminKey()).key;
  keys.revoked = revoked.key;
});

const ids = (routes: readonly Route[]) => routes.map((r) => r.id);

/** A valid body for the route, so that a refusal is about the key and nothing else. */
const bodyFor = (route: Route, w: World) => BODIES[route.id]?.(w) ?? null;

describe('the route table', () => {
  it('holds every route the router serves, each with the fixtures and body the suites need', () => {
    expect(ROUTES.length).toBeGreaterThanOrEqual(45);
    expect(ROUTES.flatMap((r) => missingFixtures(r).map((m) => `${r.id} lacks ${m}`))).toEqual([]);
    // No entry outlives its route.
    const served = new Set(ids(ROUTES));
    for (const id of [...Object.keys(BODIES), ...Object.keys(BODY_VARIANTS), ...Object.keys(QUERIES)]) expect(served, id).toContain(id);
  });

  it('classifies each route by the router\'s own guards', () => {
    const access = Object.fromEntries(ROUTES.map((r) => [r.id, r.access]));
    expect(access).toMatchObject({
      'POST /v1/apps': 'admin',
      'GET /v1/apps/:app_name/audit-logs/:log_id': 'admin',
      'POST /v1/admin-keys': 'root',
      'POST /v1/signing-keys/rotate': 'root',
      'GET /v1/audit-logs/:log_id': 'root',
      'POST /v1/apps/:app_name/tokens': 'token',
      'POST /v1/invites/:invite_token/accept': 'token',
      'POST /v1/authorize': 'authorize',
      'GET /v1/.well-known/jwks.json': 'document',
      'GET /docs': 'document',
    });
    expect(ROUTES.filter((r) => r.json).length).toBeGreaterThanOrEqual(13);
  });

  it('names what a new route lacks, so it cannot slip past the suites', () => {
    const added: Route = { method: 'POST', path: '/v1/apps/:app_name/widgets/:widget_id', id: 'POST /v1/apps/:app_name/widgets/:widget_id', params: ['app_name', 'widget_id'], access: 'admin', write: true, takesBody: true };
    expect(missingFixtures(added)).toEqual(['parameter widget_id', 'a body in BODIES']);
  });
});

describe('a valid call', () => {
  it.each(ROUTES)('$id answers 2xx, with the headers of its class and no CORS grant to a foreign origin', async (route) => {
    // A write may archive, revoke or delete what it names: it gets a world of its own.
    const w = route.write ? await buildWorld() : world;
    const res = await callRoute(route, w, { body: bodyFor(route, w), headers: { Origin: 'https://evil.example' } });
    expect(res.status, res.text).toBeGreaterThanOrEqual(200);
    expect(res.status, res.text).toBeLessThan(300);
    expectRouteHeaders(route, res);
  });
});

/** Every wrong way to present an admin key (docs/security-decisions.md#admin-key-failures): each must be the one 401. */
function wrongKeys(w: World): [string, Record<string, string>, string][] {
  const bearer = (value: string) => ({ Authorization: `Bearer ${value}` });
  return [
    ['no key', {}, ''],
    ['a random key', bearer('not-a-key-at-all'), ''],
    ['the root key less its last character', bearer(ROOT_KEY.slice(0, -1)), ''],
    ['the root key and one more character', bearer(`${ROOT_KEY}0`), ''],
    ['the root key in upper case', bearer(ROOT_KEY.toUpperCase()), ''],
    ['the bearer scheme in lower case', { Authorization: `bearer ${ROOT_KEY}` }, ''],
    ['the Basic scheme', { Authorization: `Basic ${btoa(`${ROOT_KEY}:`)}` }, ''],
    ['no scheme', { Authorization: ROOT_KEY }, ''],
    ['the key in the query string', {}, `?api_key=${ROOT_KEY}`],
    ['an access token', bearer(w.accessToken), ''],
    ['a client secret', bearer(w.clientSecret), ''],
    ['a refresh token', bearer(w.refreshToken), ''],
    ['a managed key less its last character', bearer(w.key.slice(0, -1)), ''],
    ['a revoked managed key', bearer(keys.revoked), ''],
  ];
}

let the401: string | undefined;

function expectRefusal(route: Route, res: ApiResponse, status: number, code: string): void {
  expectError(res, status, code);
  expectRouteHeaders(route, res);
}

describe('every protected route', () => {
  it.each(PROTECTED)('$id answers no key and every wrong key with one identical 401, and changes nothing', async (route) => {
    const before = await rowCounts();
    for (const [name, headers, query] of wrongKeys(world)) {
      const res = await callRoute(route, world, { key: null, headers, query: query || undefined, body: bodyFor(route, world) });
      expectRefusal(route, res, 401, 'UNAUTHORIZED');
      expect(res.headers.get('WWW-Authenticate'), name).toBe('Bearer');
      the401 ??= res.text;
      expect(res.text, name).toBe(the401);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it.each(PROTECTED.filter((r) => r.params[0] === 'app_name'))('$id answers 403 to a key limited to another app, and changes nothing', async (route) => {
    const before = await rowCounts();
    expectRefusal(route, await callRoute(route, world, { key: keys.scopedToOther, body: bodyFor(route, world) }), 403, 'FORBIDDEN');
    expect(await rowCounts()).toEqual(before);
  });

  it.each(PROTECTED.filter((r) => r.params[0] === 'app_name' && !r.write))('$id serves a key limited to its app', async (route) => {
    const scoped = await createAdminKey({ apps: [world.app.name], read_only: true });
    const res = await callRoute(route, world, { key: scoped.key });
    expect(res.status, res.text).toBe(200);
    expectRateLimitHeaders(res);
  });

  it.each(PROTECTED.filter((r) => r.write))('$id answers 403 to a read-only key, and changes nothing', async (route) => {
    const before = await rowCounts();
    expectRefusal(route, await callRoute(route, world, { key: keys.readOnly, body: bodyFor(route, world) }), 403, 'FORBIDDEN');
    expect(await rowCounts()).toEqual(before);
  });

  it.each(PROTECTED.filter((r) => r.access === 'root'))('$id answers 403 to a managed key, and changes nothing', async (route) => {
    const before = await rowCounts();
    expectRefusal(route, await callRoute(route, world, { key: keys.managed, body: bodyFor(route, world) }), 403, 'FORBIDDEN');
    expect(await rowCounts()).toEqual(before);
  });
});

/** Other spellings of a path that URL parsing or the router may read as the same route. */
function spellings(path: string): string[] {
  const rest = path.slice('/v1/'.length);
  const letter = rest.charCodeAt(0).toString(16);
  return [`/v1/%${letter}${rest.slice(1)}`, `/v1/./${rest}`, `/v1/x/../${rest}`, `/v1//${rest}`, `//v1/${rest}`, `${path}/`];
}

describe('every protected route, spelled otherwise', () => {
  it.each(PROTECTED)('$id meets its guards under every spelling of its path, and changes nothing', async (route) => {
    const before = await rowCounts();
    const refusers: [string, string | null][] = [['no key', null], ['a read-only key', keys.readOnly]];
    if (route.params[0] === 'app_name') refusers.push(['a key of another app', keys.scopedToOther]);
    if (route.access === 'root') refusers.push(['a managed key', keys.managed]);
    for (const spelling of spellings(route.path)) {
      const path = spelling.replace(/:([A-Za-z_]+)/g, (_, name: string) => encodeURIComponent(PARAMS[name]!.of(world, route)));
      for (const [who, key] of refusers) {
        if (who === 'a read-only key' && !route.write) continue;
        const res = await api(route.method, path, { key, body: bodyFor(route, world) ?? undefined });
        expect([401, 403, 404], `${route.method} ${spelling} with ${who}: ${res.text}`).toContain(res.status);
      }
    }
    expect(await rowCounts()).toEqual(before);
  });
});

const paths = [...new Map(ROUTES.map((r) => [r.path, r])).values()];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

describe('every path', () => {
  it.each(paths)('$path answers a method it does not serve with 405, Allow and the error shape', async (route) => {
    const served = ROUTES.filter((r) => r.path === route.path).map((r) => r.method);
    const allow = [...new Set([...served, ...(served.includes('GET') ? ['HEAD'] : [])])].sort().join(', ');
    for (const method of METHODS.filter((m) => !served.includes(m))) {
      const res = await callRoute({ ...route, method }, world, { body: method === 'GET' ? null : {} });
      expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.get('Allow'), method).toBe(allow);
      expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
      if (route.access !== 'document') expectRateLimitHeaders(res);
    }
  });

  it.each(paths)('$path refuses a cross-origin preflight that carries Authorization', async (route) => {
    const res = await callRoute({ ...route, method: 'OPTIONS' }, world, {
      key: null,
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': route.method, 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    expect(res.status, res.text).toBeGreaterThanOrEqual(400);
    for (const name of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers', 'Access-Control-Allow-Credentials']) {
      expect(res.headers.get(name), name).toBeNull();
    }
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
