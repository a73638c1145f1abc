import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app as router } from '../src/app';
import type { Env } from '../src/env';
import { PASSWORD, ROOT_KEY, api, createAdminKey, createRole, createUser, login, seedApp } from './helpers';

/** The real bindings, counting every D1 statement and every Durable Object stub taken. */
function countingEnv() {
  const counts = { d1: 0, durableObjects: 0 };
  const db = new Proxy(env.DB, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === 'prepare' || prop === 'batch' || prop === 'exec') {
        return (...args: unknown[]) => {
          counts.d1 += 1;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const countStubs = <T extends object>(ns: T): T =>
    new Proxy(ns, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop === 'get' || prop === 'getByName') {
          return (...args: unknown[]) => {
            counts.durableObjects += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  const bindings: Env = {
    ...env,
    DB: db,
    RATE_LIMITER: countStubs(env.RATE_LIMITER),
    REFRESH_TOKENS: countStubs(env.REFRESH_TOKENS),
    LOGIN_THROTTLE: countStubs(env.LOGIN_THROTTLE),
  };
  return { counts, bindings };
}

async function call(bindings: Env, body: unknown, key?: string) {
  const ctx = createExecutionContext();
  const res = await router.request(
    'https://heimdall.test/v1/authorize',
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': '192.0.2.10', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    },
    bindings,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as { allowed?: boolean } };
}

describe('the authorize hot path', () => {
  it('makes no D1 query and no Durable Object call once the isolate is warm', async () => {
    const app = await seedApp();
    await createRole(app.name, { name: 'editor', permissions: ['projects:*'] });
    await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
    const token = (await login(app.name, 'jane@acme.co', PASSWORD)).body.access_token;
    const managed = (await createAdminKey({ read_only: true })).key;
    const { counts, bindings } = countingEnv();

    // Warm-up: keys, the app and subject snapshots, the rate-limit leases.
    for (const key of [undefined, ROOT_KEY, managed]) {
      expect((await call(bindings, { token, permission: 'projects:read' }, key)).status).toBe(200);
    }
    counts.d1 = 0;
    counts.durableObjects = 0;
    for (let i = 0; i < 30; i++) {
      const key = [undefined, ROOT_KEY, managed][i % 3];
      const res = await call(bindings, { token, permission: i % 2 ? 'projects:write' : 'billing:read' }, key);
      expect(res.status).toBe(200);
      expect(res.body.allowed).toBe(i % 2 === 1);
    }
    expect(counts).toEqual({ d1: 0, durableObjects: 0 });

    // And it is still authoritative: a change is seen after the snapshot ages.
    await api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { permissions: ['projects:read'] } });
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    expect((await call(bindings, { token, permission: 'projects:write' })).body.allowed).toBe(false);
  });
});
