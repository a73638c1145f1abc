import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  OTHER_PASSWORD,
  PASSWORD,
  ROOT_KEY,
  api,
  authorizeCall,
  createRole,
  createUser,
  eventually,
  expectDetail,
  expectError,
  login,
  seedApp,
  type ApiResponse,
} from './helpers';

async function setup() {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read', 'projects:write', 'comments:*'] });
  const user = await createUser(app.name, { email: 'jane@acme.co', password: PASSWORD, role: 'editor' });
  const tokens = (await login(app.name, 'jane@acme.co', PASSWORD)).body;
  return { app, user, token: tokens.access_token as string, refresh: tokens.refresh_token as string };
}

describe('authorize', () => {
  it('allows a permission the user holds, with the current state of the subject', async () => {
    const { app, user, token } = await setup();
    const res = await authorizeCall({ token, permission: 'projects:write' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      allowed: true,
      app: app.name,
      app_id: app.id,
      subject: user.id,
      subject_type: 'user',
      roles: ['editor'],
      permissions: ['projects:read', 'projects:write', 'comments:*'],
      expires_at: new Date(decodeJwt(token).exp! * 1000).toISOString().replace('.000Z', 'Z'),
    });
    expect(res.headers.get('Cache-Control')).toBe('no-store');
  });

  it('denies a permission the user lacks, honours wildcards, and checks every permission of a list', async () => {
    const { token } = await setup();
    const denied = await authorizeCall({ token, permission: 'billing:read' });
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ allowed: false, reason: 'permission_denied' });
    expect(Object.keys(denied.body).slice(0, 2)).toEqual(['allowed', 'reason']);
    expect((await authorizeCall({ token, permission: 'comments:delete' })).body.allowed).toBe(true);
    expect((await authorizeCall({ token, permission: 'projects:readme' })).body.allowed).toBe(false);
    expect((await authorizeCall({ token, permissions: ['projects:read', 'comments:write'] })).body.allowed).toBe(true);
    expect((await authorizeCall({ token, permissions: ['projects:read', 'billing:read'] })).body).toMatchObject({ allowed: false, reason: 'permission_denied' });
  });

  it('answers app_mismatch when the token belongs to another app than the caller expects', async () => {
    const { token } = await setup();
    const other = await seedApp();
    expect((await authorizeCall({ token, permission: 'projects:read', app: other.name })).body).toMatchObject({ allowed: false, reason: 'app_mismatch' });
  });

  it('validates its body: exactly one of permission or permissions, each in the grammar', async () => {
    const { token } = await setup();
    expectDetail(await authorizeCall({ token }), 'permission', 'required');
    expectDetail(await authorizeCall({ token, permission: 'a:b', permissions: ['a:b'] }), 'permission', 'required');
    expectDetail(await authorizeCall({ token, permission: 'PROJECTS:READ' }), 'permission', 'invalid_format');
    expectDetail(await authorizeCall({ permission: 'a:b' }), 'token', 'required');
  });

  it('accepts any valid admin key but refuses an invalid one', async () => {
    const { token } = await setup();
    expect((await authorizeCall({ token, permission: 'projects:read' }, ROOT_KEY)).status).toBe(200);
    expectError(await authorizeCall({ token, permission: 'projects:read' }, 'not-a-key'), 401, 'UNAUTHORIZED');
  });
});

// Forged, tampered, foreign and mistyped tokens: test/security/jwt-abuse.test.ts, which runs
// them through /v1/authorize and the edge SDK alike.

describe('authorize is authoritative within five seconds', () => {
  /** Polls until the token gets the one 401 of a dead token (at most the five seconds of docs/tokens.md#freshness). */
  async function refusedWithinFiveSeconds(token: string): Promise<void> {
    let last: ApiResponse | undefined;
    await eventually(async () => {
      last = await authorizeCall({ token, permission: 'projects:read' });
      return last.status !== 200;
    });
    expectError(last!, 401, 'INVALID_TOKEN');
  }

  async function allowed(token: string): Promise<void> {
    const res = await authorizeCall({ token, permission: 'projects:read' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.allowed).toBe(true);
  }

  async function changed(res: Promise<ApiResponse>): Promise<void> {
    const answer = await res;
    expect(answer.status, answer.text).toBe(200);
  }

  it('refuses a deactivated user\'s token, also after a reactivation, while a newer token passes', async () => {
    const { app, user, token } = await setup();
    await allowed(token);
    await changed(api('DELETE', `/v1/apps/${app.name}/users/${user.id}`));
    await refusedWithinFiveSeconds(token);
    await changed(api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { status: 'active' } }));
    const newer = await login(app.name, 'jane@acme.co', PASSWORD);
    await allowed(newer.body.access_token);
    expectError(await authorizeCall({ token, permission: 'projects:read' }), 401, 'INVALID_TOKEN');
  });

  it('reflects a removed role and a changed role', async () => {
    const { app, user, token } = await setup();
    await changed(api('PATCH', `/v1/apps/${app.name}/roles/editor`, { body: { permissions: ['projects:read'] } }));
    await eventually(async () => (await authorizeCall({ token, permission: 'projects:write' })).body.allowed === false);
    const denied = await authorizeCall({ token, permission: 'projects:write' });
    expect(denied.body).toMatchObject({ allowed: false, reason: 'permission_denied', roles: ['editor'], permissions: ['projects:read'] });
    await changed(api('DELETE', `/v1/apps/${app.name}/users/${user.id}/roles/editor`));
    await eventually(async () => {
      const res = await authorizeCall({ token, permission: 'projects:read' });
      return res.body.allowed === false && res.body.roles.length === 0;
    });
    const none = await authorizeCall({ token, permission: 'projects:read' });
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ allowed: false, reason: 'permission_denied', roles: [], permissions: [] });
  });

  it('refuses every token of an archived app, also after a restore, while a newer token passes', async () => {
    const { app, token } = await setup();
    await changed(api('DELETE', `/v1/apps/${app.name}`));
    await refusedWithinFiveSeconds(token);
    await changed(api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } }));
    const newer = await login(app.name, 'jane@acme.co', PASSWORD);
    await allowed(newer.body.access_token);
    expectError(await authorizeCall({ token, permission: 'projects:read' }), 401, 'INVALID_TOKEN');
  });

  it('refuses tokens issued before a password change, while one issued after passes', async () => {
    const { app, user, token } = await setup();
    await allowed(token);
    await changed(api('PATCH', `/v1/apps/${app.name}/users/${user.id}`, { body: { password: OTHER_PASSWORD } }));
    await refusedWithinFiveSeconds(token);
    const newer = await login(app.name, 'jane@acme.co', OTHER_PASSWORD);
    expect(newer.status, newer.text).toBe(200);
    await allowed(newer.body.access_token);
  });
});
