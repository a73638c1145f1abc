/**
 * The shape of every change inside an app: one `db.batch` that starts with a
 * guard that the app is still active (so a write racing an archive cannot
 * land after it), then the change, then its audit entry.
 */
import { eq, sql } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import type { Db } from '../db/client';
import { guard, isGuardFailure } from '../db/guard';
import { apps } from '../db/schema';
import { type ApiError, appArchived } from '../lib/errors';

/** Guard: the app exists and is active. */
export function appIsActive(db: Db, appId: string) {
  return guard(db, sql`EXISTS (SELECT 1 FROM apps WHERE id = ${appId} AND status = 'active')`);
}

/**
 * Marks that authorize answers for this app may have changed (a role, an
 * assignment, a user's status or password, a credential). Authorize caches
 * compare this version, so the change shows within its staleness bound.
 */
export function bumpAuthzVersion(db: Db, appId: string) {
  return db.update(apps).set({ authzVersion: sql`${apps.authzVersion} + 1` }).where(eq(apps.id, appId));
}

type Statements = [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]];

/**
 * Runs `statements` atomically behind the active-app guard. When any guard
 * fails, the batch changed nothing: the answer is APP_ARCHIVED if the app is
 * no longer active, else what `otherwise` says (the change's own guard).
 */
export async function tenantWrite(
  db: Db,
  appId: string,
  statements: Statements,
  otherwise?: () => ApiError | Promise<ApiError>,
): Promise<void> {
  try {
    await db.batch([appIsActive(db, appId), ...statements]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    const app = await db.select({ status: apps.status }).from(apps).where(eq(apps.id, appId)).get();
    if (app?.status !== 'active' || !otherwise) throw appArchived();
    throw await otherwise();
  }
}
