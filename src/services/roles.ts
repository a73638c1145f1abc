/**
 * Roles: named permission sets inside one app. Every query is keyed by the
 * app id; a role of another app does not exist here.
 */
import { and, count, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { guard } from '../db/guard';
import { invites, roles, userRoles, type AppRow, type RoleRow } from '../db/schema';
import { ApiError, conflict, isUniqueViolation, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { assertActive } from './apps';
import { auditEntry, changes, type Actor } from './audit';
import { bumpAuthzVersion, tenantWrite } from './tenant-write';

export interface NewRole {
  name: string;
  display_name?: string | undefined;
  permissions: string[];
}

export interface RoleChanges {
  display_name?: string | null | undefined;
  permissions?: string[] | undefined;
}

export function rolePermissions(role: Pick<RoleRow, 'permissions'>): string[] {
  return JSON.parse(role.permissions) as string[];
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

export async function createRole(db: Db, actor: Actor, app: AppRow, input: NewRole, now: number): Promise<RoleRow> {
  assertActive(app);
  const row: RoleRow = {
    id: newId('role', now),
    appId: app.id,
    name: input.name,
    displayName: input.display_name ?? null,
    permissions: JSON.stringify(unique(input.permissions)),
    createdAt: now,
    updatedAt: now,
  };
  try {
    await tenantWrite(db, app.id, [
      db.insert(roles).values(row),
      auditEntry(db, actor, {
        appId: app.id,
        action: 'role.created',
        targetType: 'role',
        targetId: row.id,
        metadata: { name: row.name, permissions: rolePermissions(row) },
      }, now),
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`a role named ${input.name} already exists`, [{ field: 'name', reason: 'taken' }]);
    throw err;
  }
  return row;
}

export async function listRoles(db: Db, appId: string, p: Page): Promise<{ rows: RoleRow[]; total: number }> {
  const where = eq(roles.appId, appId);
  const [rows, totals] = await db.batch([
    db.select().from(roles).where(where).orderBy(desc(roles.createdAt), desc(roles.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(roles).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

export async function findRole(db: Db, appId: string, name: string): Promise<RoleRow | undefined> {
  return db.select().from(roles).where(and(eq(roles.appId, appId), eq(roles.name, name))).get();
}

export async function requireRole(db: Db, appId: string, name: string): Promise<RoleRow> {
  const role = await findRole(db, appId, name);
  if (!role) throw notFound('role');
  return role;
}

/** The roles of this app with these names; names that do not exist are absent from the map. */
export async function rolesByName(db: Db, appId: string, names: readonly string[]): Promise<Map<string, RoleRow>> {
  if (names.length === 0) return new Map();
  const rows = await db.select().from(roles).where(and(eq(roles.appId, appId), inArray(roles.name, [...names])));
  return new Map(rows.map((r) => [r.name, r]));
}

export async function updateRole(db: Db, actor: Actor, app: AppRow, role: RoleRow, input: RoleChanges, now: number): Promise<RoleRow> {
  assertActive(app);
  const next: RoleRow = {
    ...role,
    displayName: input.display_name === undefined ? role.displayName : input.display_name,
    permissions: input.permissions === undefined ? role.permissions : JSON.stringify(unique(input.permissions)),
  };
  const view = (r: RoleRow) => ({ display_name: r.displayName, permissions: rolePermissions(r) });
  const diff = changes(view(role), view(next));
  if (Object.keys(diff).length === 0) return role;
  next.updatedAt = now;
  await tenantWrite(db, app.id, [
    guard(db, sql`EXISTS (SELECT 1 FROM roles WHERE id = ${role.id} AND app_id = ${app.id})`),
    db.update(roles).set({ displayName: next.displayName, permissions: next.permissions, updatedAt: now })
      .where(and(eq(roles.id, role.id), eq(roles.appId, app.id))),
    // Permissions changed: every holder's authorize answer changes with them.
    bumpAuthzVersion(db, app.id),
    auditEntry(db, actor, { appId: app.id, action: 'role.updated', targetType: 'role', targetId: role.id, metadata: { name: role.name, changes: diff } }, now),
  ], () => notFound('role'));
  return next;
}

/**
 * Deletes a role. Still held by users or named by pending invites: 409,
 * unless `force`, which removes the assignments and revokes those invites in
 * the same batch, counted in the one `role.deleted` entry.
 */
export async function deleteRole(db: Db, actor: Actor, app: AppRow, role: RoleRow, force: boolean, now: number): Promise<RoleRow> {
  assertActive(app);
  const pendingInvite = and(eq(invites.appId, app.id), eq(invites.roleId, role.id), eq(invites.status, 'active'), sql`${invites.expiresAt} > ${now}`, sql`${invites.uses} < ${invites.maxUses}`);
  const [[assigned], [pending]] = await db.batch([
    db.select({ n: count() }).from(userRoles).where(and(eq(userRoles.appId, app.id), eq(userRoles.roleId, role.id))),
    db.select({ n: count() }).from(invites).where(pendingInvite),
  ]);
  const inUse = { users: assigned?.n ?? 0, invites: pending?.n ?? 0 };
  const notInUse = sql`NOT EXISTS (SELECT 1 FROM user_roles WHERE app_id = ${app.id} AND role_id = ${role.id})
    AND NOT EXISTS (SELECT 1 FROM invites WHERE app_id = ${app.id} AND role_id = ${role.id} AND status = 'active' AND expires_at > ${now} AND uses < max_uses)`;
  if (!force && (inUse.users > 0 || inUse.invites > 0)) throw roleInUse(inUse);

  await tenantWrite(db, app.id, [
    guard(db, sql`EXISTS (SELECT 1 FROM roles WHERE id = ${role.id} AND app_id = ${app.id})`),
    // Without force, re-checked inside the batch: an assignment made since the count still blocks.
    ...(force ? [] : [guard(db, notInUse)]),
    db.delete(userRoles).where(and(eq(userRoles.appId, app.id), eq(userRoles.roleId, role.id))),
    db.update(invites).set({ status: 'revoked', revokedAt: now, updatedAt: now }).where(pendingInvite),
    db.delete(roles).where(and(eq(roles.id, role.id), eq(roles.appId, app.id))),
    bumpAuthzVersion(db, app.id),
    auditEntry(db, actor, {
      appId: app.id,
      action: 'role.deleted',
      targetType: 'role',
      targetId: role.id,
      metadata: { name: role.name, permissions: rolePermissions(role), forced: force, assignments_removed: inUse.users, invites_revoked: inUse.invites },
    }, now),
  ], async () => ((await findRole(db, app.id, role.name)) ? roleInUse(inUse) : notFound('role')));
  return role;
}

function roleInUse(inUse: { users: number; invites: number }): ApiError {
  return new ApiError(
    'CONFLICT',
    `the role is held by ${inUse.users} user(s) and ${inUse.invites} pending invite(s); delete with ?force=true to remove it from them`,
    { details: [{ field: 'role', reason: 'in_use' }] },
  );
}
