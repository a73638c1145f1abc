/**
 * Apps: the tenants. Every change is one `db.batch` with its audit entry.
 */
import { and, count, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apps, roles, type AppRow } from '../db/schema';
import { guard, isGuardFailure } from '../db/guard';
import { appArchived, conflict, isUniqueViolation, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { auditEntry, changes, type Actor } from './audit';

/** The role every new app starts with (docs/resources.md#apps). */
export const DEFAULT_ROLE = { name: 'admin', displayName: 'Administrator', permissions: ['*'] } as const;

export interface NewApp {
  name: string;
  display_name?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface AppChanges {
  display_name?: string | null | undefined;
  metadata?: Record<string, unknown> | undefined;
  status?: 'active' | 'archived' | undefined;
}

export async function createApp(db: Db, actor: Actor, input: NewApp, now: number): Promise<AppRow> {
  const row: AppRow = {
    id: newId('app', now),
    name: input.name,
    displayName: input.display_name ?? null,
    status: 'active',
    metadata: JSON.stringify(input.metadata ?? {}),
    authzVersion: 0,
    tokensInvalidBefore: null,
    tokenEpoch: 0,
    createdAt: now,
    updatedAt: now,
    archivedAt: null,
  };
  const roleId = newId('role', now);
  try {
    await db.batch([
      db.insert(apps).values(row),
      db.insert(roles).values({
        id: roleId,
        appId: row.id,
        name: DEFAULT_ROLE.name,
        displayName: DEFAULT_ROLE.displayName,
        permissions: JSON.stringify(DEFAULT_ROLE.permissions),
        createdAt: now,
        updatedAt: now,
      }),
      auditEntry(db, actor, {
        appId: row.id,
        action: 'app.created',
        targetType: 'app',
        targetId: row.id,
        metadata: { name: row.name, display_name: row.displayName, default_role: DEFAULT_ROLE.name },
      }, now),
    ]);
  } catch (err) {
    // Archived names are never reused: the unique index covers every app.
    if (isUniqueViolation(err)) {
      throw conflict(`an app named ${input.name} already exists`, [{ field: 'name', reason: 'taken' }]);
    }
    throw err;
  }
  return row;
}

export async function listApps(
  db: Db,
  filter: { status?: 'active' | 'archived' | undefined; names?: readonly string[] | null },
  p: Page,
): Promise<{ rows: AppRow[]; total: number }> {
  const conditions = [];
  if (filter.status) conditions.push(eq(apps.status, filter.status));
  // A key limited to some apps sees only those (docs/resources.md#key-scope).
  if (filter.names) {
    if (filter.names.length === 0) return { rows: [], total: 0 };
    conditions.push(sql`${apps.name} IN (SELECT value FROM json_each(${JSON.stringify(filter.names)}))`);
  }
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [rows, totals] = await db.batch([
    db.select().from(apps).where(where).orderBy(desc(apps.createdAt), desc(apps.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(apps).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

export async function findApp(db: Db, name: string): Promise<AppRow | undefined> {
  return db.select().from(apps).where(eq(apps.name, name)).get();
}

/** The app named in the path, or 404. */
export async function requireApp(db: Db, name: string): Promise<AppRow> {
  const app = await findApp(db, name);
  if (!app) throw notFound('app');
  return app;
}

/** Writes, grants and invite accepts on an archived app are 409 APP_ARCHIVED. */
export function assertActive(app: AppRow): void {
  if (app.status !== 'active') throw appArchived();
}

export function appView(app: AppRow) {
  return {
    display_name: app.displayName,
    status: app.status,
    metadata: JSON.parse(app.metadata) as Record<string, unknown>,
  };
}

export async function updateApp(db: Db, actor: Actor, app: AppRow, input: AppChanges, now: number): Promise<AppRow> {
  if (input.status === 'archived') {
    const archived = await archiveApp(db, actor, app, now);
    return input.display_name === undefined && input.metadata === undefined
      ? archived
      : updateApp(db, actor, archived, { ...input, status: undefined }, now);
  }
  const restoring = input.status === 'active' && app.status === 'archived';
  if (!restoring) assertActive(app);

  const next: AppRow = {
    ...app,
    displayName: input.display_name === undefined ? app.displayName : input.display_name,
    metadata: input.metadata === undefined ? app.metadata : JSON.stringify(input.metadata),
    status: 'active',
    archivedAt: restoring ? null : app.archivedAt,
  };
  const diff = changes(appView(app), appView(next));
  if (Object.keys(diff).length === 0) return app;
  next.updatedAt = now;

  try {
    await db.batch([
      // Guarded on the state read, so a concurrent archive is not silently undone.
      guard(db, sql`EXISTS (SELECT 1 FROM apps WHERE id = ${app.id} AND status = ${app.status})`),
      db
        .update(apps)
        .set({
          displayName: next.displayName,
          metadata: next.metadata,
          status: next.status,
          archivedAt: next.archivedAt,
          updatedAt: now,
          // Restoring changes what authorize answers for the app's subjects.
          authzVersion: restoring ? sql`${apps.authzVersion} + 1` : apps.authzVersion,
        })
        .where(eq(apps.id, app.id)),
      auditEntry(db, actor, { appId: app.id, action: 'app.updated', targetType: 'app', targetId: app.id, metadata: { changes: diff } }, now),
    ]);
  } catch (err) {
    if (isGuardFailure(err)) throw conflict('the app changed while it was being updated; retry');
    throw err;
  }
  return next;
}

/**
 * Archive: the app keeps its data and audit log, every token issued before now
 * dies (refresh families and, at authorize, access tokens), and writes are 409.
 */
export async function archiveApp(db: Db, actor: Actor, app: AppRow, now: number): Promise<AppRow> {
  assertActive(app);
  const archived: AppRow = { ...app, status: 'archived', archivedAt: now, updatedAt: now, tokensInvalidBefore: now, tokenEpoch: app.tokenEpoch + 1 };
  try {
    await db.batch([
      guard(db, sql`EXISTS (SELECT 1 FROM apps WHERE id = ${app.id} AND status = 'active')`),
      db
        .update(apps)
        .set({
          status: 'archived',
          archivedAt: now,
          updatedAt: now,
          tokensInvalidBefore: now,
          tokenEpoch: sql`${apps.tokenEpoch} + 1`,
          authzVersion: sql`${apps.authzVersion} + 1`,
        })
        .where(eq(apps.id, app.id)),
      auditEntry(db, actor, { appId: app.id, action: 'app.archived', targetType: 'app', targetId: app.id, metadata: { name: app.name } }, now),
    ]);
  } catch (err) {
    if (isGuardFailure(err)) throw appArchived();
    throw err;
  }
  return archived;
}
