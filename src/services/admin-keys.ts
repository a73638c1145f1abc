/**
 * Managed admin keys (docs/resources.md#admin-keys): named `hk_...` keys, optionally limited
 * to some apps and/or read-only, managed by the root key. The key itself is
 * returned once, at creation; only its SHA-256 digest is stored, and the
 * audit log records the key's id, never the key or its digest.
 */
import { and, count, desc, eq, sql } from 'drizzle-orm';
import { hashSecret } from '../auth/secrets';
import type { Db } from '../db/client';
import { guard, isGuardFailure } from '../db/guard';
import { adminKeys, apps, type AdminKeyRow } from '../db/schema';
import type { AdminPrincipal } from '../lib/context';
import { ApiError, notFound, type ErrorDetail } from '../lib/errors';
import { newId, newSecret } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { auditEntry, type Actor } from './audit';

const KEY_PREFIX = 'hk_';
/** `hk_`, a 10-character time stamp, 128 random bits in Crockford base32 (see `newSecret`). */
const KEY_SHAPE = /^hk_[0-9A-HJKMNP-TV-Z]{36}$/;

export interface NewAdminKey {
  name: string;
  /** App names the key may act on; null or absent for every app. */
  apps?: string[] | null | undefined;
  read_only?: boolean | undefined;
}

export async function createAdminKey(db: Db, actor: Actor, input: NewAdminKey, now: number): Promise<{ row: AdminKeyRow; key: string }> {
  const names = input.apps == null ? null : await existingApps(db, input.apps);
  const key = newSecret(KEY_PREFIX, now);
  const row: AdminKeyRow = {
    id: newId('adminKey', now),
    name: input.name,
    keyHash: await hashSecret(key),
    apps: names === null ? null : JSON.stringify(names),
    readOnly: input.read_only ?? false,
    status: 'active',
    createdAt: now,
    revokedAt: null,
  };
  await db.batch([
    db.insert(adminKeys).values(row),
    auditEntry(db, actor, {
      appId: null,
      action: 'admin_key.created',
      targetType: 'admin_key',
      targetId: row.id,
      metadata: { name: row.name, apps: names, read_only: row.readOnly },
    }, now),
  ]);
  return { row, key };
}

/**
 * The listed app names, de-duplicated in order, or a 400 naming each one that
 * is no app. Checked before the write rather than inside its batch: apps are
 * never deleted (archiving keeps the row and the name), so an app seen here
 * still exists when the key is stored.
 */
async function existingApps(db: Db, requested: string[]): Promise<string[]> {
  const names = [...new Set(requested)];
  const found = await db
    .select({ name: apps.name })
    .from(apps)
    .where(sql`${apps.name} IN (SELECT value FROM json_each(${JSON.stringify(names)}))`);
  const known = new Set(found.map((r) => r.name));
  const details: ErrorDetail[] = [];
  requested.forEach((name, i) => {
    if (!known.has(name) && requested.indexOf(name) === i) details.push({ field: `apps.${i}`, reason: 'unknown_app' });
  });
  if (details.length > 0) {
    throw new ApiError('VALIDATION_ERROR', `${details[0]!.field} is not an existing app`, { details });
  }
  return names;
}

export async function listAdminKeys(
  db: Db,
  filter: { status?: 'active' | 'revoked' | undefined },
  p: Page,
): Promise<{ rows: AdminKeyRow[]; total: number }> {
  const where = filter.status ? eq(adminKeys.status, filter.status) : undefined;
  const [rows, totals] = await db.batch([
    db.select().from(adminKeys).where(where).orderBy(desc(adminKeys.createdAt), desc(adminKeys.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(adminKeys).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

/** The key with this id, or 404. */
export async function requireAdminKey(db: Db, id: string): Promise<AdminKeyRow> {
  const row = await db.select().from(adminKeys).where(eq(adminKeys.id, id)).get();
  if (!row) throw notFound('admin key');
  return row;
}

/**
 * Revokes a key; it fails authentication from the next request on (keys are
 * looked up per request, never cached). Revoking a revoked key answers its
 * current state again and writes nothing: DELETE is idempotent.
 */
export async function revokeAdminKey(db: Db, actor: Actor, row: AdminKeyRow, now: number): Promise<AdminKeyRow> {
  if (row.status === 'revoked') return row;
  try {
    await db.batch([
      // Two concurrent revokes: one writes, the other finds the guard closed.
      guard(db, sql`EXISTS (SELECT 1 FROM admin_keys WHERE id = ${row.id} AND status = 'active')`),
      db.update(adminKeys).set({ status: 'revoked', revokedAt: now }).where(eq(adminKeys.id, row.id)),
      auditEntry(db, actor, {
        appId: null,
        action: 'admin_key.revoked',
        targetType: 'admin_key',
        targetId: row.id,
        metadata: { name: row.name },
      }, now),
    ]);
  } catch (err) {
    if (isGuardFailure(err)) return requireAdminKey(db, row.id);
    throw err;
  }
  return { ...row, status: 'revoked', revokedAt: now };
}

/**
 * The principal of an active managed key, or null. The lookup is by SHA-256
 * digest through a unique index. That comparison is not constant-time, but
 * all it could reveal is how the digest of a guess orders against stored
 * digests, which says nothing about any key (preimage resistance): the key
 * itself is never compared. Malformed keys are refused without a query.
 */
export async function principalOfManagedKey(db: Db, presented: string): Promise<AdminPrincipal | null> {
  if (!KEY_SHAPE.test(presented)) return null;
  const digest = await hashSecret(presented);
  const row = await db
    .select({ id: adminKeys.id, apps: adminKeys.apps, readOnly: adminKeys.readOnly })
    .from(adminKeys)
    .where(and(eq(adminKeys.keyHash, digest), eq(adminKeys.status, 'active')))
    .get();
  if (!row) return null;
  return {
    id: row.id,
    apps: row.apps === null ? null : Object.freeze(JSON.parse(row.apps) as string[]),
    readOnly: row.readOnly,
  };
}

/** How long /v1/authorize trusts a managed key lookup: the same bound as its other state. */
export const AUTHORIZE_KEY_CACHE_MS = 3_000;
const MAX_CACHED_KEYS = 1_000;
const keyCache = new Map<string, { principal: AdminPrincipal | null; at: number }>();

/**
 * `principalOfManagedKey` for `/v1/authorize` only, remembered per isolate
 * (by digest, never the key) for `AUTHORIZE_KEY_CACHE_MS`, so the authorize
 * hot path does not read D1 per call. There the key only picks the
 * rate-limit bucket; a revoked key stops being accepted within 3 s. Admin
 * routes keep the uncached lookup: a revocation applies to them at once.
 */
export async function cachedPrincipalOfManagedKey(db: Db, presented: string, now: number): Promise<AdminPrincipal | null> {
  if (!KEY_SHAPE.test(presented)) return null;
  const digest = await hashSecret(presented);
  const hit = keyCache.get(digest);
  if (hit && now - hit.at < AUTHORIZE_KEY_CACHE_MS) return hit.principal;
  const principal = await principalOfManagedKey(db, presented);
  keyCache.delete(digest);
  if (keyCache.size >= MAX_CACHED_KEYS) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(digest, { principal, at: now });
  return principal;
}
