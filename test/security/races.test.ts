/**
 * Races (docs/security-decisions.md#races-and-single-use-tokens; ASVS 5 V15.4.2): check-then-act under
 * concurrency. Requests are fired together with Promise.all, so they reach
 * the same D1 and the same Durable Objects at once.
 *
 * Races that live with their resource are not written twice; they are:
 * - one refresh token refreshed ten times at once, one winner:
 *   test/tokens.test.ts ("gives exactly one winner ...");
 * - twenty accepts of one invite, never above max_uses, and accepts racing a
 *   revoke: test/invite-races.test.ts;
 * - a burst of wrong passwords through the password grant alone:
 *   test/tokens.test.ts ("lets a burst of parallel guesses ...");
 * - rate-limited calls racing, exact counts: test/rate-limits/admin.test.ts
 *   (admin group, one and two isolates) and test/rate-limits/groups.test.ts
 *   (token and authorize groups), which run with small limits;
 * - concurrent revokes and rotations: test/admin-keys.test.ts,
 *   test/credentials.test.ts, test/invites.test.ts.
 * Admin keys and credentials have no uniqueness rule to race for (their
 * secrets are random).
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PASSWORD, api, auditRows, createUser, expectError, freshIp, login, uniqueName } from '../helpers';
import { callRoute } from './call';
import { ROUTES } from './routes';
import { buildWorld, type World } from './world';

const byId = (id: string) => ROUTES.find((r) => r.id === id)!;
const RACERS = 20;

interface UniqueCreate {
  route: string;
  /** The one body every racer sends. */
  body: () => Record<string, unknown>;
  /** Rows holding the contested value after the race. */
  rows: (w: World, body: Record<string, unknown>) => Promise<number>;
  action: string;
}

const count = async (sql: string, ...params: unknown[]) => (await env.DB.prepare(sql).bind(...params).first<number>('n')) ?? 0;

/** Every create with a uniqueness rule (docs/resources.md#uniqueness): enforced by a unique index, not a pre-check. */
const UNIQUE_CREATES: Record<string, UniqueCreate> = {
  'an app name (unique for ever)': {
    route: 'POST /v1/apps',
    body: () => ({ name: uniqueName() }),
    rows: (_, body) => count('SELECT count(*) AS n FROM apps WHERE name = ?', body.name),
    action: 'app.created',
  },
  'a user email within an app': {
    route: 'POST /v1/apps/:app_name/users',
    body: () => ({ email: `${uniqueName('race')}@example.com` }),
    rows: (w, body) => count('SELECT count(*) AS n FROM users WHERE app_id = ? AND email = ?', w.app.id, body.email),
    action: 'user.created',
  },
  'a role name within an app': {
    route: 'POST /v1/apps/:app_name/roles',
    body: () => ({ name: uniqueName('role'), permissions: ['projects:read'] }),
    rows: (w, body) => count('SELECT count(*) AS n FROM roles WHERE app_id = ? AND name = ?', w.app.id, body.name),
    action: 'role.created',
  },
};

describe('concurrent duplicate creates', () => {
  it.each(Object.entries(UNIQUE_CREATES))('of %s: exactly one 201, the rest one identical 409, one row and one entry', async (_name, c) => {
    const w = await buildWorld();
    const body = c.body();
    const results = await Promise.all(Array.from({ length: RACERS }, () => callRoute(byId(c.route), w, { body })));
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status !== 201);
    expect(created).toHaveLength(1);
    for (const res of refused) expectError(res, 409, 'CONFLICT');
    expect(new Set(refused.map((r) => r.text)).size).toBe(1);
    expect(await c.rows(w, body)).toBe(1);
    const appId = c.route === 'POST /v1/apps' ? created[0]!.body.id : w.app.id;
    const entries = (await auditRows(appId, c.action)).filter((e) => e.target_id === created[0]!.body.id);
    expect(entries).toHaveLength(1);
    if (c.route === 'POST /v1/apps') expect(await count('SELECT count(*) AS n FROM roles WHERE app_id = ?', appId)).toBe(1);
  });

  it('of one email by renaming: users patched to the same email at once, one wins', async () => {
    const w = await buildWorld();
    const users = await Promise.all(Array.from({ length: 10 }, () => createUser(w.app.name)));
    const email = `${uniqueName('taken')}@example.com`;
    const results = await Promise.all(users.map((u) => api('PATCH', `/v1/apps/${w.app.name}/users/${u.id}`, { body: { email } })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const res of results.filter((r) => r.status !== 200)) expectError(res, 409, 'CONFLICT');
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ? AND email = ?', w.app.id, email)).toBe(1);
    const updated = (await auditRows(w.app.id, 'user.updated')).filter((e) => JSON.parse(e.metadata).changes?.email?.to === email);
    expect(updated).toHaveLength(1);
  });
});

describe('concurrent idempotent changes', () => {
  it('assigning one role ten times at once: ten 200s, one assignment, one entry', async () => {
    const w = await buildWorld();
    const path = `/v1/apps/${w.app.name}/users/${w.userId}/roles`;
    const results = await Promise.all(Array.from({ length: 10 }, () => api('POST', path, { body: { role: w.spareRoleName } })));
    for (const res of results) {
      expect(res.status, res.text).toBe(200);
      expect(res.body.roles).toContain(w.spareRoleName);
    }
    expect(await count('SELECT count(*) AS n FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? AND r.name = ?', w.userId, w.spareRoleName)).toBe(1);
    expect(await auditRows(w.app.id, 'role.assigned')).toHaveLength(1);
  });
});

describe('a burst of wrong passwords through every path that checks one', () => {
  it('logins and invite accepts at once share the account\'s allowance: at most five are checked, the rest are 429', async () => {
    const w = await buildWorld();
    const user = await createUser(w.app.name, { password: PASSWORD });
    const attempts = Array.from({ length: 12 }, (_, i) =>
      i % 2 === 0
        ? login(w.app.name, user.email, `wrong-${i}-password`, freshIp())
        : api('POST', `/v1/invites/${w.inviteToken}/accept`, { key: null, headers: { 'CF-Connecting-IP': freshIp() }, body: { email: user.email, password: `wrong-${i}-password` } }),
    );
    const results = await Promise.all(attempts);
    const checked = results.filter((r) => r.status === 401);
    for (const res of checked) expectError(res, 401, 'INVALID_CREDENTIALS');
    for (const res of results.filter((r) => r.status !== 401)) expectError(res, 429, 'RATE_LIMITED');
    // The allowance is reserved before any hash is checked: exactly five checks, whatever the path.
    expect(checked).toHaveLength(5);
    expect(await auditRows(w.app.id, 'auth.failed')).toHaveLength(checked.length);
    // Not one use of the invite was spent, and the right password is refused while the account is locked.
    expect(await count('SELECT uses AS n FROM invites WHERE id = ?', w.inviteId)).toBe(0);
    expectError(await login(w.app.name, user.email, PASSWORD, freshIp()), 429, 'RATE_LIMITED');
  });
});
