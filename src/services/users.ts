/**
 * Users: identities inside one app, with their roles. Every query is keyed by
 * the app id. Password hashes never leave this module's rows: views are built
 * field by field, never by spreading a row.
 */
import { and, asc, count, desc, eq, sql } from 'drizzle-orm';
import { hashPassword } from '../auth/passwords';
import type { Db } from '../db/client';
import { guard } from '../db/guard';
import { roles, userRoles, users, type AppRow, type RoleRow, type UserRow } from '../db/schema';
import { ApiError, conflict, isUniqueViolation, notFound } from '../lib/errors';
import { isId, newId } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { assertActive } from './apps';
import { auditEntry, changes, type Actor } from './audit';
import { rolesByName } from './roles';
import { bumpAuthzVersion, tenantWrite } from './tenant-write';

/** Emails are trimmed and lower-cased everywhere: creation, login, filters (docs/resources.md#emails). */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export interface UserWithRoles {
  user: UserRow;
  roles: string[];
}

export interface NewUser {
  email: string;
  display_name?: string | undefined;
  /** Already NFKC-normalised and length-checked; hashed here. */
  password?: string | undefined;
  /** Role names, with the body field each came from (for `unknown_role` details). */
  roles: { name: string; field: string }[];
  metadata?: Record<string, unknown> | undefined;
}

export interface UserChanges {
  email?: string | undefined;
  display_name?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** Already NFKC-normalised and length-checked; hashed here. */
  password?: string | undefined;
  status?: 'active' | 'deactivated' | undefined;
}

export function emailTaken(email: string): ApiError {
  return conflict(`a user with email ${email} already exists in this app`, [{ field: 'email', reason: 'taken' }]);
}

/** Resolves role names inside the app, or a 400 naming every unknown one. */
export async function resolveRoles(db: Db, appId: string, wanted: { name: string; field: string }[]): Promise<RoleRow[]> {
  const found = await rolesByName(db, appId, wanted.map((r) => r.name));
  const missing = wanted.filter((r) => !found.has(r.name));
  if (missing.length > 0) {
    throw new ApiError('VALIDATION_ERROR', `unknown role: ${missing.map((r) => r.name).join(', ')}`, {
      details: missing.map((r) => ({ field: r.field, reason: 'unknown_role' })),
    });
  }
  return [...new Map(wanted.map((r) => [r.name, found.get(r.name)!])).values()];
}

/** The row of a new, active user (by the admin API or by an invite). */
export function newUserRow(
  appId: string,
  input: { email: string; display_name?: string | undefined; metadata?: Record<string, unknown> | undefined },
  passwordHash: string | null,
  now: number,
): UserRow {
  return {
    id: newId('user', now),
    appId,
    email: input.email,
    displayName: input.display_name ?? null,
    passwordHash,
    status: 'active',
    metadata: JSON.stringify(input.metadata ?? {}),
    tokensInvalidBefore: null,
    tokenEpoch: 0,
    createdAt: now,
    updatedAt: now,
    deactivatedAt: null,
  };
}

export async function createUser(db: Db, actor: Actor, app: AppRow, input: NewUser, now: number): Promise<UserWithRoles> {
  assertActive(app);
  const assigned = await resolveRoles(db, app.id, input.roles);
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const user = newUserRow(app.id, input, passwordHash, now);
  const roleNames = assigned.map((r) => r.name).sort();
  try {
    await tenantWrite(db, app.id, [
      db.insert(users).values(user),
      ...assigned.map((role) => db.insert(userRoles).values({ appId: app.id, userId: user.id, roleId: role.id, createdAt: now })),
      // Roles given at creation are recorded here, not as separate role.assigned entries (docs/audit-log.md#actions).
      auditEntry(db, actor, { appId: app.id, action: 'user.created', targetType: 'user', targetId: user.id, metadata: { email: user.email, roles: roleNames } }, now),
    ]);
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(user.email);
    throw err;
  }
  return { user, roles: roleNames };
}

/**
 * Role names held by each user, in name order (stable whatever the assignment
 * times). The ids go in as one JSON parameter: D1 binds at most 100
 * parameters a query, and a page holds up to 100 users. The unary `+` on the
 * app id keeps the tenant check but stops SQLite from walking every
 * assignment of the app through the app's index: it probes the primary key
 * once per user instead (1 ms instead of 5 for a page of 100 in an app of
 * 10,000 users, measured by `npm run bench`).
 */
async function roleNamesOf(db: Db, appId: string, userIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return out;
  const rows = await db
    .select({ userId: userRoles.userId, name: roles.name })
    .from(userRoles)
    .innerJoin(roles, and(eq(roles.id, userRoles.roleId), eq(roles.appId, userRoles.appId)))
    .where(and(sql`+${userRoles.appId} = ${appId}`, sql`${userRoles.userId} IN (SELECT value FROM json_each(${JSON.stringify(userIds)}))`))
    .orderBy(asc(roles.name));
  for (const row of rows) out.get(row.userId)?.push(row.name);
  return out;
}

export interface UserFilter {
  status?: 'active' | 'deactivated' | undefined;
  role?: string | undefined;
  email?: string | undefined;
}

export async function listUsers(db: Db, appId: string, filter: UserFilter, p: Page): Promise<{ rows: UserWithRoles[]; total: number }> {
  const conditions = [eq(users.appId, appId)];
  if (filter.status) conditions.push(eq(users.status, filter.status));
  if (filter.email !== undefined) conditions.push(eq(users.email, normaliseEmail(filter.email)));
  if (filter.role !== undefined) {
    conditions.push(sql`${users.id} IN (SELECT ur.user_id FROM user_roles ur JOIN roles r ON r.id = ur.role_id AND r.app_id = ur.app_id
      WHERE ur.app_id = ${appId} AND r.name = ${filter.role})`);
  }
  const where = and(...conditions);
  const [rows, totals] = await db.batch([
    db.select().from(users).where(where).orderBy(desc(users.createdAt), desc(users.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(users).where(where),
  ]);
  const names = await roleNamesOf(db, appId, rows.map((u) => u.id));
  return { rows: rows.map((user) => ({ user, roles: names.get(user.id) ?? [] })), total: totals[0]?.total ?? 0 };
}

export async function findUserByEmail(db: Db, appId: string, email: string): Promise<UserRow | undefined> {
  return db.select().from(users).where(and(eq(users.appId, appId), eq(users.email, normaliseEmail(email)))).get();
}

/** The user with this id in this app, or 404 (a malformed id or another app's id alike). */
export async function requireUser(db: Db, appId: string, userId: string): Promise<UserWithRoles> {
  const user = isId('user', userId)
    ? await db.select().from(users).where(and(eq(users.appId, appId), eq(users.id, userId))).get()
    : undefined;
  if (!user) throw notFound('user');
  return { user, roles: (await roleNamesOf(db, appId, [user.id])).get(user.id) ?? [] };
}

function userView(user: UserRow) {
  return { email: user.email, display_name: user.displayName, status: user.status, metadata: JSON.parse(user.metadata) as unknown };
}

const userExists = (db: Db, user: UserRow) => guard(db, sql`EXISTS (SELECT 1 FROM users WHERE id = ${user.id} AND app_id = ${user.appId})`);

export async function updateUser(db: Db, actor: Actor, app: AppRow, current: UserWithRoles, input: UserChanges, now: number): Promise<UserWithRoles> {
  assertActive(app);
  const { user } = current;
  if (input.status === 'deactivated') {
    const deactivated = await deactivateUser(db, actor, app, current, now);
    return updateUser(db, actor, app, deactivated, { ...input, status: undefined }, now);
  }
  const reactivating = input.status === 'active' && user.status !== 'active';
  const next: UserRow = {
    ...user,
    email: input.email === undefined ? user.email : input.email,
    displayName: input.display_name === undefined ? user.displayName : input.display_name,
    metadata: input.metadata === undefined ? user.metadata : JSON.stringify(input.metadata),
    status: reactivating ? 'active' : user.status,
    deactivatedAt: reactivating ? null : user.deactivatedAt,
  };
  const diff: Record<string, unknown> = changes(userView(user), userView(next));
  const passwordChanged = input.password !== undefined;
  if (Object.keys(diff).length === 0 && !passwordChanged) return current;
  next.updatedAt = now;
  if (passwordChanged) {
    next.passwordHash = await hashPassword(input.password!);
    // A new password ends every session: refresh families and, at authorize,
    // access tokens (a cut-off: README.md#revocation-cut-offs).
    next.tokensInvalidBefore = now;
    next.tokenEpoch = user.tokenEpoch + 1;
  }
  try {
    await tenantWrite(db, app.id, [
      userExists(db, user),
      db.update(users).set({
        email: next.email,
        displayName: next.displayName,
        metadata: next.metadata,
        status: next.status,
        deactivatedAt: next.deactivatedAt,
        passwordHash: next.passwordHash,
        tokensInvalidBefore: next.tokensInvalidBefore,
        ...(passwordChanged ? { tokenEpoch: sql`${users.tokenEpoch} + 1` } : {}),
        updatedAt: now,
      }).where(and(eq(users.id, user.id), eq(users.appId, app.id))),
      ...(passwordChanged || reactivating ? [bumpAuthzVersion(db, app.id)] : []),
      auditEntry(db, actor, {
        appId: app.id,
        action: 'user.updated',
        targetType: 'user',
        targetId: user.id,
        // The fact of a password change is recorded; the password or its hash never is.
        metadata: { changes: diff, ...(passwordChanged ? { password_changed: true } : {}) },
      }, now),
    ], () => notFound('user'));
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(next.email);
    throw err;
  }
  return { user: next, roles: current.roles };
}

/**
 * Deactivation: the user can no longer log in or refresh, and authorize
 * refuses every token issued before now. Deactivating twice changes nothing.
 */
export async function deactivateUser(db: Db, actor: Actor, app: AppRow, current: UserWithRoles, now: number): Promise<UserWithRoles> {
  assertActive(app);
  const { user } = current;
  if (user.status === 'deactivated') return current;
  const next: UserRow = { ...user, status: 'deactivated', deactivatedAt: now, tokensInvalidBefore: now, tokenEpoch: user.tokenEpoch + 1, updatedAt: now };
  await tenantWrite(db, app.id, [
    guard(db, sql`EXISTS (SELECT 1 FROM users WHERE id = ${user.id} AND app_id = ${app.id} AND status = 'active')`),
    db.update(users).set({ status: 'deactivated', deactivatedAt: now, tokensInvalidBefore: now, tokenEpoch: sql`${users.tokenEpoch} + 1`, updatedAt: now })
      .where(and(eq(users.id, user.id), eq(users.appId, app.id))),
    bumpAuthzVersion(db, app.id),
    auditEntry(db, actor, { appId: app.id, action: 'user.deactivated', targetType: 'user', targetId: user.id, metadata: { email: user.email } }, now),
  ], () => conflict('the user changed while it was being deactivated; retry'));
  return { user: next, roles: current.roles };
}

/** Adds a role; holding it already is a success that changes (and audits) nothing. */
export async function assignRole(db: Db, actor: Actor, app: AppRow, current: UserWithRoles, role: RoleRow, now: number): Promise<UserWithRoles> {
  assertActive(app);
  if (current.roles.includes(role.name)) return current;
  const { user } = current;
  try {
    await tenantWrite(db, app.id, [
      userExists(db, user),
      db.insert(userRoles).values({ appId: app.id, userId: user.id, roleId: role.id, createdAt: now }),
      bumpAuthzVersion(db, app.id),
      auditEntry(db, actor, { appId: app.id, action: 'role.assigned', targetType: 'user', targetId: user.id, metadata: { role: role.name, role_id: role.id } }, now),
    ], () => notFound('user'));
  } catch (err) {
    // Assigned concurrently by another request: the outcome the caller asked for holds.
    if (isUniqueViolation(err)) return requireUser(db, app.id, user.id);
    throw err;
  }
  return { user, roles: [...current.roles, role.name].sort() };
}

/** Removes a role the user holds; one it does not hold is 404. */
export async function removeRole(db: Db, actor: Actor, app: AppRow, current: UserWithRoles, role: RoleRow, now: number): Promise<UserWithRoles> {
  assertActive(app);
  const { user } = current;
  if (!current.roles.includes(role.name)) throw notFound('role assignment');
  const held = and(eq(userRoles.appId, app.id), eq(userRoles.userId, user.id), eq(userRoles.roleId, role.id));
  await tenantWrite(db, app.id, [
    guard(db, sql`EXISTS (SELECT 1 FROM user_roles WHERE app_id = ${app.id} AND user_id = ${user.id} AND role_id = ${role.id})`),
    db.delete(userRoles).where(held),
    bumpAuthzVersion(db, app.id),
    auditEntry(db, actor, { appId: app.id, action: 'role.removed', targetType: 'user', targetId: user.id, metadata: { role: role.name, role_id: role.id } }, now),
  ], () => notFound('role assignment'));
  return { user, roles: current.roles.filter((name) => name !== role.name) };
}
