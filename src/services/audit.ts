/**
 * Audit entries (docs/audit-log.md#atomic-writes). Services never write an entry on its own:
 * `auditEntry` builds the insert that goes into the same `db.batch` as the
 * change it records, so there is never one without the other.
 */
import type { Db } from '../db/client';
import { auditLogs } from '../db/schema';
import { newId } from '../lib/ids';

export const AUDIT_ACTIONS = [
  'app.created',
  'app.updated',
  'app.archived',
  'user.created',
  'user.updated',
  'user.deactivated',
  'role.created',
  'role.updated',
  'role.deleted',
  'role.assigned',
  'role.removed',
  'credential.created',
  'credential.updated',
  'credential.rotated',
  'credential.revoked',
  'invite.created',
  'invite.accepted',
  'invite.revoked',
  'token.issued',
  'token.refreshed',
  'token.revoked',
  'token.reuse_detected',
  'auth.failed',
  'admin_key.created',
  'admin_key.revoked',
  'signing_key.rotated',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_TARGET_TYPES = [
  'app',
  'user',
  'role',
  'credential',
  'invite',
  'token',
  'admin_key',
  'signing_key',
] as const;

export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** Who did it and from where, taken from the request by the route. */
export interface Actor {
  /** `root`, `key_...`, `usr_...`, `cred_...`, or null when unauthenticated. */
  id: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface AuditEvent {
  appId: string | null;
  action: AuditAction;
  targetType: AuditTargetType;
  targetId: string | null;
  /** What changed. Never a password, hash, secret or token. */
  metadata?: Record<string, unknown>;
  /** Overrides the actor's id (a user acting through a token grant). */
  actorId?: string | null;
}

export function auditEntry(db: Db, actor: Actor, event: AuditEvent, now: number) {
  return db.insert(auditLogs).values({
    id: newId('audit', now),
    appId: event.appId,
    actorId: event.actorId === undefined ? actor.id : event.actorId,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    metadata: JSON.stringify(event.metadata ?? {}),
    ipAddress: actor.ip,
    userAgent: actor.userAgent,
    requestId: actor.requestId,
    timestamp: now,
  });
}

/** Field-level changes `{field: {from, to}}` between two views, for `*.updated` metadata. */
export function changes(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of Object.keys(after)) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = { from: before[key] ?? null, to: after[key] };
  }
  return out;
}
