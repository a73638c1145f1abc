import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import {
  BASE,
  ISO_SECONDS,
  PASSWORD,
  api,
  auditRows,
  count,
  createRole,
  expectDetail,
  expectError,
  idPattern,
  issuedOnce,
  seedApp,
  sha256Hex,
} from './helpers';
import { appWithEditor, expiredInvite, inviter } from './invite-helpers';

const invite = inviter();

function accept(token: string, body: Record<string, unknown>) {
  return api('POST', `/v1/invites/${token}/accept`, { key: null, body: { password: PASSWORD, ...body } });
}

describe('creating an invite', () => {
  it('answers the reference example field by field, stores only the token\'s hash, and audits it without the token', async () => {
    const { app, role } = await appWithEditor();
    const res = await api('POST', `/v1/apps/${app.name}/invites`, {
      body: { email: 'bob@contractor.io', role: 'editor', expires_in_hours: 72, max_uses: 1 },
    });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body)).toEqual(['id', 'app_id', 'email', 'role', 'token', 'invite_url', 'expires_at', 'max_uses', 'uses', 'created_at', 'status']);
    const { token } = res.body;
    expect(res.body.id).toMatch(idPattern('inv_'));
    // inv_tok_, a time stamp, then 128 random bits (26 base32 characters).
    expect(token).toMatch(/^inv_tok_[0-9A-HJKMNP-TV-Z]{36}$/);
    expect(res.body).toMatchObject({ app_id: app.id, email: 'bob@contractor.io', role: 'editor', max_uses: 1, uses: 0, status: 'pending' });
    expect(res.body.invite_url).toBe(`${BASE}/v1/invites/${token}/accept`);
    expect(res.body.created_at).toMatch(ISO_SECONDS);
    expect(Date.parse(res.body.expires_at) - Date.parse(res.body.created_at)).toBe(72 * 3_600_000);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(res.headers.get('Referrer-Policy')).toBe('no-referrer');

    const stored = await env.DB.prepare('SELECT * FROM invites WHERE id = ?').bind(res.body.id).first<Record<string, unknown>>();
    expect(stored).toMatchObject({ app_id: app.id, email: 'bob@contractor.io', role_id: role.id, token_hash: await sha256Hex(token), uses: 0, max_uses: 1, status: 'active' });
    expect(JSON.stringify(stored)).not.toContain(token);

    const entries = await auditRows(app.id, 'invite.created');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor_id: 'root', target_type: 'invite', target_id: res.body.id });
    expect(JSON.parse(entries[0].metadata)).toEqual({ email: 'bob@contractor.io', role: 'editor', expires_at: res.body.expires_at, max_uses: 1 });
    expect(JSON.stringify(entries[0])).not.toContain(token.slice(8));
    expect(JSON.stringify(entries[0])).not.toContain(stored!.token_hash as string);
    issuedOnce(token);
  });

  it('defaults to 72 hours and one use, with no email, and normalises an email like users do', async () => {
    const { app } = await appWithEditor();
    const bare = await invite(app.name);
    expect(bare).toMatchObject({ email: null, max_uses: 1, uses: 0 });
    expect(Date.parse(bare.expires_at) - Date.parse(bare.created_at)).toBe(72 * 3_600_000);
    expect((await invite(app.name, { email: '  Bob@Contractor.IO ' })).email).toBe('bob@contractor.io');
    const widest = await invite(app.name, { expires_in_hours: 720, max_uses: 1000 });
    expect(widest).toMatchObject({ max_uses: 1000 });
    expect(Date.parse(widest.expires_at) - Date.parse(widest.created_at)).toBe(720 * 3_600_000);
  });

  it('mints a distinct token every time', async () => {
    const { app } = await appWithEditor();
    const minted: string[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(Array.from({ length: 40 }, () => invite(app.name)));
      minted.push(...batch.map((i) => i.token as string));
    }
    expect(new Set(minted).size).toBe(200);
    expect(await count('SELECT count(DISTINCT token_hash) AS n FROM invites WHERE app_id = ?', app.id)).toBe(200);
  });

  it('refuses out-of-bounds or non-integer hours and uses with details, and stores nothing', async () => {
    const { app } = await appWithEditor();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ expires_in_hours: 0 }, 'expires_in_hours', 'too_small'],
      [{ expires_in_hours: -1 }, 'expires_in_hours', 'too_small'],
      [{ expires_in_hours: 721 }, 'expires_in_hours', 'too_large'],
      [{ expires_in_hours: 1e9 }, 'expires_in_hours', 'too_large'],
      [{ expires_in_hours: 1.5 }, 'expires_in_hours', 'invalid_type'],
      [{ expires_in_hours: '24' }, 'expires_in_hours', 'invalid_type'],
      [{ expires_in_hours: null }, 'expires_in_hours', 'invalid_type'],
      [{ max_uses: 0 }, 'max_uses', 'too_small'],
      [{ max_uses: -1 }, 'max_uses', 'too_small'],
      [{ max_uses: 1001 }, 'max_uses', 'too_large'],
      [{ max_uses: 1e9 }, 'max_uses', 'too_large'],
      [{ max_uses: 2.5 }, 'max_uses', 'invalid_type'],
      [{ max_uses: '1' }, 'max_uses', 'invalid_type'],
      [{ email: 'not-an-email' }, 'email', 'invalid_format'],
      [{ role: 'Not A Role' }, 'role', 'invalid_format'],
      [{ token: 'inv_tok_mine' }, 'token', 'unknown_field'],
      [{ uses: 0 }, 'uses', 'unknown_field'],
    ];
    for (const [body, field, reason] of cases) {
      const res = await api('POST', `/v1/apps/${app.name}/invites`, { body: { role: 'editor', ...body } });
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, field, reason);
    }
    expectDetail(await api('POST', `/v1/apps/${app.name}/invites`, { body: {} }), 'role', 'required');
    expect(await count('SELECT count(*) AS n FROM invites WHERE app_id = ?', app.id)).toBe(0);
    expect(await auditRows(app.id, 'invite.created')).toHaveLength(0);
  });

  it('refuses a role that is not this app\'s, even one another app has, as unknown_role', async () => {
    const { app } = await appWithEditor();
    const other = await seedApp();
    await createRole(other.name, { name: 'billing', permissions: ['billing:*'] });
    for (const role of ['ghost', 'billing']) {
      const res = await api('POST', `/v1/apps/${app.name}/invites`, { body: { role } });
      expectError(res, 400, 'VALIDATION_ERROR');
      expectDetail(res, 'role', 'unknown_role');
    }
    expect(await count('SELECT count(*) AS n FROM invites WHERE app_id IN (?, ?)', app.id, other.id)).toBe(0);
  });

  it('is refused on an archived app, and on an unknown one', async () => {
    const { app } = await appWithEditor();
    await api('DELETE', `/v1/apps/${app.name}`);
    expectError(await api('POST', `/v1/apps/${app.name}/invites`, { body: { role: 'editor' } }), 409, 'APP_ARCHIVED');
    expectError(await api('POST', '/v1/apps/no-such-app/invites', { body: { role: 'editor' } }), 404, 'NOT_FOUND');
    expect(await count('SELECT count(*) AS n FROM invites WHERE app_id = ?', app.id)).toBe(0);
  });
});

describe('listing invites', () => {
  it('shows only pending invites, newest first, paginated, and never a token or URL', async () => {
    const { app } = await appWithEditor();
    const expired = await expiredInvite(invite, app.name);
    const revoked = await invite(app.name);
    expect((await api('DELETE', `/v1/apps/${app.name}/invites/${revoked.id}`)).status).toBe(200);
    const usedUp = await invite(app.name);
    expect((await accept(usedUp.token, { email: 'used@example.com' })).status).toBe(201);
    const pending = [await invite(app.name, { email: 'a@example.com' }), await invite(app.name, { max_uses: 3 }), await invite(app.name)];

    const res = await api('GET', `/v1/apps/${app.name}/invites`);
    expect(res.status).toBe(200);
    expect(res.body.data.map((i: any) => i.id)).toEqual(pending.map((i) => i.id).reverse());
    expect(res.body.pagination).toEqual({ total: 3, limit: 20, offset: 0, has_more: false });
    const { token: _t, invite_url: _u, ...shown } = pending[0];
    expect(res.body.data[2]).toEqual(shown);
    for (const gone of [expired, revoked, usedUp]) expect(res.text).not.toContain(gone.id);
    for (const t of [expired, revoked, usedUp, ...pending].map((i) => i.token)) expect(res.text).not.toContain(t);
    expect(res.text).not.toContain('invite_url');

    const page = await api('GET', `/v1/apps/${app.name}/invites?limit=2&offset=1`);
    expect(page.body.data.map((i: any) => i.id)).toEqual([pending[1].id, pending[0].id]);
    expect(page.body.pagination).toEqual({ total: 3, limit: 2, offset: 1, has_more: false });
    for (const bad of ['limit=0', 'limit=101', 'offset=-1', 'status=revoked']) {
      expectError(await api('GET', `/v1/apps/${app.name}/invites?${bad}`), 400, 'VALIDATION_ERROR');
    }
  });

  it('shows another app nothing of this app\'s invites', async () => {
    const { app } = await appWithEditor();
    const other = await seedApp();
    await invite(app.name);
    expect((await api('GET', `/v1/apps/${other.name}/invites`)).body.pagination.total).toBe(0);
  });
});

describe('revoking an invite', () => {
  it('answers 200 with status revoked, audits it once, and the token stops working', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name, { email: 'bob@contractor.io' });
    const res = await api('DELETE', `/v1/apps/${app.name}/invites/${created.id}`);
    expect(res.status).toBe(200);
    const { token: _t, invite_url: _u, ...shown } = created;
    expect(res.body).toEqual({ ...shown, status: 'revoked' });
    expect(await env.DB.prepare('SELECT status, revoked_at FROM invites WHERE id = ?').bind(created.id).first()).toMatchObject({ status: 'revoked', revoked_at: expect.any(Number) });
    const entries = await auditRows(app.id, 'invite.revoked');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actor_id: 'root', target_type: 'invite', target_id: created.id });
    expect(JSON.parse(entries[0].metadata)).toEqual({ email: 'bob@contractor.io', role: 'editor', uses: 0, previous_status: 'pending' });
    expectError(await accept(created.token, {}), 410, 'GONE');
  });

  it('is idempotent: revoking again answers the same and writes no second entry', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name);
    const first = await api('DELETE', `/v1/apps/${app.name}/invites/${created.id}`);
    const again = await api('DELETE', `/v1/apps/${app.name}/invites/${created.id}`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const racing = await invite(app.name);
    const raced = await Promise.all(Array.from({ length: 5 }, () => api('DELETE', `/v1/apps/${app.name}/invites/${racing.id}`)));
    expect(raced.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(raced.map((r) => r.body.status)).toEqual(['revoked', 'revoked', 'revoked', 'revoked', 'revoked']);
    expect(await auditRows(app.id, 'invite.revoked')).toHaveLength(2);
  });

  it('revokes an expired invite too, so DELETE always ends revoked', async () => {
    const { app } = await appWithEditor();
    const created = await expiredInvite(invite, app.name);
    const res = await api('DELETE', `/v1/apps/${app.name}/invites/${created.id}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('revoked');
    expect(JSON.parse((await auditRows(app.id, 'invite.revoked'))[0].metadata)).toMatchObject({ previous_status: 'expired' });
  });

  it('through another app\'s path is a 404 that changes nothing: the invite still works', async () => {
    const { app } = await appWithEditor();
    const other = await seedApp();
    const created = await invite(app.name);
    for (const path of [`/v1/apps/${other.name}/invites/${created.id}`, `/v1/apps/${app.name}/invites/inv_nope`, `/v1/apps/${app.name}/invites/${created.token}`]) {
      expectError(await api('DELETE', path), 404, 'NOT_FOUND');
    }
    expect(await env.DB.prepare('SELECT status FROM invites WHERE id = ?').bind(created.id).first('status')).toBe('active');
    expect(await auditRows(other.id, 'invite.revoked')).toHaveLength(0);
    expect(await auditRows(app.id, 'invite.revoked')).toHaveLength(0);
    expect((await accept(created.token, { email: 'still@example.com' })).status).toBe(201);
  });

  it('is refused on an archived app, and the invite stays as it was', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name);
    await api('DELETE', `/v1/apps/${app.name}`);
    expectError(await api('DELETE', `/v1/apps/${app.name}/invites/${created.id}`), 409, 'APP_ARCHIVED');
    expect(await env.DB.prepare('SELECT status FROM invites WHERE id = ?').bind(created.id).first('status')).toBe('active');
  });
});

describe('deleting the invite\'s role', () => {
  it('is refused while an invite is pending, and with force revokes the invite in the same change', async () => {
    const { app } = await appWithEditor();
    const created = await invite(app.name);
    const refused = await api('DELETE', `/v1/apps/${app.name}/roles/editor`);
    expectError(refused, 409, 'CONFLICT');
    expect((await api('DELETE', `/v1/apps/${app.name}/roles/editor?force=true`)).status).toBe(200);
    expect(await env.DB.prepare('SELECT status FROM invites WHERE id = ?').bind(created.id).first('status')).toBe('revoked');
    expect(JSON.parse((await auditRows(app.id, 'role.deleted'))[0].metadata)).toMatchObject({ invites_revoked: 1 });
    expectError(await accept(created.token, { email: 'late@example.com' }), 410, 'GONE');
    expect(await count('SELECT count(*) AS n FROM users WHERE app_id = ?', app.id)).toBe(0);
  });
});
