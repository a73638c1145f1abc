import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { database } from '../src/db/client';
import { requireApp } from '../src/services/apps';
import { requireCredential, updateCredential } from '../src/services/credentials';
import { logPath } from './audit-helpers';
import { BILLING, clientCredentials, createCredential } from './credential-helpers';
import {
  ISO_SECONDS,
  api,
  auditRows,
  authorizeCall,
  expectDetail,
  expectError,
  idPattern,
  seedApp,
  seenBodies,
  sha256Hex,
} from './helpers';

// No answer of this file carries a digest or any other secret-bearing member.

const REFERENCE_FIELDS = ['id', 'app_id', 'name', 'client_id', 'client_secret', 'permissions', 'created_at'];
const STATE_FIELDS = ['status', 'secret_last4', 'updated_at', 'rotated_at', 'previous_secret_expires_at', 'revoked_at'];
/** A credential as lists and reads show it: the reference's fields without the secret, then its state. */
const VIEW_FIELDS = [...REFERENCE_FIELDS.filter((f) => f !== 'client_secret'), ...STATE_FIELDS];

const CLIENT_ID = /^svc_[0-9A-HJKMNP-TV-Z]{36}$/;
/** `sk_live_`, a 10-character time stamp, 160 random bits (32 characters). */
const CLIENT_SECRET = /^sk_live_[0-9A-HJKMNP-TV-Z]{42}$/;

async function storedCredential(id: string): Promise<Record<string, unknown>> {
  return (await env.DB.prepare('SELECT * FROM credentials WHERE id = ?').bind(id).first())!;
}

function credentialPath(appName: string, id?: string): string {
  return `/v1/apps/${appName}/credentials${id === undefined ? '' : `/${id}`}`;
}

describe('creating a credential', () => {
  it('answers the reference example in its field order, shows the secret this once and stores only its digest', async () => {
    const app = await seedApp();
    const res = await api('POST', credentialPath(app.name), { body: { name: 'billing-service', permissions: ['billing:read', 'billing:write'] } });
    expect(res.status, res.text).toBe(201);
    expect(Object.keys(res.body)).toEqual([...REFERENCE_FIELDS, ...STATE_FIELDS]);
    const secret = res.body.client_secret as string;
    expect(res.body).toEqual({
      id: expect.stringMatching(idPattern('cred_')),
      app_id: app.id,
      name: 'billing-service',
      client_id: expect.stringMatching(CLIENT_ID),
      client_secret: expect.stringMatching(CLIENT_SECRET),
      permissions: ['billing:read', 'billing:write'],
      created_at: expect.stringMatching(ISO_SECONDS),
      status: 'active',
      secret_last4: secret.slice(-4),
      updated_at: res.body.created_at,
      rotated_at: null,
      previous_secret_expires_at: null,
      revoked_at: null,
    });
    expect(res.headers.get('Cache-Control')).toBe('no-store');

    const stored = await storedCredential(res.body.id);
    expect(stored.secret_hash).toBe(await sha256Hex(secret));
    expect(JSON.stringify(stored)).not.toContain(secret.slice(8));
    const [entry] = await auditRows(app.id, 'credential.created');
    expect(entry).toMatchObject({ actor_id: 'root', target_type: 'credential', target_id: res.body.id });
    expect(JSON.stringify(entry)).not.toContain(secret.slice(8));
    expect(JSON.stringify(entry)).not.toContain(stored.secret_hash as string);
  });

  it('gives every credential its own client id and secret, and de-duplicates permissions', async () => {
    const app = await seedApp();
    const a = await createCredential(app.name, { name: 'a', permissions: ['billing:read', 'billing:read', '*'] });
    const b = await createCredential(app.name, { name: 'a', permissions: [] });
    expect(a.permissions).toEqual(['billing:read', '*']);
    expect(b.permissions).toEqual([]);
    expect(new Set([a.id, b.id]).size).toBe(2);
    expect(new Set([a.client_id, b.client_id]).size).toBe(2);
    expect(new Set([a.client_secret, b.client_secret]).size).toBe(2);
  });

  it('refuses bad names, permissions outside the grammar, and unknown fields', async () => {
    const app = await seedApp();
    const post = (body: unknown) => api('POST', credentialPath(app.name), { body });
    expectDetail(await post({ name: 'x' }), 'permissions', 'required');
    expectDetail(await post({ permissions: [] }), 'name', 'required');
    expectDetail(await post({ name: '', permissions: [] }), 'name', 'too_short');
    expectDetail(await post({ name: 'x\u202e', permissions: [] }), 'name', 'invalid_characters');
    for (const bad of ['BILLING:READ', 'billing:', 'billing:read ', '*:*', 'billing']) {
      expectDetail(await post({ name: 'x', permissions: [bad] }), 'permissions.0', 'invalid_format');
    }
    expectDetail(await post({ name: 'x', permissions: 'billing:read' }), 'permissions', 'invalid_type');
    for (const field of ['client_secret', 'client_id', 'app_id', 'secret_hash', 'status']) {
      expectDetail(await post({ ...BILLING, [field]: 'x' }), field, 'unknown_field');
    }
    expect(await auditRows(app.id, 'credential.created')).toHaveLength(0);
  });
});

describe('reading credentials', () => {
  it('lists newest first without any secret, filtered by status and paginated', async () => {
    const app = await seedApp();
    const first = await createCredential(app.name, { name: 'first', permissions: ['a:read'] });
    const second = await createCredential(app.name, { name: 'second', permissions: ['b:read'] });
    const third = await createCredential(app.name, { name: 'third', permissions: ['c:read'] });
    await api('DELETE', credentialPath(app.name, second.id));

    const all = await api('GET', credentialPath(app.name));
    expect(all.status).toBe(200);
    expect(all.body.pagination).toEqual({ total: 3, limit: 20, offset: 0, has_more: false });
    expect(all.body.data.map((c: { name: string }) => c.name)).toEqual(['third', 'second', 'first']);
    for (const view of all.body.data) expect(Object.keys(view)).toEqual(VIEW_FIELDS);
    expect(all.body.data[2]).toEqual({ ...first, client_secret: undefined });
    expect(all.headers.get('Cache-Control')).toBe('no-store');

    const revoked = await api('GET', `${credentialPath(app.name)}?status=revoked`);
    expect(revoked.body.data.map((c: { id: string }) => c.id)).toEqual([second.id]);
    expect(revoked.body.data[0]).toMatchObject({ status: 'revoked', revoked_at: expect.stringMatching(ISO_SECONDS) });
    const active = await api('GET', `${credentialPath(app.name)}?status=active&limit=1&offset=1`);
    expect(active.body.data.map((c: { id: string }) => c.id)).toEqual([first.id]);
    expect(active.body.pagination).toEqual({ total: 2, limit: 1, offset: 1, has_more: false });

    expectDetail(await api('GET', `${credentialPath(app.name)}?status=deleted`), 'status', 'invalid_value');
    expectDetail(await api('GET', `${credentialPath(app.name)}?limit=101`), 'limit', 'too_large');
    expectDetail(await api('GET', `${credentialPath(app.name)}?client_secret=x`), 'client_secret', 'unknown_field');

    const one = await api('GET', credentialPath(app.name, third.id));
    expect(one.status).toBe(200);
    expect(one.body).toEqual(all.body.data[0]);
  });
});

describe('updating a credential', () => {
  it('changes only the fields sent, audits what changed, and a PATCH that changes nothing writes nothing', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const renamed = await api('PATCH', credentialPath(app.name, created.id), { body: { name: 'billing-v2' } });
    expect(renamed.status, renamed.text).toBe(200);
    expect(Object.keys(renamed.body)).toEqual(VIEW_FIELDS);
    expect(renamed.body).toMatchObject({ name: 'billing-v2', permissions: BILLING.permissions, client_id: created.client_id, secret_last4: created.secret_last4 });

    const narrowed = await api('PATCH', credentialPath(app.name, created.id), { body: { permissions: ['billing:read', 'billing:read'] } });
    expect(narrowed.body).toMatchObject({ name: 'billing-v2', permissions: ['billing:read'] });
    expect((await api('PATCH', credentialPath(app.name, created.id), { body: { name: 'billing-v2', rotate_secret: false } })).status).toBe(200);
    expect((await api('PATCH', credentialPath(app.name, created.id), { body: {} })).status).toBe(200);

    const entries = await auditRows(app.id, 'credential.updated');
    expect(entries.map((e) => JSON.parse(e.metadata))).toEqual([
      { name: 'billing-service', changes: { name: { from: 'billing-service', to: 'billing-v2' } } },
      { name: 'billing-v2', changes: { permissions: { from: ['billing:read', 'billing:write'], to: ['billing:read'] } } },
    ]);
    expect(await auditRows(app.id, 'credential.rotated')).toHaveLength(0);
    // The secret was not touched.
    expect((await clientCredentials(app.name, created.client_id, created.client_secret)).status).toBe(200);
  });

  it('never undoes, from a stale read, a change made in between: a rename keeps newer permissions and a newer secret', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const db = database(env);
    const stale = await requireCredential(db, app.id, created.id);
    await api('PATCH', credentialPath(app.name, created.id), { body: { permissions: ['billing:read'] } });
    const rotated = (await api('PATCH', credentialPath(app.name, created.id), { body: { rotate_secret: true } })).body;
    const actor = { id: 'root', ip: null, userAgent: null, requestId: null };
    await updateCredential(db, actor, await requireApp(db, app.name), stale, { name: 'renamed' }, Date.now());
    expect((await api('GET', credentialPath(app.name, created.id))).body).toMatchObject({ name: 'renamed', permissions: ['billing:read'], secret_last4: rotated.secret_last4 });
    expect((await clientCredentials(app.name, created.client_id, rotated.client_secret)).status).toBe(200);
  });

  it('refuses a grace period without a rotation or out of bounds, the client id, and unknown fields', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const before = await storedCredential(created.id);
    const patch = (body: unknown) => api('PATCH', credentialPath(app.name, created.id), { body });
    expectDetail(await patch({ grace_period_seconds: 60 }), 'grace_period_seconds', 'requires_rotate_secret');
    expectDetail(await patch({ rotate_secret: false, grace_period_seconds: 60 }), 'grace_period_seconds', 'requires_rotate_secret');
    expectDetail(await patch({ rotate_secret: true, grace_period_seconds: -1 }), 'grace_period_seconds', 'too_small');
    expectDetail(await patch({ rotate_secret: true, grace_period_seconds: 7 * 86_400 + 1 }), 'grace_period_seconds', 'too_large');
    expectDetail(await patch({ rotate_secret: true, grace_period_seconds: 1.5 }), 'grace_period_seconds', 'invalid_type');
    expectDetail(await patch({ rotate_secret: true, grace_period_seconds: '60' }), 'grace_period_seconds', 'invalid_type');
    expectDetail(await patch({ rotate_secret: 'yes' }), 'rotate_secret', 'invalid_type');
    expectDetail(await patch({ client_id: 'svc_mine' }), 'client_id', 'immutable');
    expectDetail(await patch({ client_secret: 'sk_live_mine' }), 'client_secret', 'unknown_field');
    expectDetail(await patch({ status: 'active' }), 'status', 'unknown_field');
    expectDetail(await patch({ permissions: ['Billing:Read'] }), 'permissions.0', 'invalid_format');
    expect(await storedCredential(created.id)).toEqual(before);
    // The largest grace period is accepted.
    expect((await patch({ rotate_secret: true, grace_period_seconds: 7 * 86_400 })).status).toBe(200);
  });

  it('never lets two concurrent rotations replace the same secret: the losers get 409, and only the last secret shown works', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => api('PATCH', credentialPath(app.name, created.id), { body: { rotate_secret: true } })),
    );
    const winners = results.filter((r) => r.status === 200);
    expect(winners.length).toBeGreaterThanOrEqual(1);
    for (const loser of results.filter((r) => r.status !== 200)) expectError(loser, 409, 'CONFLICT');
    // Every answer that showed a secret is one audited rotation; none was silently overwritten.
    expect(await auditRows(app.id, 'credential.rotated')).toHaveLength(winners.length);
    const working = [];
    for (const w of winners) if ((await clientCredentials(app.name, created.client_id, w.body.client_secret)).status === 200) working.push(w.body.secret_last4);
    expect(working).toEqual([(await storedCredential(created.id)).secret_last4]);
  });
});

describe('revoking a credential', () => {
  it('answers 200 with the revoked credential, again for a second revoke, and a revoked credential cannot change', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const res = await api('DELETE', credentialPath(app.name, created.id));
    expect(res.status, res.text).toBe(200);
    expect(Object.keys(res.body)).toEqual(VIEW_FIELDS);
    expect(res.body).toMatchObject({ id: created.id, status: 'revoked', revoked_at: expect.stringMatching(ISO_SECONDS) });

    const again = await api('DELETE', credentialPath(app.name, created.id));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    expect(await auditRows(app.id, 'credential.revoked')).toHaveLength(1);

    const before = await storedCredential(created.id);
    for (const body of [{ name: 'back' }, { rotate_secret: true }, { permissions: ['*'] }]) {
      const refused = await api('PATCH', credentialPath(app.name, created.id), { body });
      expectError(refused, 409, 'CONFLICT');
      expectDetail(refused, 'credential_id', 'revoked');
    }
    expect(await storedCredential(created.id)).toEqual(before);
  });

  it('writes one entry however many revokes race', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const results = await Promise.all(Array.from({ length: 5 }, () => api('DELETE', credentialPath(app.name, created.id))));
    for (const res of results) expect(res.body).toMatchObject({ status: 'revoked' });
    expect(new Set(results.map((r) => r.body.revoked_at)).size).toBe(1);
    expect(await auditRows(app.id, 'credential.revoked')).toHaveLength(1);
  });
});

describe('tenant isolation', () => {
  it('answers another app\'s credential with the 404 of an unknown id on every route, and changes nothing', async () => {
    const mine = await seedApp();
    const theirs = await seedApp();
    const theirCredential = await createCredential(theirs.name);
    const before = await storedCredential(theirCredential.id);
    const unknown = await api('GET', credentialPath(mine.name, 'cred_01M8GCYKQVBFWM07Q9RW99N439'));
    expectError(unknown, 404, 'NOT_FOUND');

    const attempts = [
      await api('GET', credentialPath(mine.name, theirCredential.id)),
      await api('PATCH', credentialPath(mine.name, theirCredential.id), { body: { name: 'hijacked', permissions: ['*'] } }),
      await api('PATCH', credentialPath(mine.name, theirCredential.id), { body: { rotate_secret: true, grace_period_seconds: 60 } }),
      await api('DELETE', credentialPath(mine.name, theirCredential.id)),
      await api('GET', credentialPath(mine.name, `${theirCredential.id}x`)),
      await api('DELETE', credentialPath(mine.name, "' OR 1=1 --")),
    ];
    for (const res of attempts) {
      expectError(res, 404, 'NOT_FOUND');
      expect(res.text).toBe(unknown.text);
    }
    expect((await api('GET', credentialPath(mine.name))).body.pagination.total).toBe(0);
    expect(await storedCredential(theirCredential.id)).toEqual(before);
    expect(await auditRows(mine.id)).toHaveLength(1); // app.created only
    // Their credential still works, with its own secret, in its own app.
    expect((await clientCredentials(theirs.name, theirCredential.client_id, theirCredential.client_secret)).status).toBe(200);
  });
});

describe('an archived app', () => {
  it('keeps its credentials readable, answers every write and the grant with 409 APP_ARCHIVED, and changes nothing', async () => {
    const app = await seedApp();
    const created = await createCredential(app.name);
    const revokedOne = await createCredential(app.name, { name: 'old', permissions: [] });
    await api('DELETE', credentialPath(app.name, revokedOne.id));
    await api('DELETE', `/v1/apps/${app.name}`);
    const before = await storedCredential(created.id);

    expect((await api('GET', credentialPath(app.name))).body.pagination.total).toBe(2);
    expect((await api('GET', credentialPath(app.name, created.id))).status).toBe(200);
    expectError(await api('POST', credentialPath(app.name), { body: BILLING }), 409, 'APP_ARCHIVED');
    expectError(await api('PATCH', credentialPath(app.name, created.id), { body: { name: 'x' } }), 409, 'APP_ARCHIVED');
    expectError(await api('PATCH', credentialPath(app.name, created.id), { body: { rotate_secret: true } }), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', credentialPath(app.name, created.id)), 409, 'APP_ARCHIVED');
    expectError(await api('DELETE', credentialPath(app.name, revokedOne.id)), 409, 'APP_ARCHIVED');
    expectError(await clientCredentials(app.name, created.client_id, created.client_secret), 409, 'APP_ARCHIVED');
    expect(await storedCredential(created.id)).toEqual(before);
    expect((await api('GET', credentialPath(app.name))).body.pagination.total).toBe(2);
  });
});

describe('the client secret', () => {
  it('appears in the create and rotate answers and nowhere else: reads, lists, tokens, authorize, errors, the audit log', async () => {
    const app = await seedApp();
    const start = seenBodies.length;
    const createRes = await api('POST', credentialPath(app.name), { body: BILLING });
    const created = createRes.body;
    const rotateRes = await api('PATCH', credentialPath(app.name, created.id), { body: { rotate_secret: true, grace_period_seconds: 600 } });
    const rotated = rotateRes.body;
    expect(Object.keys(rotated)).toEqual([...REFERENCE_FIELDS, ...STATE_FIELDS]);
    expect(rotated.client_secret).toMatch(CLIENT_SECRET);
    expect(rotated.client_secret).not.toBe(created.client_secret);

    const token = (await clientCredentials(app.name, created.client_id, rotated.client_secret, 'basic')).body.access_token;
    await clientCredentials(app.name, created.client_id, created.client_secret, 'form');
    await clientCredentials(app.name, created.client_id, `${rotated.client_secret}x`);
    await authorizeCall({ token, permission: 'billing:read' });
    await api('GET', credentialPath(app.name));
    await api('GET', credentialPath(app.name, created.id));
    await api('PATCH', credentialPath(app.name, created.id), { body: { name: 'renamed', client_secret: created.client_secret } });
    await api('PATCH', credentialPath(app.name, created.id), { body: { name: 'renamed' } });
    await api('DELETE', credentialPath(app.name, created.id));
    await clientCredentials(app.name, created.client_id, rotated.client_secret);
    await api('GET', logPath(app.name));
    await api('GET', `${logPath(app.name)}/export`);

    const bodies = seenBodies.slice(start);
    expect(bodies.length).toBeGreaterThanOrEqual(14);
    const carrying = (secret: string) => bodies.filter((b) => b.includes(secret.slice(8)));
    expect(carrying(created.client_secret)).toEqual([createRes.text]);
    expect(carrying(rotated.client_secret)).toEqual([rotateRes.text]);

    // At rest: two digests (the current secret and the one in its grace period), never a secret.
    const stored = await storedCredential(created.id);
    expect(stored.secret_hash).toBe(await sha256Hex(rotated.client_secret));
    expect(stored.previous_secret_hash).toBe(await sha256Hex(created.client_secret));
    const everything = JSON.stringify((await env.DB.prepare('SELECT * FROM audit_logs WHERE app_id = ?').bind(app.id).all()).results) + JSON.stringify(stored);
    for (const secret of [created.client_secret, rotated.client_secret]) expect(everything).not.toContain(secret.slice(8));
    expect(JSON.stringify(await auditRows(app.id))).not.toContain(stored.secret_hash as string);
  });
});
