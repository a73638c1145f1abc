/**
 * Concurrent accepts (docs/security-decisions.md#races-and-single-use-tokens): the use is counted in the same
 * batch as the user and the entry, behind a guard, so no interleaving of
 * requests can admit more people than `max_uses`.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { database, type Db } from '../src/db/client';
import { acceptInvite, type AcceptContext } from '../src/services/invite-accept';
import { PASSWORD, api, auditRows, count, createRole, issuedOnce, seedApp, uniqueName } from './helpers';

async function appWithInvite(body: Record<string, unknown>) {
  const app = await seedApp();
  await createRole(app.name, { name: 'editor', permissions: ['projects:read'] });
  const res = await api('POST', `/v1/apps/${app.name}/invites`, { body: { role: 'editor', ...body } });
  expect(res.status, res.text).toBe(201);
  issuedOnce(res.body.token);
  return { app, invite: res.body };
}

function acceptAll(token: string, emails: string[]) {
  return Promise.all(emails.map((email) => api('POST', `/v1/invites/${token}/accept`, { key: null, body: { email, password: PASSWORD } })));
}

async function stored(appId: string, inviteId: string) {
  return {
    uses: await env.DB.prepare('SELECT uses FROM invites WHERE id = ?').bind(inviteId).first<number>('uses'),
    users: await count('SELECT count(*) AS n FROM users WHERE app_id = ?', appId),
    assignments: await count('SELECT count(*) AS n FROM user_roles WHERE app_id = ?', appId),
    entries: (await auditRows(appId, 'invite.accepted')).length,
  };
}

const distinctEmails = (n: number) => Array.from({ length: n }, () => `${uniqueName('racer')}@example.com`);

describe('concurrent accepts never exceed max_uses', () => {
  it.each([1, 3])('20 accepts of an invite with max_uses %i admit exactly that many; the rest get one identical 410', async (maxUses) => {
    const { app, invite } = await appWithInvite({ max_uses: maxUses });
    const results = await acceptAll(invite.token, distinctEmails(20));
    const admitted = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status !== 201);
    expect(admitted).toHaveLength(maxUses);
    expect(refused.map((r) => r.status)).toEqual(Array(20 - maxUses).fill(410));
    expect(new Set(refused.map((r) => r.text)).size).toBe(1);
    expect(refused[0]!.body.error.code).toBe('GONE');
    expect(await stored(app.id, invite.id)).toEqual({ uses: maxUses, users: maxUses, assignments: maxUses, entries: maxUses });
    const entries = await auditRows(app.id, 'invite.accepted');
    expect(entries.map((e) => JSON.parse(e.metadata).user_id).sort()).toEqual(admitted.map((r) => r.body.id).sort());
  });

  it('racing accepts for one new email create one user, and count only the accepts that succeeded', async () => {
    const { app, invite } = await appWithInvite({ max_uses: 10 });
    const email = `${uniqueName('twin')}@example.com`;
    const results = await acceptAll(invite.token, Array(4).fill(email));
    const statuses = results.map((r) => r.status);
    // One creates the user; a loser either lost the insert (409, nothing counted)
    // or came late enough to find the user and proved the same password (200).
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    for (const s of statuses) expect([200, 201, 409]).toContain(s);
    const succeeded = statuses.filter((s) => s < 300).length;
    expect(await stored(app.id, invite.id)).toEqual({ uses: succeeded, users: 1, assignments: 1, entries: succeeded });
  });

  it('an accept racing a revoke lands before it or not at all', async () => {
    const { app, invite } = await appWithInvite({ max_uses: 100 });
    const accepting = Promise.all(distinctEmails(8).map((email) => api('POST', `/v1/invites/${invite.token}/accept`, { key: null, body: { email, password: PASSWORD } })));
    // Revoke while the accepts are in flight (some hashing, some already written).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const revoke = await api('DELETE', `/v1/apps/${app.name}/invites/${invite.id}`);
    const accepts = await accepting;
    expect(revoke.status).toBe(200);
    for (const res of accepts) expect([201, 410]).toContain(res.status);
    const admitted = accepts.filter((r) => r.status === 201).length;
    expect(await stored(app.id, invite.id)).toMatchObject({ uses: admitted, users: admitted, entries: admitted });
    // Commit order is rowid order: every accepted entry precedes the revocation's.
    const order = await env.DB.prepare(
      "SELECT action FROM audit_logs WHERE app_id = ? AND action IN ('invite.accepted', 'invite.revoked') ORDER BY rowid",
    ).bind(app.id).all<{ action: string }>();
    expect(order.results.map((r) => r.action)).toEqual([...Array(admitted).fill('invite.accepted'), 'invite.revoked']);
  });

  it('an accept whose use was taken between its checks and its write answers 410 and writes nothing', async () => {
    const { app, invite } = await appWithInvite({ max_uses: 1 });
    const real = database(env);
    const ctx = (db: Db): AcceptContext => ({ env, db, actor: { id: null, ip: null, userAgent: null, requestId: null }, now: Date.now() });
    const emails = { first: `${uniqueName('first')}@example.com`, late: `${uniqueName('late')}@example.com` };
    // Just before the late accept writes (its checks all passed), another accept takes the only use.
    let raced = false;
    const racing = new Proxy(real, {
      get(target, prop) {
        if (prop === 'batch') {
          return async (statements: Parameters<Db['batch']>[0]) => {
            if (!raced && statements.length > 3) {
              raced = true;
              await acceptInvite(ctx(real), { token: invite.token, email: emails.first, password: PASSWORD });
            }
            return target.batch(statements);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await expect(acceptInvite(ctx(racing), { token: invite.token, email: emails.late, password: PASSWORD })).rejects.toMatchObject({ code: 'GONE' });
    expect(raced).toBe(true);
    expect(await stored(app.id, invite.id)).toEqual({ uses: 1, users: 1, assignments: 1, entries: 1 });
    expect(await count('SELECT count(*) AS n FROM users WHERE email = ?', emails.late)).toBe(0);
  });
});
