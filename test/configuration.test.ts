/**
 * Configuration errors (docs/configuration.md#configuration-errors): a
 * missing or malformed setting answers 500 `CONFIGURATION_ERROR` naming the
 * setting and never its value, is logged once per isolate, and is never a 401
 * or a 503. Each case runs the Worker with one binding changed.
 */
import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ROOT_KEY, api, createUser, expectError, freshIp, login, PASSWORD, seedApp, workerFetch } from './helpers';
import { callRoute } from './security/call';
import { ROUTES } from './security/routes';
import { buildWorld } from './security/world';

type Bindings = typeof env;

function expectConfigurationError(res: { status: number; text: string; headers: Headers; body: any }, setting: string, value?: string): void {
  const error = expectError(res, 500, 'CONFIGURATION_ERROR');
  expect(error.message).toContain(setting);
  if (value) expect(res.text).not.toContain(value);
  expect(res.headers.get('WWW-Authenticate')).toBeNull();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a missing root key', () => {
  it('makes every admin route answer 500 CONFIGURATION_ERROR naming it, whatever key is sent: never 401, never 503', async () => {
    const w = await buildWorld();
    const bindings: Bindings = { ...env, HEIMDALL_ROOT_KEY: undefined };
    const admin = ROUTES.filter((r) => r.access === 'admin' || r.access === 'root');
    expect(admin.length).toBeGreaterThan(20);
    for (const route of admin) {
      for (const key of [ROOT_KEY, w.key, null, 'hk_not_a_key']) {
        const res = await callRoute(route, w, { bindings, key });
        expect(res.status, `${route.id} with ${key === null ? 'no key' : 'a key'}: ${res.text}`).toBe(500);
        expectConfigurationError(res, 'HEIMDALL_ROOT_KEY');
      }
    }
  });

  it('also refuses a root key shorter than 16 characters, without echoing it', async () => {
    const short = 'short-root-key';
    const res = await api('GET', '/v1/apps', { key: short, bindings: { ...env, HEIMDALL_ROOT_KEY: short } });
    expectConfigurationError(res, 'HEIMDALL_ROOT_KEY', short);
  });

  it('leaves the health check and the public documents answering', async () => {
    const bindings: Bindings = { ...env, HEIMDALL_ROOT_KEY: undefined };
    expect((await api('GET', '/v1/health', { key: null, bindings })).status).toBe(200);
    expect((await api('GET', '/v1/.well-known/jwks.json', { key: null, bindings })).status).toBe(200);
  });

  it('with no encryption key either, a login is the same configuration error (the sealing key derives from the root key)', async () => {
    const app = await seedApp();
    await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD });
    const res = await login(app.name, 'jane@acme.co', PASSWORD, freshIp(), { ...env, HEIMDALL_ROOT_KEY: undefined, HEIMDALL_KEY_ENCRYPTION_KEY: undefined });
    expectConfigurationError(res, 'HEIMDALL_ROOT_KEY');
  });

  it('is logged once per isolate, naming the setting and not its value', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    // A setting no other test of this file breaks, so no earlier request has logged it.
    const odd: Bindings = { ...env, LOGIN_MAX_FAILURES: 'many' };
    for (let i = 0; i < 3; i++) expectConfigurationError(await api('GET', '/v1/health', { key: null, bindings: odd }), 'LOGIN_MAX_FAILURES', 'many');
    const lines = errors.mock.calls.map((args) => String(args[0])).filter((line) => line.includes('CONFIGURATION_ERROR'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('LOGIN_MAX_FAILURES');
    expect(lines[0]).not.toContain('many');
  });
});

describe('a malformed var', () => {
  it.each([
    ['RATE_LIMIT_ADMIN_PER_MIN', '-5'],
    ['ACCESS_TOKEN_TTL_SECONDS', '1.5'],
    ['BASE_PATH', 'not a/path!'],
    ['PUBLIC_BASE_URL', 'https://api.example.com/with/a/path'],
    ['PUBLIC_BASE_URL', 'ftp://api.example.com'],
  ])('%s=%s answers 500 CONFIGURATION_ERROR naming it, on every route', async (name, value) => {
    const bindings: Bindings = { ...env, [name]: value };
    for (const path of ['/v1/health', '/v1/apps']) {
      const res = await api('GET', path, { bindings });
      expectConfigurationError(res, name, value);
      // The answer still carries the headers of every answer.
      expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
    }
  });
});

describe('an empty PUBLIC_BASE_URL', () => {
  const bindings: Bindings = { ...env, PUBLIC_BASE_URL: '' };

  it('is a configuration error where a URL is built for a host that is not local', async () => {
    const app = await seedApp();
    await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD });
    expectConfigurationError(await login(app.name, 'jane@acme.co', PASSWORD, freshIp(), bindings), 'PUBLIC_BASE_URL');
    expectConfigurationError(await api('GET', `/v1/apps/${app.name}/.well-known/oauth-authorization-server`, { key: null, bindings }), 'PUBLIC_BASE_URL');
    // Routes that build no URL are unaffected.
    expect((await api('GET', `/v1/apps/${app.name}`, { bindings })).status).toBe(200);
  });

  it.each(['http://localhost:8787', 'http://127.0.0.1:8787', 'http://[::1]:8787'])('takes the request origin on %s (local development)', async (origin) => {
    const app = await seedApp();
    const res = await workerFetch(`${origin}/v1/apps/${app.name}/.well-known/oauth-authorization-server`, {}, bindings);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { issuer: string }).issuer).toBe(origin);
  });

  it('never takes a Host that merely starts like a local one', async () => {
    const app = await seedApp();
    for (const origin of ['http://localhost.evil.example', 'http://127.0.0.1.nip.io']) {
      const res = await workerFetch(`${origin}/v1/apps/${app.name}/.well-known/oauth-authorization-server`, {}, bindings);
      expect(res.status).toBe(500);
      expect(await res.text()).toContain('PUBLIC_BASE_URL');
    }
  });
});
