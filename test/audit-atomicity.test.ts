import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { database } from '../src/db/client';
import { createUser as createUserService } from '../src/services/users';
import { requireApp } from '../src/services/apps';
import { AUDIT_ACTION_CASES, caseName } from './audit-actions';
import { logPath } from './audit-helpers';
import { PASSWORD, api, count, expectError, seedApp, uniqueName } from './helpers';

/** Everything an app's changes can touch, and the global tables, as plain rows. */
async function snapshot(appName: string | null) {
  const appIds = 'SELECT id FROM apps WHERE name = ?1';
  const rows = async (sql: string) => (await env.DB.prepare(sql).bind(appName).all()).results;
  const all = async (sql: string) => (await env.DB.prepare(sql).all()).results;
  return {
    apps: await rows('SELECT * FROM apps WHERE name = ?1'),
    users: await rows(`SELECT * FROM users WHERE app_id IN (${appIds}) ORDER BY id`),
    roles: await rows(`SELECT * FROM roles WHERE app_id IN (${appIds}) ORDER BY id`),
    userRoles: await rows(`SELECT * FROM user_roles WHERE app_id IN (${appIds}) ORDER BY user_id, role_id`),
    credentials: await rows(`SELECT * FROM credentials WHERE app_id IN (${appIds}) ORDER BY id`),
    invites: await rows(`SELECT * FROM invites WHERE app_id IN (${appIds}) ORDER BY id`),
    adminKeys: await all('SELECT * FROM admin_keys ORDER BY id'),
    signingKeys: await all('SELECT * FROM signing_keys ORDER BY kid'),
    audit: await all('SELECT * FROM audit_logs ORDER BY rowid'),
  };
}

/**
 * Makes the database refuse entries of `action` while `during` runs: an
 * abort in the last statement of the change's batch, after the change itself
 * was written. D1 must then roll the whole batch back. (Each test file has
 * its own database, so the trigger reaches no other suite.)
 */
async function refusingEntries<T>(action: string, during: () => Promise<T>): Promise<T> {
  if (!/^[a-z_]+\.[a-z_]+$/.test(action)) throw new Error(`unexpected action ${action}`);
  await env.DB.prepare(
    `CREATE TRIGGER refuse_entry BEFORE INSERT ON audit_logs WHEN NEW.action = '${action}' BEGIN SELECT RAISE(ABORT, 'entry refused by the test'); END`,
  ).run();
  try {
    return await during();
  } finally {
    await env.DB.prepare('DROP TRIGGER refuse_entry').run();
  }
}

describe('a change and its entry land together or not at all', () => {
  // Only changes stored in D1 can share a batch with their entry. Token state
  // lives in Durable Objects, and refusals change nothing (see AuditActionCase).
  // An action that stores nothing but its entry must fail with it.
  it.each(AUDIT_ACTION_CASES.filter((c) => ['d1', 'none'].includes(c.change ?? 'd1')).map((c) => [caseName(c), c] as const))(
    '%s: when its entry cannot be written, the change is not made either',
    async (_name, c) => {
      const { action } = c;
      const ctx = await c.arrange();
      const before = await snapshot(ctx.appName);
      const res = await refusingEntries(action, () => c.act(ctx));
      expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      expectError(res, res.status, res.body.error.code);
      expect(res.text).not.toMatch(/refused by the test|D1_|SQLITE|audit_logs/);
      expect(await snapshot(ctx.appName)).toEqual(before);

      // And once the database takes entries again, the same change succeeds with its one entry.
      const retry = await c.act(ctx);
      expect(retry.status, retry.text).toBeLessThan(300);
      if (ctx.appName !== null) {
        expect((await api('GET', `${logPath(ctx.appName)}?action=${action}`)).body.pagination.total).toBe(1);
      }
    },
  );

  it('a batch that fails after the entry was written leaves neither the user, nor its roles, nor the entry', async () => {
    const app = await seedApp();
    const db = database(env);
    const before = await snapshot(app.name);
    // Every batch through this binding ends with a statement that breaks a
    // NOT NULL constraint: the user, its role and user.created are all
    // written before it, and must all be rolled back.
    const failingLast = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === 'batch') {
          return (statements: D1PreparedStatement[]) => target.batch([...statements, target.prepare('INSERT INTO users (id) VALUES (NULL)')]);
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const failing = database({ ...env, DB: failingLast });
    const actor = { id: 'root', ip: null, userAgent: null, requestId: null };
    const email = `${uniqueName('atomic')}@example.com`;
    await expect(
      createUserService(failing, actor, await requireApp(db, app.name), { email, password: PASSWORD, roles: [{ name: 'admin', field: 'role' }] }, Date.now()),
    ).rejects.toThrow(/NOT NULL/);
    expect(await snapshot(app.name)).toEqual(before);
    expect((await api('GET', `${logPath(app.name)}?action=user.created`)).body.pagination.total).toBe(0);

    // The same call through the real binding writes all three.
    const created = await createUserService(db, actor, await requireApp(db, app.name), { email, password: PASSWORD, roles: [{ name: 'admin', field: 'role' }] }, Date.now());
    expect(await count('SELECT count(*) AS n FROM user_roles WHERE user_id = ?', created.user.id)).toBe(1);
    expect((await api('GET', `${logPath(app.name)}?action=user.created&target_id=${created.user.id}`)).body.pagination.total).toBe(1);
  });

  it('a user create that loses a race for its email leaves no user.created entry', async () => {
    const app = await seedApp();
    const email = `${uniqueName('race')}@example.com`;
    const results = await Promise.all(Array.from({ length: 5 }, () => api('POST', `/v1/apps/${app.name}/users`, { body: { email } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    const winner = results.find((r) => r.status === 201)!.body;
    const entries = await api('GET', `${logPath(app.name)}?action=user.created`);
    expect(entries.body.data.map((e: { target_id: string }) => e.target_id)).toEqual([winner.id]);
  });
});
