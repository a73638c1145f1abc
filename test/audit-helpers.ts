/**
 * Helpers for the audit-log suites: entries written at chosen instants (the
 * real writer, `auditEntry`, with a pinned clock), NDJSON export pages, and
 * the real audit routes mounted behind a managed admin key.
 */
import { env } from 'cloudflare:test';
import { database } from '../src/db/client';
import { auditLogs } from '../src/db/schema';
import { auditEntry, type AuditEvent } from '../src/services/audit';
import { BASE, ROOT_KEY, seenBodies, workerFetch } from './helpers';

/** The path of an app's log, or of the global log for null. */
export function logPath(appName: string | null): string {
  return appName === null ? '/v1/audit-logs' : `/v1/apps/${appName}/audit-logs`;
}

/** Writes one entry at `at` (epoch ms) and returns its id, as a change made at that instant would. */
export async function writeEntry(
  appId: string | null,
  at: number,
  event: Partial<Omit<AuditEvent, 'appId'>> & { actorId?: string | null } = {},
): Promise<string> {
  const db = database(env);
  const written = await auditEntry(
    db,
    { id: 'root', ip: '192.0.2.1', userAgent: 'audit-tests', requestId: null },
    { action: 'app.updated', targetType: 'app', targetId: appId, metadata: {}, ...event, appId },
    at,
  ).returning({ id: auditLogs.id }).get();
  return written!.id;
}

export interface ExportPage {
  status: number;
  headers: Headers;
  text: string;
  /** Each line, parsed. */
  entries: any[];
  /** The `rel="next"` target of the Link header, as a path and query. */
  next: string | null;
}

/** One export page, read as bytes (workerd warns when NDJSON is read with `.text()`). */
export async function exportPage(pathAndQuery: string, key: string | null = ROOT_KEY): Promise<ExportPage> {
  const res = await workerFetch(`${BASE}${pathAndQuery}`, { headers: key === null ? {} : { Authorization: `Bearer ${key}` } });
  const text = new TextDecoder().decode(await res.arrayBuffer());
  seenBodies.push(text);
  const ndjson = res.headers.get('Content-Type')?.startsWith('application/x-ndjson') ?? false;
  const entries = ndjson ? text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line)) : [];
  const link = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('Link') ?? '');
  const next = link ? link[1]!.slice(BASE.length) : null;
  return { status: res.status, headers: res.headers, text, entries, next };
}

/** Follows `rel="next"` from `start` to the end of the log and returns every entry. */
export async function walkExport(start: string): Promise<{ entries: any[]; pages: number; last: ExportPage }> {
  const entries: any[] = [];
  let pages = 0;
  let page = await exportPage(start);
  for (;;) {
    pages += 1;
    entries.push(...page.entries);
    if (page.next === null || pages > 100) return { entries, pages, last: page };
    page = await exportPage(page.next);
  }
}

/** Fields of an entry, in the order answers give them: the reference's, then user_agent and request_id. */
export const ENTRY_FIELDS = ['id', 'app_id', 'actor_id', 'action', 'target_type', 'target_id', 'metadata', 'ip_address', 'timestamp', 'user_agent', 'request_id'];

/** 2026-02-20T10:15:00.000Z, the reference example's instant. */
export const T = Date.parse('2026-02-20T10:15:00Z');

export const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);

/** The ids of a list answer's entries, in order. */
export const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((e) => e.id);
