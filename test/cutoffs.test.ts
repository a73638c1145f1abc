/**
 * Revocation cut-offs are exact (README.md#revocation-cut-offs): with the
 * clock frozen, so that the cut-off, the restore and both logins share one
 * millisecond, a token issued after the cut-off works at once and one issued
 * before it stays refused, at /v1/authorize, by the edge SDK and for refresh.
 * No test here sleeps.
 */
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHeimdallVerifier } from '../src/client';
import { BASE, OTHER_PASSWORD, PASSWORD, api, authorizeCall, createRole, createUser, expectError, login, seedApp, workerFetch } from './helpers';

const viaWorker = ((input: RequestInfo | URL, init?: RequestInit) => workerFetch(input as string, init)) as typeof fetch;

interface Session {
  access: string;
  refresh: string;
}

async function signIn(appName: string, password = PASSWORD): Promise<Session> {
  const res = await login(appName, 'jane@acme.co', password);
  expect(res.status, res.text).toBe(200);
  return { access: res.body.access_token, refresh: res.body.refresh_token };
}

async function setup() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  return { app, user };
}

async function authorizes(token: string): Promise<number> {
  return (await authorizeCall({ token, permission: 'projects:read' })).status;
}

/** What the customer's edge sees: a fresh SDK verifier, revocation feed on. */
async function edgeVerdict(appName: string, token: string): Promise<'ok' | string> {
  const verifier = createHeimdallVerifier({ issuer: BASE, app: appName, fetch: viaWorker, revocations: { intervalMs: 1_000 } });
  try {
    await verifier.verify(token);
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
}

async function refreshStatus(appName: string, refreshToken: string): Promise<number> {
  const res = await api('POST', `/v1/apps/${appName}/tokens/refresh`, { key: null, body: { refresh_token: refreshToken } });
  if (res.status !== 200) expectError(res, 401, 'INVALID_TOKEN');
  return res.status;
}

/** Every check the before/after pair must pass, in the same millisecond as the cut-off. */
async function expectExactCutoff(appName: string, before: Session, after: Session): Promise<void> {
  // Same second (indeed the same millisecond): iat cannot tell them apart.
  expect(decodeJwt(after.access).iat).toBe(decodeJwt(before.access).iat);
  // The newer token first: it proves this isolate's snapshot stale.
  expect(await authorizes(after.access)).toBe(200);
  expect(await authorizes(before.access)).toBe(401);
  expect(await edgeVerdict(appName, after.access)).toBe('ok');
  expect(await edgeVerdict(appName, before.access)).toBe('revoked');
  expect(await refreshStatus(appName, before.refresh)).toBe(401);
  expect(await refreshStatus(appName, after.refresh)).toBe(200);
}

describe('cut-offs within one millisecond', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('archive, restore, log in: the new token works, the old one stays refused', async () => {
    const { app } = await setup();
    const before = await signIn(app.name);
    // Authorized once, so this isolate holds a snapshot from before the cut-off.
    expect(await authorizes(before.access)).toBe(200);
    expect((await api('DELETE', `/v1/apps/${app.name}`)).status).toBe(200);
    expect((await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } })).status).toBe(200);
    const after = await signIn(app.name);
    expect(decodeJwt(after.access).app_epoch).toBe((decodeJwt(before.access).app_epoch as number) + 1);
    await expectExactCutoff(app.name, before, after);
  });

  it('deactivate, reactivate, log in: the new token works, the old one stays refused', async () => {
    const { app, user } = await setup();
    const before = await signIn(app.name);
    expect(await authorizes(before.access)).toBe(200);
    expect((await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`)).status).toBe(200);
    expect((await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } })).status).toBe(200);
    const after = await signIn(app.name);
    expect(decodeJwt(after.access).sub_epoch).toBe((decodeJwt(before.access).sub_epoch as number) + 1);
    await expectExactCutoff(app.name, before, after);
  });

  it('change the password, log in: the new token works, the old one stays refused', async () => {
    const { app, user } = await setup();
    const before = await signIn(app.name);
    expect(await authorizes(before.access)).toBe(200);
    expect((await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { password: OTHER_PASSWORD } })).status).toBe(200);
    const after = await signIn(app.name, OTHER_PASSWORD);
    await expectExactCutoff(app.name, before, after);
  });

  it('a snapshot that saw the deactivation does not refuse a token issued after the reactivation', async () => {
    const { app, user } = await setup();
    const before = await signIn(app.name);
    expect((await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`)).status).toBe(200);
    // This isolate now holds the deactivated state, fresh for a while.
    expect(await authorizes(before.access)).toBe(401);
    expect((await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } })).status).toBe(200);
    const after = await signIn(app.name);
    expect(await authorizes(after.access)).toBe(200);
    expect(await authorizes(before.access)).toBe(401);
  });

  it('a change that is not a cut-off (a new display name) ends no token', async () => {
    const { app, user } = await setup();
    const before = await signIn(app.name);
    expect((await api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { display_name: 'Jane' } })).status).toBe(200);
    expect(await authorizes(before.access)).toBe(200);
    expect(await edgeVerdict(app.name, before.access)).toBe('ok');
    expect(await refreshStatus(app.name, before.refresh)).toBe(200);
  });

  it('the tokens of one user survive a cut-off of another', async () => {
    const { app } = await setup();
    const other = await createUser(app.name, { email: 'joe@acme.co', password: PASSWORD, role: 'editor' });
    const before = await signIn(app.name);
    expect((await api('DELETE', `/v1/apps/${app.name}/users/${other.id}`)).status).toBe(200);
    expect(await authorizes(before.access)).toBe(200);
    expect(await edgeVerdict(app.name, before.access)).toBe('ok');
  });
});
