/**
 * Invites (docs/resources.md#invites): links that onboard people into an app with one
 * role. The token is returned once, at creation; only its SHA-256 digest is
 * stored, and neither the token nor its digest ever reaches an answer or
 * the audit log. Accepting lives in `invite-accept.ts`.
 */
import { and, count, desc, eq, gt, lt, sql } from 'drizzle-orm';
import { hashSecret } from '../auth/secrets';
import type { Db } from '../db/client';
import { guard } from '../db/guard';
import { invites, roles, type AppRow, type InviteRow } from '../db/schema';
import { ApiError, notFound } from '../lib/errors';
import { isId, newId, newSecret } from '../lib/ids';
import type { Page } from '../lib/pagination';
import { isoSeconds } from '../lib/time';
import { assertActive } from './apps';
import { auditEntry, type Actor } from './audit';
import { tenantWrite } from './tenant-write';
import { resolveRoles } from './users';

export const INVITE_TOKEN_PREFIX = 'inv_tok_';
/** `inv_tok_`, a 10-character time stamp, 128 random bits in Crockford base32 (see `newSecret`). */
const INVITE_TOKEN_SHAPE = /^inv_tok_[0-9A-HJKMNP-TV-Z]{36}$/;

const HOUR_MS = 3_600_000;

/**
 * What an invite is now. Only the revocation is stored; `expired` and
 * `used_up` follow from the clock and the counter. The order matters when
 * several hold: a revoked invite says so even after it would have expired.
 */
export type InviteState = 'pending' | 'used_up' | 'expired' | 'revoked';

export function inviteState(row: Pick<InviteRow, 'status' | 'expiresAt' | 'uses' | 'maxUses'>, now: number): InviteState {
  if (row.status === 'revoked') return 'revoked';
  if (row.uses >= row.maxUses) return 'used_up';
  if (row.expiresAt <= now) return 'expired';
  return 'pending';
}

/** SQL twin of `inviteState(...) === 'pending'`, for lists and batch guards. */
export function pendingSql(now: number) {
  return and(eq(invites.status, 'active'), gt(invites.expiresAt, now), lt(invites.uses, invites.maxUses))!;
}

/** An invite with the name of its role (null once the role is deleted). */
export interface InviteWithRole {
  invite: InviteRow;
  role: string | null;
}

export interface NewInvite {
  /** Already normalised (trimmed, lower-cased). */
  email?: string | undefined;
  role: string;
  expires_in_hours: number;
  max_uses: number;
}

export async function createInvite(
  db: Db,
  actor: Actor,
  app: AppRow,
  input: NewInvite,
  now: number,
): Promise<InviteWithRole & { token: string }> {
  assertActive(app);
  const [role] = await resolveRoles(db, app.id, [{ name: input.role, field: 'role' }]);
  const token = newSecret(INVITE_TOKEN_PREFIX, now);
  const invite: InviteRow = {
    id: newId('invite', now),
    appId: app.id,
    email: input.email ?? null,
    roleId: role!.id,
    tokenHash: await hashSecret(token),
    expiresAt: now + input.expires_in_hours * HOUR_MS,
    maxUses: input.max_uses,
    uses: 0,
    status: 'active',
    createdAt: now,
    updatedAt: now,
    revokedAt: null,
  };
  await tenantWrite(db, app.id, [
    // A role deleted since it was resolved: no invite to a role that is gone.
    guard(db, sql`EXISTS (SELECT 1 FROM roles WHERE id = ${invite.roleId} AND app_id = ${app.id})`),
    db.insert(invites).values(invite),
    auditEntry(db, actor, {
      appId: app.id,
      action: 'invite.created',
      targetType: 'invite',
      targetId: invite.id,
      // The invite's id identifies it in the log; the token never does.
      metadata: { email: invite.email, role: role!.name, expires_at: isoSeconds(invite.expiresAt), max_uses: invite.maxUses },
    }, now),
  ], () => unknownRole(input.role));
  return { invite, role: role!.name, token };
}

function unknownRole(name: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `unknown role: ${name}`, { details: [{ field: 'role', reason: 'unknown_role' }] });
}

const withRole = { invite: invites, role: roles.name };
const roleOfInvite = and(eq(roles.id, invites.roleId), eq(roles.appId, invites.appId));

/** Pending invites (not expired, used up or revoked), newest first. */
export async function listPendingInvites(db: Db, appId: string, now: number, p: Page): Promise<{ rows: InviteWithRole[]; total: number }> {
  const where = and(eq(invites.appId, appId), pendingSql(now));
  const [rows, totals] = await db.batch([
    db.select(withRole).from(invites).leftJoin(roles, roleOfInvite).where(where)
      .orderBy(desc(invites.createdAt), desc(invites.id)).limit(p.limit).offset(p.offset),
    db.select({ total: count() }).from(invites).where(where),
  ]);
  return { rows, total: totals[0]?.total ?? 0 };
}

/** The invite with this id in this app, or 404 (a malformed id or another app's id alike). */
export async function requireInvite(db: Db, appId: string, inviteId: string): Promise<InviteWithRole> {
  const found = isId('invite', inviteId)
    ? await db.select(withRole).from(invites).leftJoin(roles, roleOfInvite)
      .where(and(eq(invites.appId, appId), eq(invites.id, inviteId))).get()
    : undefined;
  if (!found) throw notFound('invite');
  return found;
}

/**
 * The invite a presented token names, whatever its state, or undefined.
 * Malformed tokens are refused without a query. The lookup is by SHA-256
 * digest through a unique index: as for admin keys, comparing digests
 * reveals nothing about any token (preimage resistance).
 */
export async function findInviteByToken(db: Db, token: string): Promise<InviteRow | undefined> {
  if (!INVITE_TOKEN_SHAPE.test(token)) return undefined;
  return db.select().from(invites).where(eq(invites.tokenHash, await hashSecret(token))).get();
}

/**
 * Revokes an invite that is not revoked yet, whether still pending or
 * already expired or used up, so the answer is always `status: "revoked"`.
 * Revoking a revoked invite answers its current state and writes nothing:
 * DELETE is idempotent.
 */
export async function revokeInvite(db: Db, actor: Actor, app: AppRow, current: InviteWithRole, now: number): Promise<InviteWithRole> {
  assertActive(app);
  const { invite } = current;
  if (invite.status === 'revoked') return current;
  const lostRace = new ApiError('CONFLICT', 'the invite was revoked concurrently');
  try {
    await tenantWrite(db, app.id, [
      // Two concurrent revokes: one writes, the other finds the guard closed.
      guard(db, sql`EXISTS (SELECT 1 FROM invites WHERE id = ${invite.id} AND app_id = ${app.id} AND status = 'active')`),
      db.update(invites).set({ status: 'revoked', revokedAt: now, updatedAt: now })
        .where(and(eq(invites.id, invite.id), eq(invites.appId, app.id))),
      auditEntry(db, actor, {
        appId: app.id,
        action: 'invite.revoked',
        targetType: 'invite',
        targetId: invite.id,
        metadata: { email: invite.email, role: current.role, uses: invite.uses, previous_status: inviteState(invite, now) },
      }, now),
    ], () => lostRace);
  } catch (err) {
    if (err === lostRace) return requireInvite(db, app.id, invite.id);
    throw err;
  }
  return { invite: { ...invite, status: 'revoked', revokedAt: now, updatedAt: now }, role: current.role };
}
