/**
 * Preconditions checked inside a `db.batch`, atomically with the writes that
 * follow them (see `batch_guards` in the schema). A failed guard aborts the
 * batch with a CHECK violation that `isGuardFailure` recognises.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { batchGuards } from './schema';

export function guard(db: Db, condition: SQL) {
  return db.insert(batchGuards).select(sql`SELECT 1 WHERE NOT (${condition})`);
}

export function isGuardFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof Error && e.message.includes('CHECK constraint failed: batch_guard')) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}
