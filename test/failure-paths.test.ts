/**
 * Failure paths (catalogue L2-L4, X10): when D1 or a Durable Object fails
 * mid-request, the answer is 503 UNAVAILABLE in the error shape, nothing is
 * changed, and a security check never fails open: no `allowed: true`, no
 * token, no 200 for a revocation that did not happen.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app as router } from '../src/app';
import type { Env } from '../src/env';
import { BASE, count, createRole, createUser, login, seedApp } from './helpers';

const PASSWORD = 'correct horse battery staple';

/** D1 whose every query fails like a lost connection (statements can still be prepared). */
function failingD1(): D1Database {
  const fail = () => Promise.reject(new Error('D1_ERROR: Network connection lost.'));
  const statement = (): D1PreparedStatement =>
    ({ bind: () => statement(), first: fail, all: fail, run: fail, raw: fail }) as unknown as D1PreparedStatement;
  return { prepare: statement, batch: fail, exec: fail, dump: fail, withSession: () => failingD1() } as unknown as D1Database;
}

/** A Durable Object namespace whose objects cannot be reached. */
function unreachable<T extends object>(namespace: T): T {
  return new Proxy(namespace, {
    get(target, prop) {
      if (prop === 'get') {
        return () =>
          new Proxy({}, {
            get: () => () => Promise.reject(new Error('Network connection lost.')),
          });
      }
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
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

function expectUnavailable(res: { status: number; text: string }): void {
  expect(res.status, res.text).toBe(503);
  expect(JSON.parse(res.text)).toEqual({ error: { code: 'UNAVAILABLE', message: expect.any(String) } });
  expect(res.text).not.toMatch(/D1_|Network|stack|at /);
}

async function appWithJane() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:*'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  return { app, user };
}

const admin = { Authorization: `Bearer ${env.HEIMDALL_ROOT_KEY}` };

describe('when D1 fails', () => {
  it('authorize answers 503 for a subject it has not seen, never allowed: true', async () => {
    const { app } = await appWithJane();
    const token = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token;
    const res = await call({ ...env, DB: failingD1() }, 'POST', '/v1/authorize', { token, permission: 'projects:read' });
    expectUnavailable(res);
    expect(res.text).not.toContain('allowed');
  });

  it('a change answers 503 and writes nothing', async () => {
    const { app } = await appWithJane();
    const before = await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id);
    expectUnavailable(await call({ ...env, DB: failingD1() }, 'POST', `/v1/apps/${app.name}/users`, { email: 'new@acme.co' }, admin));
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id)).toBe(before);
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
