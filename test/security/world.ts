/**
 * A "world": one app with one of everything a route can name (a role the
 * user holds and a spare one, a user, a credential, an invite, log entries,
 * a managed admin key) plus the tokens a caller presents. Built through the
 * API with the root key, without a single password hash (0.3 s each): the
 * user has no password, the access token is a service token, and the
 * refresh token is started straight in its Durable Object, as a login would.
 *
 * Also: snapshots of what a request may have changed, to assert that a
 * refused request changed nothing.
 */
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import { newFamilyId, newRefreshToken } from '../../src/auth/refresh-tokens';
import { hashSecret } from '../../src/auth/secrets';
import { createCredential } from '../credential-helpers';
import { api, createAdminKey, createRole, createUser, freshIp, isDocumentation, issuedOnce, seedApp, seenBodies } from '../helpers';
import { fresh } from './routes';

export interface World {
  app: { id: string; name: string };
  /** Held by the user. */
  roleName: string;
  /** Held by nobody: the target of an assignment that changes something. */
  spareRoleName: string;
  userId: string;
  credentialId: string;
  clientId: string;
  clientSecret: string;
  inviteId: string;
  inviteToken: string;
  appLogId: string;
  keyId: string;
  /** The key whose creation wrote `globalLogId`. */
  key: string;
  globalLogId: string;
  /** A service token of the credential. */
  accessToken: string;
  /** A refresh token of the user's session. */
  refreshToken: string;
}

/** Starts a session for `userId` as a login does, without checking a password. */
export async function mintRefreshToken(appId: string, userId: string): Promise<string> {
  const familyId = newFamilyId(Date.now());
  const token = newRefreshToken(familyId);
  const stub = env.REFRESH_TOKENS.get(env.REFRESH_TOKENS.idFromName(`${appId}:${familyId}`));
  await stub.start({ appId, userId, familyId, hash: await hashSecret(token), now: Date.now(), appEpoch: 0, userEpoch: 0 });
  return token;
}

export async function buildWorld(): Promise<World> {
  const app = await seedApp();
  const roleName = fresh('role');
  const spareRoleName = fresh('spare');
  await createRole(app.name, { name: roleName, permissions: ['projects:read'] });
  await createRole(app.name, { name: spareRoleName, permissions: ['billing:read'] });
  const user = await createUser(app.name, { role: roleName });
  const credential = await createCredential(app.name, { name: 'svc', permissions: ['projects:read'] });
  const invite = await api('POST', `/v1/apps/${app.name}/invites`, { body: { role: roleName, max_uses: 1000 } });
  expect(invite.status, invite.text).toBe(201);
  const key = await createAdminKey({ name: fresh('key') });
  const token = await api('POST', `/v1/apps/${app.name}/tokens`, {
    key: null,
    headers: { 'CF-Connecting-IP': freshIp() },
    body: { grant_type: 'client_credentials', client_id: credential.client_id, client_secret: credential.client_secret },
  });
  expect(token.status, token.text).toBe(200);
  const appLog = await env.DB.prepare('SELECT id FROM audit_logs WHERE app_id = ? ORDER BY rowid LIMIT 1').bind(app.id).first<string>('id');
  const globalLog = await env.DB.prepare('SELECT id FROM audit_logs WHERE app_id IS NULL AND target_id = ?').bind(key.id).first<string>('id');
  // Each may be shown once, by the answer that issued it (the hygiene sweep checks).
  for (const secret of [credential.client_secret, invite.body.token, key.key]) issuedOnce(secret);
  return {
    app: { id: app.id, name: app.name },
    roleName,
    spareRoleName,
    userId: user.id,
    credentialId: credential.id,
    clientId: credential.client_id,
    clientSecret: credential.client_secret,
    inviteId: invite.body.id,
    inviteToken: invite.body.token,
    appLogId: appLog!,
    keyId: key.id,
    key: key.key,
    globalLogId: globalLog!,
    accessToken: token.body.access_token,
    refreshToken: await mintRefreshToken(app.id, user.id),
  };
}

const APP_TABLES = ['users', 'roles', 'user_roles', 'credentials', 'invites'] as const;

/** Every row an app owns, its own row and its audit log included, as plain values. */
export async function appRows(appId: string): Promise<Record<string, unknown[]>> {
  const statements = [
    env.DB.prepare('SELECT * FROM apps WHERE id = ?').bind(appId),
    ...APP_TABLES.map((table) => env.DB.prepare(`SELECT * FROM ${table} WHERE app_id = ? ORDER BY rowid`).bind(appId)),
    env.DB.prepare('SELECT * FROM audit_logs WHERE app_id = ? ORDER BY rowid').bind(appId),
  ];
  const results = await env.DB.batch(statements);
  const names = ['apps', ...APP_TABLES, 'audit_logs'];
  return Object.fromEntries(results.map((r, i) => [names[i]!, r.results]));
}

/** Every row of the tables no app owns (admin keys, signing keys, the global log). */
export async function globalRows(): Promise<Record<string, unknown[]>> {
  const [keys, signing, log] = await env.DB.batch([
    env.DB.prepare('SELECT * FROM admin_keys ORDER BY rowid'),
    env.DB.prepare('SELECT kid, status, created_at, activated_at, retired_at, expires_at FROM signing_keys ORDER BY kid'),
    env.DB.prepare('SELECT * FROM audit_logs WHERE app_id IS NULL ORDER BY rowid'),
  ]);
  return { admin_keys: keys!.results, signing_keys: signing!.results, global_log: log!.results };
}

const ALL_TABLES = ['apps', 'users', 'roles', 'user_roles', 'credentials', 'invites', 'admin_keys', 'signing_keys'] as const;

/**
 * Row counts of every table; the audit log counted apart from `auth.failed`
 * entries, which a refused login or client authentication writes by design.
 */
export async function rowCounts(): Promise<Record<string, number>> {
  const results = await env.DB.batch([
    ...ALL_TABLES.map((table) => env.DB.prepare(`SELECT count(*) AS n FROM ${table}`)),
    env.DB.prepare("SELECT count(*) AS n FROM audit_logs WHERE action != 'auth.failed'"),
  ]);
  const names = [...ALL_TABLES, 'audit_logs'];
  return Object.fromEntries(results.map((r, i) => [names[i]!, (r.results[0] as { n: number }).n]));
}

/** Records an answer the suite got without `api`, for the hygiene sweep (which skips the API's documentation). */
export function recordAnswer(path: string, text: string): void {
  if (!isDocumentation(path)) seenBodies.push(text);
}
