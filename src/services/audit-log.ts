/**
 * Reading the audit log (docs/audit-log.md#reading-the-log). Writing is `auditEntry` in
 * `./audit`, always inside the batch of the change it records; nothing here
 * or anywhere else updates or deletes an entry, and the database refuses it.
 *
 * A log is one app's entries, or the global log (`appId` null) of events
 * that belong to no app. Every query is keyed by it, so an entry of another
 * log does not exist here, whichever id or filter names it.
 */
import { and, asc, count, desc, eq, gte, isNull, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { auditLogs, type AuditLogRow } from '../db/schema';
import { invalidField, notFound } from '../lib/errors';
import { isId } from '../lib/ids';
import type { Page } from '../lib/pagination';
import type { AuditAction, AuditTargetType } from './audit';

/** An app's id, or null for the global log. */
export type AuditLogScope = string | null;

export interface TimeRange {
  /** Inclusive, epoch milliseconds. */
  from?: number | undefined;
  /** Inclusive, epoch milliseconds. */
  to?: number | undefined;
}

export interface AuditFilter extends TimeRange {
  action?: AuditAction | undefined;
  actorId?: string | undefined;
  targetType?: AuditTargetType | undefined;
  targetId?: string | undefined;
}

function inLog(scope: AuditLogScope): SQL {
  return scope === null ? isNull(auditLogs.appId) : eq(auditLogs.appId, scope);
}

function timeConditions(range: TimeRange): SQL[] {
  const conditions: SQL[] = [];
  if (range.from !== undefined) conditions.push(gte(auditLogs.timestamp, range.from));
  if (range.to !== undefined) conditions.push(lte(auditLogs.timestamp, range.to));
  return conditions;
}

/** Entries of one log, newest first (timestamp, then id: stable within a millisecond). */
export async function listAuditEntries(
  db: Db,
  scope: AuditLogScope,
  filter: AuditFilter,
  p: Page,
): Promise<{ rows: AuditLogRow[]; total: number }> {
  const conditions = [inLog(scope), ...timeConditions(filter)];
  if (filter.action !== undefined) conditions.push(eq(auditLogs.action, filter.action));
  if (filter.actorId !== undefined) conditions.push(eq(auditLogs.actorId, filter.actorId));
  if (filter.targetType !== undefined) conditions.push(eq(auditLogs.targetType, filter.targetType));
  if (filter.targetId !== undefined) conditions.push(eq(auditLogs.targetId, filter.targetId));
  const where = and(...conditions);
  const [rows, totals] = await db.batch([
    db.select().from(auditLogs).where(where).orderBy(desc(auditLogs.timestamp), desc(auditLogs.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(auditLogs).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

/** One entry of this log, or 404 (a malformed id and another log's id alike). */
export async function requireAuditEntry(db: Db, scope: AuditLogScope, id: string): Promise<AuditLogRow> {
  const row = isId('audit', id)
    ? await db.select().from(auditLogs).where(and(inLog(scope), eq(auditLogs.id, id))).get()
    : undefined;
  if (!row) throw notFound('audit log entry');
  return row;
}

/** The largest export page. */
export const EXPORT_MAX_LIMIT = 1000;

function invalidCursor() {
  return invalidField('after', 'invalid_cursor', 'after must be the id of an entry of this log, as returned by a previous page');
}

/**
 * One page of the export: entries after the cursor entry (`after`, an entry
 * id) in append order, oldest first, and whether more follow.
 *
 * Append order is the table's rowid. The log is never deleted from (0001)
 * nor replaced into (0003), so SQLite hands out ever larger rowids in the
 * order entries commit, and an entry can never appear behind a cursor a
 * client already holds: walking with `after` meets every entry exactly once,
 * however many are written meanwhile. Timestamps follow the same order up to
 * the time a request takes between reading the clock and committing.
 *
 * The cursor is an entry id, not a rowid, so a cursor stays valid even if
 * the database were ever rebuilt with renumbered (but equally ordered) rowids.
 */
export async function exportAuditEntries(
  db: Db,
  scope: AuditLogScope,
  range: TimeRange,
  after: string | undefined,
  limit: number,
): Promise<{ rows: AuditLogRow[]; more: boolean }> {
  const seq = sql<number>`${auditLogs}.rowid`;
  const conditions = [inLog(scope), ...timeConditions(range)];
  let rows: AuditLogRow[];
  if (after === undefined) {
    rows = await db.select().from(auditLogs).where(and(...conditions)).orderBy(asc(seq)).limit(limit + 1);
  } else {
    // A tampered cursor, or one from another log, is refused alike.
    if (!isId('audit', after)) throw invalidCursor();
    const cursor = and(inLog(scope), eq(auditLogs.id, after));
    conditions.push(sql`${seq} > (SELECT rowid FROM ${auditLogs} WHERE ${cursor})`);
    // One batch, so the cursor check and the page read the same state.
    const [found, page] = await db.batch([
      db.select({ id: auditLogs.id }).from(auditLogs).where(cursor),
      db.select().from(auditLogs).where(and(...conditions)).orderBy(asc(seq)).limit(limit + 1),
    ]);
    if (found.length === 0) throw invalidCursor();
    rows = page;
  }
  return { rows: rows.slice(0, limit), more: rows.length > limit };
}
