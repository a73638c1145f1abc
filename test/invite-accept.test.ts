import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import {
  OTHER_PASSWORD,
  PASSWORD,
  api,
  auditRows,
  count,
  createUser,
  expectDetail,
  expectError,
  idPattern,
  login,
  seedApp,
  uniqueName,
} from './helpers';
import { appWithEditor, expiredInvite, inviter } from './invite-helpers';

const invite = inviter();

function accept(token: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return api('POST', `/v1/invites/${token}/accept`, { key: null, body: { password: PASSWORD, ...body }, headers });
}

async function usesOf(inviteId: string): Promise<number> {
  return (await env.DB.prepare('SELECT uses FROM invites WHERE id = ?').bind(inviteId).first<number>('uses'))!;
}

async function usersIn(appId: string): Promise<number> {
  return count('SELECT count(*) AS n FROM users WHERE app_id = ?', appId);
}

describe('accepting an invite', () => {
  it('creates the user with the invite\'s role, counts one use, and the new password logs in with the role\'s permissions', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    const res = await accept(created.token, { display_name: 'Bob' }, { 'CF-Connecting-IP': '203.0.113.7' });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'app_id', 'email', 'display_name', 'roles', 'status', 'metadata', 'created_at']);
    expect(res.body).toMatchObject({ app_id: app.id, email: 'bob@contractor.io', display_name: 'Bob', roles: ['editor'], status: 'active', metadata: {} });
    expect(res.body.id).toMatch(idPattern('usr_'));
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(res.headers.get('X-RateLimit-Limit')).not.toBeNull();
    expect((await api('GET', `/v1/apps/${app.name}/users/${res.body.id}`)).body).toEqual(res.body);
    expect(await usesOf(created.id)).toBe(1);

    const session = await login(app.name, 'bob@contractor.io', PASSWORD);
    expect(session.status, session.text).toBe(200);
    const claims = JSON.parse(atob(session.body.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    expect(claims).toMatchObject({ sub: res.body.id, aud: app.name, roles: ['editor'], permissions: ['projects:read', 'projects:write'] });

    // One entry: invite.accepted, by the new user, naming them; no separate user.created.
    const entries = await auditRows(app.id, 'invite.accepted');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor_id: res.body.id, target_type: 'invite', target_id: created.id, ip_address: '203.0.113.7' });
    expect(JSON.parse(entries[0].metadata)).toEqual({ user_id: res.body.id, email: 'bob@contractor.io', role: 'editor', new_user: true, role_added: true });
    expect(await auditRows(app.id, 'user.created')).toHaveLength(0);
    const log = JSON.stringify(await auditRows(app.id));
    expect(log).not.toContain(created.token);
    expect(log).not.toContain(PASSWORD);
  });

  it('takes the email from the invite, which the body may repeat in any case but not change', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io', max_uses: 5 });
    const mismatch = await accept(created.token, { email: 'mallory@evil.example' });
    expectError(mismatch, 400, 'VALIDATION_ERROR');
    expectDetail(mismatch, 'email', 'email_mismatch');
    expect(await usesOf(created.id)).toBe(0);
    expect(await usersIn(app.id)).toBe(0);
    const res = await accept(created.token, { email: ' Bob@Contractor.IO ' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.email).toBe('bob@contractor.io');
  });

  it('needs an email in the body when the invite names none', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { max_uses: 2 });
    expectDetail(await accept(created.token), 'email', 'required');
    expect(await usesOf(created.id)).toBe(0);
    const res = await accept(created.token, { email: 'Carol@Example.com' });
    expect(res.status).toBe(201);
    expect(res.body.email).toBe('carol@example.com');
  });

  it('refuses role, roles and app_id in the body: the invite alone decides the role and the app', async () => {
    const { app } = await appWithEditor();
    const other = await seedApp();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    for (const extra of [{ role: 'admin' }, { roles: ['admin'] }, { app_id: other.id }]) {
      const res = await accept(created.token, extra);
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, Object.keys(extra)[0]!, 'unknown_field');
    }
    expect(await usesOf(created.id)).toBe(0);
    expect((await accept(created.token)).body.roles).toEqual(['editor']);
    expect(await usersIn(other.id)).toBe(0);
  });

  it('refuses a weak password without using the invite', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    for (const password of ['short', 'x'.repeat(2000), 12345678]) {
      expectError(await accept(created.token, { password }), 400, 'VALIDATION_ERROR');
    }
    expect(await usesOf(created.id)).toBe(0);
    expect((await accept(created.token)).status).toBe(201);
  });
});

describe('an invite that cannot be used', () => {
  it('expires on the hour: accepted at +59 minutes, 410 at +61', async () => {
    const { app } = await appWithEditor();
    const start = Date.now();
    try {
      vi.useFakeTimers({ toFake: ['Date'], now: start });
      const created = await invite(app.name, { expires_in_hours: 1, max_uses: 2 });
      vi.setSystemTime(start + 59 * 60_000);
      expect((await accept(created.token, { email: 'early@example.com' })).status).toBe(201);
      vi.setSystemTime(start + 61 * 60_000);
      expectError(await accept(created.token, { email: 'late@example.com' }), 410, 'GONE');
      expect(await usesOf(created.id)).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers 410 with one body whether expired, revoked or used up, and 404 for a token that names no invite', async () => {
    const { app } = await appWithEditor();
    const expired = await expiredInvite(invite, app.name);
    const revoked = await invite(app.name);
    await api('DELETE', `/v1/apps/${app.name}/invites/${revoked.id}`);
    const usedUp = await invite(app.name);
    expect((await accept(usedUp.token, { email: 'first@example.com' })).status).toBe(201);

    const answers = [];
    for (const gone of [expired, revoked, usedUp]) {
      const res = await accept(gone.token, { email: 'someone@example.com' });
      expectError(res, 410, 'GONE');
      answers.push(res.text);
    }
    expect(new Set(answers).size).toBe(1);

    const unknown = [
      `inv_tok_${'0'.repeat(36)}`,
      `${usedUp.token.slice(0, -1)}${usedUp.token.endsWith('0') ? '1' : '0'}`,
      'inv_tok_x',
      usedUp.id,
      "inv_tok_' OR 1=1--",
    ];
    const notFound = [];
    for (const token of unknown) {
      const res = await accept(encodeURIComponent(token), { email: 'someone@example.com' });
      expectError(res, 404, 'NOT_FOUND');
      notFound.push(res.text);
    }
    expect(new Set(notFound).size).toBe(1);
    expect(await usersIn(app.id)).toBe(1);
  });

  it('on an archived app is 409 APP_ARCHIVED and not counted; restored, the invite works', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    await api('DELETE', `/v1/apps/${app.name}`);
    expectError(await accept(created.token), 409, 'APP_ARCHIVED');
    expect(await usesOf(created.id)).toBe(0);
    expect(await usersIn(app.id)).toBe(0);
    await api('PATCH', `/v1/apps/${app.name}`, { body: { status: 'active' } });
    expect((await accept(created.token)).status).toBe(201);
  });

  it('whose role was deleted since is 409, with no role-less user and no use counted', async () => {
    const { app, role } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    // A forced delete revokes the invite (410); this is the role vanishing under a pending invite.
    await env.DB.prepare('DELETE FROM roles WHERE id = ?').bind(role.id).run();
    const res = await accept(created.token);
    expectError(res, 409, 'CONFLICT');
    expectDetail(res, 'role', 'role_deleted');
    expect(await usesOf(created.id)).toBe(0);
    expect(await usersIn(app.id)).toBe(0);
  });
});

describe('accepting as a user who already exists in the app', () => {
  async function withExistingUser(password: string | null = OTHER_PASSWORD) {
    const { app } = await appWithEditor();
    const user = await createUser(app.name, { email: `${uniqueName('member')}@example.com`, display_name: 'Member', ...(password ? { password } : {}) });
    const hash = () => env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(user.id).first<string | null>('password_hash');
    return { app, user, hash, hashBefore: await hash() };
  }

  it('with a wrong password is 401 INVALID_CREDENTIALS: no use counted, no role added, the failure audited', async () => {
    const { app, user, hash, hashBefore } = await withExistingUser();
    const created = await invite(app.name, { email: user.email });
    const res = await accept(created.token, { password: PASSWORD }, { 'CF-Connecting-IP': '198.51.100.9' });
    expectError(res, 401, 'INVALID_CREDENTIALS');
    expect(res.text).toBe(JSON.stringify({ error: { code: 'INVALID_CREDENTIALS', message: 'invalid credentials' } }));
    expect(await usesOf(created.id)).toBe(0);
    expect((await api('GET', `/v1/apps/${app.name}/users/${user.id}`)).body.roles).toEqual([]);
    expect(await hash()).toBe(hashBefore);
    const failed = await auditRows(app.id, 'auth.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ actor_id: null, target_type: 'user', target_id: user.id, ip_address: '198.51.100.9' });
    expect(JSON.parse(failed[0].metadata)).toEqual({ via: 'invite', invite_id: created.id, email: user.email, reason: 'invalid_credentials' });
    expect(await auditRows(app.id, 'invite.accepted')).toHaveLength(0);
  });

  it('with the current password adds the role, leaves the password and profile alone, and answers 200', async () => {
    const { app, user, hash, hashBefore } = await withExistingUser();
    const created = await invite(app.name, { max_uses: 3 });
    const res = await accept(created.token, { email: user.email.toUpperCase(), password: OTHER_PASSWORD, display_name: 'Renamed' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ ...user, roles: ['editor'] });
    expect(await hash()).toBe(hashBefore);
    expect(await usesOf(created.id)).toBe(1);
    expect(await usersIn(app.id)).toBe(1);
    const [entry] = await auditRows(app.id, 'invite.accepted');
    expect(entry).toMatchObject({ actor_id: user.id, target_id: created.id });
    expect(JSON.parse(entry.metadata)).toEqual({ user_id: user.id, email: user.email, role: 'editor', new_user: false, role_added: true });
    expect(await auditRows(app.id, 'role.assigned')).toHaveLength(0);
    // The password that was theirs still logs in, and the token now carries the role.
    const session = await login(app.name, user.email, OTHER_PASSWORD);
    expect(session.status).toBe(200);
    expect(JSON.parse(atob(session.body.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))).toMatchObject({ roles: ['editor'] });

    // Already holding the role: still a success that counts, adds nothing.
    const again = await accept(created.token, { email: user.email, password: OTHER_PASSWORD });
    expect(again.status).toBe(200);
    expect(again.body.roles).toEqual(['editor']);
    expect(await usesOf(created.id)).toBe(2);
    expect(JSON.parse((await auditRows(app.id, 'invite.accepted'))[1].metadata)).toMatchObject({ new_user: false, role_added: false });
  });

  it('without a password of their own is refused like a wrong password', async () => {
    const { app, user, hash } = await withExistingUser(null);
    const created = await invite(app.name, { email: user.email });
    expectError(await accept(created.token), 401, 'INVALID_CREDENTIALS');
    expect(await hash()).toBeNull();
    expect(await usesOf(created.id)).toBe(0);
  });

  it('who is deactivated is 409, and nothing is counted', async () => {
    const { app, user } = await withExistingUser();
    await api('DELETE', `/v1/apps/${app.name}/users/${user.id}`);
    const created = await invite(app.name, { email: user.email });
    const res = await accept(created.token, { password: OTHER_PASSWORD });
    expectError(res, 409, 'CONFLICT');
    expectDetail(res, 'email', 'user_deactivated');
    expect(await usesOf(created.id)).toBe(0);
    expect((await api('GET', `/v1/apps/${app.name}/users/${user.id}`)).body).toMatchObject({ status: 'deactivated', roles: [] });
  });

  it('goes through the login throttle, so an invite link is no way around login backoff', async () => {
    const { app, user } = await withExistingUser();
    const created = await invite(app.name, { max_uses: 100 });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await accept(created.token, { email: user.email, password: `wrong guess ${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    // The account is locked for logins too: the counter is shared.
    const locked = await login(app.name, user.email, OTHER_PASSWORD);
    expectError(locked, 429, 'RATE_LIMITED');
    expect(Number(locked.headers.get('Retry-After'))).toBeGreaterThan(0);
    expect(await usesOf(created.id)).toBe(0);
  });
});
