/**
 * Failure paths (docs/security-decisions.md#failing-closed): when D1 or a Durable Object fails
 * mid-request, the answer is 503 UNAVAILABLE in the error shape, nothing is
 * changed, and a security check never fails open: no `allowed: true`, no
 * token, no 200 for a revocation that did not happen.
 *
 * Over the route table: every route's valid call is made with D1 failing
 * from its first call on, then from its second, and so on until the call
 * completes, so every point where a request can lose its database is hit
 * once; each time the answer is 503 and the app's rows, the global tables
 * and the audit logs are exactly as before, and the same call then succeeds.
 * The token routes run with each Durable Object namespace unreachable.
 * (The rate limiter failing closed is tested in test/rate-limits/admin.test.ts.)
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { app as router } from '../../src/app';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import { BASE, PASSWORD, ROOT_KEY, api, createRole, createUser, login, seedApp } from '../helpers';
import { BODIES, QUERIES, ROUTES, pathOf, type Route } from './routes';
import { failingD1, flakyD1, unreachable } from './outages';
import { appRows, buildWorld, globalRows, recordAnswer, rowCounts, type World } from './world';

/** What the Worker logs for the failures this file causes: each must be a bare line, no query, no parameter. */
const logged: string[] = [];
beforeAll(() => {
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void logged.push(String(line)));
});

afterAll(() => {
  vi.restoreAllMocks();
  expect(logged.length).toBeGreaterThan(0);
  for (const line of logged) {
    expect(JSON.parse(line)).toEqual({
      level: 'error',
      request_id: expect.stringMatching(/^req_/),
      code: 'UNAVAILABLE',
      detail: expect.stringMatching(/^Error: (D1_ERROR: )?Network connection lost\.$/),
    });
  }
});

/**
 * The route's valid call through the Worker with `bindings`; `failedBefore`
 * says whether D1 had failed by the time the answer was ready (work left to
 * `waitUntil` may fail later without changing the answer).
 */
async function sendValid(route: Route, w: World, bindings: Env, d1?: { failed: () => boolean }) {
  const headers: Record<string, string> = { 'CF-Connecting-IP': '192.0.2.201' };
  if (route.access === 'admin' || route.access === 'root') headers.Authorization = `Bearer ${ROOT_KEY}`;
  const body = BODIES[route.id]?.(w);
  if (body) headers['Content-Type'] = 'application/json';
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${pathOf(route, w)}${QUERIES[route.id] ?? ''}`, { method: route.method, headers, body: body ? JSON.stringify(body) : undefined });
  const res = await worker.fetch(request as Parameters<typeof worker.fetch>[0], bindings, ctx);
  const failedBefore = d1?.failed() ?? false;
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  recordAnswer(request.url.slice(BASE.length), text);
  return { status: res.status, text, failedBefore };
}

async function call(bindings: Env, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await router.request(
    `${BASE}${path}`,
    {
      method,
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '192.0.2.200', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
    bindings,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, text: await res.text() };
}

function expectUnavailable(res: { status: number; text: string }, label = ''): void {
  expect(res.status, `${label} ${res.text}`).toBe(503);
  expect(JSON.parse(res.text)).toEqual({ error: { code: 'UNAVAILABLE', message: expect.any(String) } });
  expect(res.text).not.toMatch(/D1_|Network|stack|at /);
}

/** What a failed request must leave as it was: the app's rows and log, the global tables and log, every count. */
async function state(w: World) {
  return { app: await appRows(w.app.id), global: await globalRows(), counts: await rowCounts() };
}

describe('with D1 failing at each of its calls in turn', () => {
  it.each(ROUTES)('$id answers 503 and changes nothing, wherever D1 fails; then the same call succeeds', async (route) => {
    const w = await buildWorld();
    let completed = false;
    for (let failFrom = 1; failFrom <= 40 && !completed; failFrom += 1) {
      const before = await state(w);
      const d1 = flakyD1(failFrom);
      const res = await sendValid(route, w, { ...env, DB: d1.db }, d1);
      if (!res.failedBefore) {
        // Every call of this request came before the failure point: it completed.
        completed = true;
        expect(res.status, `${route.id} with D1 working: ${res.text}`).toBeLessThan(300);
        continue;
      }
      expectUnavailable(res, `${route.id}, D1 failing from call ${failFrom}:`);
      expect(res.text).not.toMatch(/allowed|access_token|refresh_token|client_secret|"key"/);
      expect(await state(w), `${route.id}, D1 failing from call ${failFrom}`).toEqual(before);
    }
    expect(completed, `${route.id} never completed`).toBe(true);
  });
});

async function appWithJane() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:*'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  return { app, user };
}

describe('when D1 fails', () => {
  it('authorize answers 503 for a subject it has not seen, never allowed: true', async () => {
    const { app } = await appWithJane();
    const token = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token;
    const res = await call({ ...env, DB: failingD1() }, 'POST', '/v1/authorize', { token, permission: 'projects:read' });
    expectUnavailable(res);
    expect(res.text).not.toContain('allowed');
  });

  it('a login answers 503 and issues no token', async () => {
    const { app } = await appWithJane();
    const res = await call({ ...env, DB: failingD1() }, 'POST', `/v1/apps/${app.name}/tokens`, { grant_type: 'password', email: 'jane@acme.co', password: PASSWORD });
    expectUnavailable(res);
    expect(res.text).not.toMatch(/access_token|rt_/);
  });
});

describe('when a Durable Object fails', () => {
  it('a login whose refresh family cannot be started answers 503 with no token', async () => {
    const { app } = await appWithJane();
    const res = await call({ ...env, REFRESH_TOKENS: unreachable(env.REFRESH_TOKENS) }, 'POST', `/v1/apps/${app.name}/tokens`, {
      grant_type: 'password',
      email: 'jane@acme.co',
      password: PASSWORD,
    });
    expectUnavailable(res);
    expect(res.text).not.toMatch(/access_token|rt_/);
  });

  it('a login whose throttle counters cannot be reached fails closed', async () => {
    const { app } = await appWithJane();
    expectUnavailable(
      await call({ ...env, LOGIN_THROTTLE: unreachable(env.LOGIN_THROTTLE) }, 'POST', `/v1/apps/${app.name}/tokens`, {
        grant_type: 'password',
        email: 'jane@acme.co',
        password: PASSWORD,
      }),
    );
  });

  it('a refresh answers 503, and the token still works once the object is back', async () => {
    const { app } = await appWithJane();
    const refresh = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    const broken = { ...env, REFRESH_TOKENS: unreachable(env.REFRESH_TOKENS) };
    const res = await call(broken, 'POST', `/v1/apps/${app.name}/tokens/refresh`, { refresh_token: refresh });
    expectUnavailable(res);
    expect(res.text).not.toMatch(/access_token/);
    expect((await call(env, 'POST', `/v1/apps/${app.name}/tokens/refresh`, { refresh_token: refresh })).status).toBe(200);
  });

  it('a revocation answers 503, never a 200 that leaves the token alive', async () => {
    const { app } = await appWithJane();
    const refresh = (await login(app.name, 'jane@acme.co', PASSWORD)).body.refresh_token;
    expectUnavailable(await call({ ...env, REFRESH_TOKENS: unreachable(env.REFRESH_TOKENS) }, 'POST', `/v1/apps/${app.name}/tokens/revoke`, { refresh_token: refresh }));
    // Not revoked: the client was told to retry, and the token is indeed alive.
    expect((await call(env, 'POST', `/v1/apps/${app.name}/tokens/refresh`, { refresh_token: refresh })).status).toBe(200);
  });
});

/** What each token-class route answers with a namespace unreachable: 503 where it needs the object, its usual 2xx elsewhere. */
const WITHOUT: Record<'REFRESH_TOKENS' | 'LOGIN_THROTTLE', Record<string, number>> = {
  REFRESH_TOKENS: {
    'POST /v1/apps/:app_name/tokens': 200,
    'POST /v1/apps/:app_name/tokens/refresh': 503,
    'POST /v1/apps/:app_name/tokens/revoke': 503,
    'POST /v1/invites/:invite_token/accept': 201,
    'POST /v1/authorize': 200,
  },
  LOGIN_THROTTLE: {
    'POST /v1/apps/:app_name/tokens': 200,
    'POST /v1/apps/:app_name/tokens/refresh': 200,
    'POST /v1/apps/:app_name/tokens/revoke': 200,
    'POST /v1/invites/:invite_token/accept': 201,
    'POST /v1/authorize': 200,
  },
};

const byId = (id: string) => ROUTES.find((r) => r.id === id)!;

describe('the token routes with a Durable Object namespace unreachable', () => {
  it.each(['REFRESH_TOKENS', 'LOGIN_THROTTLE'] as const)('%s: each answers 503 and changes nothing, or works as usual', async (binding) => {
    const answers: Record<string, number> = {};
    for (const route of ROUTES.filter((r) => r.access === 'token' || r.access === 'authorize')) {
      const w = await buildWorld();
      const before = await state(w);
      const res = await sendValid(route, w, { ...env, [binding]: unreachable(env[binding]) });
      answers[route.id] = res.status;
      if (res.status === 503) {
        expectUnavailable(res, route.id);
        expect(res.text).not.toMatch(/access_token|refresh_token/);
        expect(await state(w), route.id).toEqual(before);
      }
    }
    expect(answers).toEqual(WITHOUT[binding]);
  });

  it('a refresh whose rotation cannot be committed answers 503, and the same token works at once', async () => {
    const w = await buildWorld();
    const refresh = byId('POST /v1/apps/:app_name/tokens/refresh');
    expectUnavailable(await sendValid(refresh, w, { ...env, REFRESH_TOKENS: unreachable(env.REFRESH_TOKENS, 'commit') }));
    // 503 means "retry": the retry must not find the token still held by the failed attempt.
    const retry = await sendValid(refresh, w, env);
    expect(retry.status, retry.text).toBe(200);
  });

  it('an invite accepted for an existing user whose throttle cannot be reached answers 503 and counts no use', async () => {
    const w = await buildWorld();
    const before = await state(w);
    const res = await api('POST', `/v1/invites/${w.inviteToken}/accept`, {
      key: null,
      body: { email: (await api('GET', `/v1/apps/${w.app.name}/users/${w.userId}`)).body.email, password: PASSWORD },
      bindings: { ...env, LOGIN_THROTTLE: unreachable(env.LOGIN_THROTTLE) },
    });
    expectUnavailable(res);
    expect(await state(w)).toEqual(before);
  });
});
