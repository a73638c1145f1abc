/**
 * The audit log (reference "Audit Logs", docs/audit-log.md#reading-the-log, docs/audit-log.md#the-global-log): an app's log under
 * /v1/apps/:app_name/audit-logs, and the global log of events that belong to
 * no app under /v1/audit-logs (root key only). Both are read-only: no route
 * writes, changes or deletes an entry, so other methods answer 405.
 *
 * Each log has a list (filters, offset pagination, newest first), a lookup
 * by id, and an NDJSON export for operators (a cursor walk, oldest first).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { database } from '../db/client';
import type { AuditLogRow } from '../db/schema';
import type { AppEnv } from '../lib/context';
import { integerText, page, paginated, paginationFields } from '../lib/pagination';
import { publicBase } from '../lib/public-base';
import { isoTimestampSchema } from '../lib/schemas';
import { endOfSecond, isoSeconds, startOfSecond } from '../lib/time';
import { query } from '../lib/validation';
import { requireApp } from '../services/apps';
import { AUDIT_ACTIONS, AUDIT_TARGET_TYPES } from '../services/audit';
import {
  EXPORT_MAX_LIMIT,
  exportAuditEntries,
  listAuditEntries,
  requireAuditEntry,
  type AuditLogScope,
  type TimeRange,
} from '../services/audit-log';
import type { AuditEntryResource } from '../openapi/resources';

/** Entries per export page when `limit` is not given. */
const EXPORT_DEFAULT_LIMIT = 500;

const timeRangeFields = {
  from: isoTimestampSchema.optional(),
  to: isoTimestampSchema.optional(),
};

/**
 * `from` and `to` are inclusive at the precision answers show, whole
 * seconds: `from` counts from the start of its second, `to` through the end
 * of its second, so `to=2026-02-20T10:15:00Z` includes an entry stored at
 * 10:15:00.999 (shown as `10:15:00Z`). A range that ends before it starts is
 * a mistake worth a 400, not an empty page.
 */
function secondRange(q: { from?: number | undefined; to?: number | undefined }): TimeRange {
  return {
    from: q.from === undefined ? undefined : startOfSecond(q.from),
    to: q.to === undefined ? undefined : endOfSecond(q.to),
  };
}

function fromNotAfterTo(q: { from?: number | undefined; to?: number | undefined }): boolean {
  return q.from === undefined || q.to === undefined || startOfSecond(q.from) <= startOfSecond(q.to);
}

const rangeOrder = { path: ['from'], params: { reason: 'invalid_range' }, message: 'must not be later than to' };

const listQuery = z
  .strictObject({
    ...paginationFields,
    // Actions and target types are closed sets: a typo is a 400 naming the
    // valid values, never a silently empty page.
    action: z.enum(AUDIT_ACTIONS).optional(),
    actor_id: z.string().min(1).max(64).optional(),
    target_type: z.enum(AUDIT_TARGET_TYPES).optional(),
    target_id: z.string().min(1).max(128).optional(),
    ...timeRangeFields,
  })
  .refine(fromNotAfterTo, rangeOrder);

const exportQuery = z
  .strictObject({
    ...timeRangeFields,
    // Checked by the export itself: anything but an entry of this log is `invalid_cursor`.
    after: z.string().optional(),
    limit: integerText('limit').pipe(z.number().int().min(1).max(EXPORT_MAX_LIMIT)).optional(),
  })
  .refine(fromNotAfterTo, rangeOrder);

/** An entry as the API shows it: the reference's fields in its order, then `user_agent` and `request_id`. */
export function renderAuditEntry(row: AuditLogRow): AuditEntryResource {
  return {
    id: row.id,
    app_id: row.appId,
    actor_id: row.actorId,
    // Only the writer of entries puts these columns, and it takes them from the same lists.
    action: row.action as AuditEntryResource['action'],
    target_type: row.targetType as AuditEntryResource['target_type'],
    target_id: row.targetId,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    ip_address: row.ipAddress,
    timestamp: isoSeconds(row.timestamp),
    user_agent: row.userAgent,
    /** The `X-Request-Id` of the request that wrote the entry, to match it with logs. */
    request_id: row.requestId,
  };
}

type ListQuery = z.output<typeof listQuery>;
type ExportQuery = z.output<typeof exportQuery>;

async function listResponse(c: Context<AppEnv>, scope: AuditLogScope, q: ListQuery) {
  const p = page(q);
  const { rows, total } = await listAuditEntries(
    database(c.env),
    scope,
    { action: q.action, actorId: q.actor_id, targetType: q.target_type, targetId: q.target_id, ...secondRange(q) },
    p,
  );
  return c.json(paginated(rows.map(renderAuditEntry), total, p));
}

/**
 * One export page as NDJSON: one entry a line, in the list's shape, oldest
 * first. When more entries follow, `Link: <...&after=<last id>>; rel="next"`
 * names the next page; without it the walk has reached the end of the log for
 * now, and the last id is where a later walk resumes.
 */
async function exportResponse(c: Context<AppEnv>, scope: AuditLogScope, q: ExportQuery) {
  const { rows, more } = await exportAuditEntries(database(c.env), scope, secondRange(q), q.after, q.limit ?? EXPORT_DEFAULT_LIMIT);
  const headers: Record<string, string> = { 'Content-Type': 'application/x-ndjson; charset=utf-8' };
  const last = rows.at(-1);
  if (more && last) {
    const next = new URL(c.req.url);
    next.searchParams.set('after', last.id);
    headers.Link = `<${publicBase(c)}${next.pathname}${next.search}>; rel="next"`;
  }
  // JSON.stringify escapes every line break inside a value, so an entry is always exactly one line.
  const body = rows.map((row) => `${JSON.stringify(renderAuditEntry(row))}\n`).join('');
  return c.body(body, 200, headers);
}

/** /v1/apps/:app_name/audit-logs: the app's own log, readable also while the app is archived. */
export const appAuditLogsRoutes = new Hono<AppEnv>()
  .get('/', query(listQuery), async (c) => {
    const app = await requireApp(database(c.env), c.req.param('app_name')!);
    return listResponse(c, app.id, c.req.valid('query'));
  })
  // Before `/:log_id`, which would otherwise take `export` for an id.
  .get('/export', query(exportQuery), async (c) => {
    const app = await requireApp(database(c.env), c.req.param('app_name')!);
    return exportResponse(c, app.id, c.req.valid('query'));
  })
  .get('/:log_id', async (c) => {
    const db = database(c.env);
    const app = await requireApp(db, c.req.param('app_name')!);
    return c.json(renderAuditEntry(await requireAuditEntry(db, app.id, c.req.param('log_id'))));
  });

/** /v1/audit-logs: events of no app (admin keys, signing keys), for the root key alone. */
export const globalAuditLogsRoutes = new Hono<AppEnv>()
  .get('/', query(listQuery), async (c) => listResponse(c, null, c.req.valid('query')))
  .get('/export', query(exportQuery), async (c) => exportResponse(c, null, c.req.valid('query')))
  .get('/:log_id', async (c) => c.json(renderAuditEntry(await requireAuditEntry(database(c.env), null, c.req.param('log_id')))));
