/**
 * Service credentials (docs/resources.md#service-credentials): machine clients of one app, each with a
 * client id, a secret and its own permissions. The secret is shown once, in
 * the answer that creates it (creation, rotation); only its SHA-256 digest
 * is stored. Every query is keyed by the app id: another app's credential
 * does not exist here. Digests never leave this module's rows: views are
 * built field by field, never by spreading a row.
 */
import { and, count, desc, eq, sql } from 'drizzle-orm';
import { hashSecret } from '../auth/secrets';
import type { Db } from '../db/client';
import { guard } from '../db/guard';
import { apps, credentials, type AppRow, type CredentialRow } from '../db/schema';
import { type ApiError, conflict, notFound } from '../lib/errors';
import { isId, newId, newSecret } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { isoOrNull } from '../lib/time';
import { assertActive } from './apps';
import { auditEntry, changes, type Actor } from './audit';
import { bumpAuthzVersion, tenantWrite } from './tenant-write';

export const CLIENT_ID_PREFIX = 'svc_';
export const CLIENT_SECRET_PREFIX = 'sk_live_';
/** Longest rotation grace: a week is time enough to roll a secret out everywhere. */
export const MAX_GRACE_PERIOD_SECONDS = 7 * 86_400;

/**
 * 160 random bits, not the usual 128: `secret_last4` shows 20 of them to
 * admins, and what stays unknown must still be at least 128 (RFC 6749 §10.10).
 */
const CLIENT_SECRET_RANDOM_BYTES = 20;

export interface NewCredential {
  name: string;
  permissions: string[];
}

export interface CredentialChanges {
  name?: string | undefined;
  permissions?: string[] | undefined;
  rotate_secret?: boolean | undefined;
  /** Seconds the replaced secret keeps working after a rotation; 0 or absent: it stops at once. */
  grace_period_seconds?: number | undefined;
}

export function credentialPermissions(row: Pick<CredentialRow, 'permissions'>): string[] {
  return JSON.parse(row.permissions) as string[];
}

function newClientSecret(now: number): string {
  return newSecret(CLIENT_SECRET_PREFIX, now, CLIENT_SECRET_RANDOM_BYTES);
}

function credentialRevoked(): ApiError {
  return conflict('the credential is revoked; create a new one', [{ field: 'credential_id', reason: 'revoked' }]);
}

export async function createCredential(db: Db, actor: Actor, app: AppRow, input: NewCredential, now: number): Promise<{ row: CredentialRow; secret: string }> {
  assertActive(app);
  const secret = newClientSecret(now);
  const row: CredentialRow = {
    id: newId('credential', now),
    appId: app.id,
    name: input.name,
    // Not a secret, but unguessable all the same (docs/api-conventions.md#identifiers-and-secrets): knowing one client id says nothing about another.
    clientId: newSecret(CLIENT_ID_PREFIX, now),
    secretHash: await hashSecret(secret),
    secretLast4: secret.slice(-4),
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    permissions: JSON.stringify([...new Set(input.permissions)]),
    status: 'active',
    createdAt: now,
    updatedAt: now,
    rotatedAt: null,
    revokedAt: null,
  };
  await tenantWrite(db, app.id, [
    db.insert(credentials).values(row),
    auditEntry(db, actor, {
      appId: app.id,
      action: 'credential.created',
      targetType: 'credential',
      targetId: row.id,
      metadata: { name: row.name, client_id: row.clientId, permissions: credentialPermissions(row) },
    }, now),
  ]);
  return { row, secret };
}

export async function listCredentials(
  db: Db,
  appId: string,
  filter: { status?: 'active' | 'revoked' | undefined },
  p: Page,
): Promise<{ rows: CredentialRow[]; total: number }> {
  const where = and(eq(credentials.appId, appId), filter.status ? eq(credentials.status, filter.status) : undefined);
  const [rows, totals] = await db.batch([
    db.select().from(credentials).where(where).orderBy(desc(credentials.createdAt), desc(credentials.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(credentials).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

/** The credential with this id in this app, or 404 (a malformed id or another app's id alike). */
export async function requireCredential(db: Db, appId: string, credentialId: string): Promise<CredentialRow> {
  const row = isId('credential', credentialId)
    ? await db.select().from(credentials).where(and(eq(credentials.appId, appId), eq(credentials.id, credentialId))).get()
    : undefined;
  if (!row) throw notFound('credential');
  return row;
}

/** The credential of this app with this client id, whatever its status. */
/**
 * The app named in the path (404 when there is none) and, in the same query,
 * its credential with this client id: a token request makes one D1 read
 * before its audit write. Keyed by the app too, so another app's client id
 * is unknown here; a null client id matches no credential.
 */
export async function requireAppWithCredential(db: Db, appName: string, clientId: string | null): Promise<{ app: AppRow; credential: CredentialRow | undefined }> {
  const found = await db
    .select({ app: apps, credential: credentials })
    .from(apps)
    .leftJoin(credentials, and(eq(credentials.appId, apps.id), eq(credentials.clientId, clientId ?? '')))
    .where(eq(apps.name, appName))
    .get();
  if (!found) throw notFound('app');
  return { app: found.app, credential: found.credential ?? undefined };
}

/**
 * Changes the name and permissions, and with `rotate_secret` issues a new
 * secret (returned, this once). The replaced secret keeps working for
 * `grace_period_seconds` (0: not at all); only the one secret replaced now
 * is kept, so rotating again during a grace period ends the older one at
 * once. A revoked credential cannot be changed (409).
 */
export async function updateCredential(
  db: Db,
  actor: Actor,
  app: AppRow,
  current: CredentialRow,
  input: CredentialChanges,
  now: number,
): Promise<{ row: CredentialRow; secret: string | null }> {
  assertActive(app);
  if (current.status !== 'active') throw credentialRevoked();
  const next: CredentialRow = {
    ...current,
    name: input.name ?? current.name,
    permissions: input.permissions === undefined ? current.permissions : JSON.stringify([...new Set(input.permissions)]),
  };
  const view = (r: CredentialRow) => ({ name: r.name, permissions: credentialPermissions(r) });
  const diff = changes(view(current), view(next));
  const changed = Object.keys(diff).length > 0;
  const rotating = input.rotate_secret === true;
  if (!changed && !rotating) return { row: current, secret: null };
  next.updatedAt = now;

  let secret: string | null = null;
  const grace = input.grace_period_seconds ?? 0;
  if (rotating) {
    secret = newClientSecret(now);
    next.secretHash = await hashSecret(secret);
    next.secretLast4 = secret.slice(-4);
    next.previousSecretHash = grace > 0 ? current.secretHash : null;
    next.previousSecretExpiresAt = grace > 0 ? now + grace * 1000 : null;
    next.rotatedAt = now;
  }
  // Only the columns this request is about: a rename never undoes a concurrent
  // rotation or permission change with the values it read.
  const set: Partial<CredentialRow> = { updatedAt: now };
  if (input.name !== undefined) set.name = next.name;
  if (input.permissions !== undefined) set.permissions = next.permissions;
  if (rotating) {
    Object.assign(set, {
      secretHash: next.secretHash,
      secretLast4: next.secretLast4,
      previousSecretHash: next.previousSecretHash,
      previousSecretExpiresAt: next.previousSecretExpiresAt,
      rotatedAt: now,
    });
  }
  // A rotation is guarded on the secret it replaces: of two concurrent
  // rotations one wins and the other is 409, so no answer ever shows a secret
  // that was overwritten before it was seen.
  const unchanged = rotating
    ? sql`EXISTS (SELECT 1 FROM credentials WHERE id = ${current.id} AND app_id = ${app.id} AND status = 'active' AND secret_hash = ${current.secretHash})`
    : sql`EXISTS (SELECT 1 FROM credentials WHERE id = ${current.id} AND app_id = ${app.id} AND status = 'active')`;
  await tenantWrite(db, app.id, [
    guard(db, unchanged),
    db.update(credentials).set(set).where(and(eq(credentials.id, current.id), eq(credentials.appId, app.id))),
    // New permissions change what authorize answers for the credential's tokens.
    ...(diff.permissions ? [bumpAuthzVersion(db, app.id)] : []),
    ...(changed
      ? [auditEntry(db, actor, { appId: app.id, action: 'credential.updated', targetType: 'credential', targetId: current.id, metadata: { name: current.name, changes: diff } }, now)]
      : []),
    ...(rotating
      ? [auditEntry(db, actor, {
          appId: app.id,
          action: 'credential.rotated',
          targetType: 'credential',
          targetId: current.id,
          // The last four characters identify the new secret; the secret and its digest are never recorded.
          metadata: {
            name: next.name,
            secret_last4: next.secretLast4,
            grace_period_seconds: grace,
            previous_secret_expires_at: isoOrNull(next.previousSecretExpiresAt),
          },
        }, now)]
      : []),
  ], async () => ((await requireCredential(db, app.id, current.id)).status === 'revoked'
    ? credentialRevoked()
    : conflict('the credential changed while it was being updated; retry')));
  return { row: next, secret };
}

/**
 * Revokes a credential: no new tokens, and authorize refuses the tokens it
 * already holds (the app's authz version is bumped in the same batch).
 * Revoking a revoked credential answers its current state again and writes
 * nothing: DELETE is idempotent.
 */
export async function revokeCredential(db: Db, actor: Actor, app: AppRow, current: CredentialRow, now: number): Promise<CredentialRow> {
  assertActive(app);
  if (current.status === 'revoked') return current;
  let revokedConcurrently = false;
  try {
    await tenantWrite(db, app.id, [
      guard(db, sql`EXISTS (SELECT 1 FROM credentials WHERE id = ${current.id} AND app_id = ${app.id} AND status = 'active')`),
      db.update(credentials).set({ status: 'revoked', revokedAt: now, updatedAt: now })
        .where(and(eq(credentials.id, current.id), eq(credentials.appId, app.id))),
      bumpAuthzVersion(db, app.id),
      auditEntry(db, actor, {
        appId: app.id,
        action: 'credential.revoked',
        targetType: 'credential',
        targetId: current.id,
        metadata: { name: current.name, client_id: current.clientId },
      }, now),
    ], () => {
      // Credentials are never deleted, so the guard failed because another request revoked it first.
      revokedConcurrently = true;
      return credentialRevoked();
    });
  } catch (err) {
    if (revokedConcurrently) return requireCredential(db, app.id, current.id);
    throw err;
  }
  return { ...current, status: 'revoked', revokedAt: now, updatedAt: now };
}
