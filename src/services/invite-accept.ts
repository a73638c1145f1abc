/**
 * Accepting an invite (docs/resources.md#accepting-an-invite): creates the user with the invite's role,
 * or adds the role to the user of that email who proves their current
 * password, and counts one use.
 *
 * The use is counted in the same `db.batch` as the user, the role and the
 * audit entry, behind guards that the invite is still usable, the app active
 * and the role present. D1 runs batches one at a time, so concurrent accepts
 * can never exceed `max_uses`, and an accept that fails for any reason (a
 * lost race, a taken email, a refused entry) uses nothing.
 */
import { and, eq, lt, sql } from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../auth/passwords';
import type { Db } from '../db/client';
import { guard, isGuardFailure } from '../db/guard';
import { apps, invites, roles, userRoles, users, type AppRow, type InviteRow, type RoleRow, type UserRow } from '../db/schema';
import type { Env } from '../env';
import { ApiError, appArchived, conflict, invalidField, isUniqueViolation, notFound } from '../lib/errors';
import { assertActive } from './apps';
import { auditEntry, type Actor } from './audit';
import { findInviteByToken, inviteState } from './invites';
import { beginLoginAttempt } from './login-throttle';
import { appIsActive, bumpAuthzVersion } from './tenant-write';
import { invalidCredentials } from './tokens';
import { emailTaken, findUserByEmail, newUserRow, requireUser, type UserWithRoles } from './users';

export interface AcceptContext {
  env: Env;
  db: Db;
  /** The request's IP, user agent and id; the actor id is the accepting user's. */
  actor: Actor;
  now: number;
}

export interface AcceptInput {
  token: string;
  /** Already NFKC-normalised and length-checked. */
  password: string;
  display_name?: string | undefined;
  /** Already normalised (trimmed, lower-cased). */
  email?: string | undefined;
}

export interface Accepted {
  user: UserWithRoles;
  /** True when the invite created the user; false when it added the role to an existing one. */
  created: boolean;
}

/** One answer for expired, used-up and revoked invites, so the body is no oracle of which. */
export function inviteGone(): ApiError {
  return new ApiError('GONE', 'the invite has expired, been used up or been revoked');
}

function roleGone(): ApiError {
  return conflict('the role of this invite no longer exists; ask for a new invite', [{ field: 'role', reason: 'role_deleted' }]);
}

/**
 * Checks, in this order: the token names an invite (404), the invite is
 * pending (410), its app is active (409 APP_ARCHIVED), the email fits the
 * invite (400), its role still exists (409); then the user's password
 * when the email is taken (401) and the user's status (409). The batch
 * re-checks what can change meanwhile.
 */
export async function acceptInvite(ctx: AcceptContext, input: AcceptInput): Promise<Accepted> {
  const { db, now } = ctx;
  const invite = await findInviteByToken(db, input.token);
  if (!invite) throw notFound('invite');
  if (inviteState(invite, now) !== 'pending') throw inviteGone();
  const [[app], [role]] = await db.batch([
    db.select().from(apps).where(eq(apps.id, invite.appId)),
    db.select().from(roles).where(and(eq(roles.id, invite.roleId), eq(roles.appId, invite.appId))),
  ]);
  if (!app) throw notFound('invite');
  assertActive(app);
  const email = emailFor(invite, input.email);
  if (!role) throw roleGone();

  const existing = await findUserByEmail(db, app.id, email);
  return existing
    ? { user: await acceptAsExistingUser(ctx, app, invite, role, existing, input.password), created: false }
    : { user: await acceptAsNewUser(ctx, app, invite, role, { ...input, email }), created: true };
}

/** The invite's email, which the body may repeat; the body's when the invite has none. */
function emailFor(invite: InviteRow, given: string | undefined): string {
  if (invite.email === null) {
    if (given === undefined) throw invalidField('email', 'required', 'email is required: this invite names no email');
    return given;
  }
  if (given !== undefined && given !== invite.email) {
    throw invalidField('email', 'email_mismatch', 'email does not match the invite');
  }
  return invite.email;
}

async function acceptAsNewUser(ctx: AcceptContext, app: AppRow, invite: InviteRow, role: RoleRow, input: AcceptInput & { email: string }): Promise<UserWithRoles> {
  const { db, now } = ctx;
  const user = newUserRow(app.id, input, await hashPassword(input.password), now);
  try {
    await acceptBatch(ctx, invite, [
      db.insert(users).values(user),
      db.insert(userRoles).values({ appId: app.id, userId: user.id, roleId: role.id, createdAt: now }),
      acceptedEntry(ctx, invite, role, user, { newUser: true, roleAdded: true }),
    ], () => conflict('the invite changed while it was being accepted; retry'));
  } catch (err) {
    // Created meanwhile by someone else: nothing was written, no use counted.
    if (isUniqueViolation(err)) throw emailTaken(user.email);
    throw err;
  }
  return { user, roles: [role.name] };
}

/**
 * The email belongs to a user of the app: the caller must prove it is theirs
 * with its current password, which the invite never changes. The check goes
 * through the login throttle (per app and email, and per IP), so an invite
 * link is no way around login backoff. A user without a password is checked
 * against the dummy hash: the same work and the same 401 as a wrong password.
 */
async function acceptAsExistingUser(ctx: AcceptContext, app: AppRow, invite: InviteRow, role: RoleRow, user: UserRow, password: string): Promise<UserWithRoles> {
  const { db, now } = ctx;
  const attempt = await beginLoginAttempt(ctx.env, app.id, user.email, ctx.actor.ip ?? 'unknown', now);
  let ok = false;
  try {
    ok = (await verifyPassword(password, user.passwordHash ?? DUMMY_PASSWORD_HASH)).ok && user.passwordHash !== null;
  } catch (err) {
    await attempt.finish('cancelled').catch(() => undefined);
    throw err;
  }
  await attempt.finish(ok ? 'success' : 'failure');
  if (!ok) {
    await auditEntry(db, ctx.actor, {
      appId: app.id,
      action: 'auth.failed',
      targetType: 'user',
      targetId: user.id,
      actorId: null,
      metadata: { via: 'invite', invite_id: invite.id, email: user.email, reason: 'invalid_credentials' },
    }, now);
    throw invalidCredentials();
  }
  // Only after the password: a deactivated account's status is shown to its owner alone.
  if (user.status !== 'active') {
    throw conflict('the user of this email is deactivated', [{ field: 'email', reason: 'user_deactivated' }]);
  }
  const current = await requireUser(db, app.id, user.id);
  const roleAdded = !current.roles.includes(role.name);
  await acceptBatch(ctx, invite, [
    // Still active, with the password just checked (not changed or deactivated meanwhile).
    guard(db, sql`EXISTS (SELECT 1 FROM users WHERE id = ${user.id} AND app_id = ${app.id} AND status = 'active' AND password_hash = ${user.passwordHash})`),
    // Holding the role already is fine: the accept still counts, and adds nothing.
    db.insert(userRoles).values({ appId: app.id, userId: user.id, roleId: role.id, createdAt: now }).onConflictDoNothing(),
    bumpAuthzVersion(db, app.id),
    acceptedEntry(ctx, invite, role, user, { newUser: false, roleAdded }),
  ], () => conflict('the user changed while the invite was being accepted; retry'));
  return requireUser(db, app.id, user.id);
}

/**
 * `invite.accepted` targets the invite and names the user (docs/audit-log.md#entries). The
 * actor is that user: they acted, authenticated by the invite token (and,
 * for an existing user, their password), as `token.issued` names the user
 * who logged in. One entry per accept: no separate `user.created` or
 * `role.assigned`, as a role given at user creation is not a `role.assigned`.
 */
function acceptedEntry(ctx: AcceptContext, invite: InviteRow, role: RoleRow, user: UserRow, how: { newUser: boolean; roleAdded: boolean }) {
  return auditEntry(ctx.db, ctx.actor, {
    appId: invite.appId,
    action: 'invite.accepted',
    targetType: 'invite',
    targetId: invite.id,
    actorId: user.id,
    metadata: { user_id: user.id, email: user.email, role: role.name, new_user: how.newUser, role_added: how.roleAdded },
  }, ctx.now);
}

/**
 * Counts the use and runs `statements` in one batch, behind the guards. When
 * a guard fails, nothing was written; the state is re-read to say why.
 */
async function acceptBatch(ctx: AcceptContext, invite: InviteRow, statements: BatchItem<'sqlite'>[], otherwise: () => ApiError): Promise<void> {
  const { db, now } = ctx;
  const sameInvite = and(eq(invites.id, invite.id), eq(invites.appId, invite.appId));
  try {
    await db.batch([
      appIsActive(db, invite.appId),
      guard(db, sql`EXISTS (SELECT 1 FROM invites WHERE id = ${invite.id} AND app_id = ${invite.appId}
        AND status = 'active' AND expires_at > ${now} AND uses < max_uses)`),
      guard(db, sql`EXISTS (SELECT 1 FROM roles WHERE id = ${invite.roleId} AND app_id = ${invite.appId})`),
      db.update(invites).set({ uses: sql`${invites.uses} + 1`, updatedAt: now }).where(and(sameInvite, lt(invites.uses, invites.maxUses))),
      ...statements,
    ]);
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    throw await explainRefusal(db, invite, now, otherwise);
  }
}

/** Why the guards refused, in the order of the checks before the batch. */
async function explainRefusal(db: Db, invite: InviteRow, now: number, otherwise: () => ApiError): Promise<ApiError> {
  const [[current], [app], [role]] = await db.batch([
    db.select().from(invites).where(eq(invites.id, invite.id)),
    db.select({ status: apps.status }).from(apps).where(eq(apps.id, invite.appId)),
    db.select({ id: roles.id }).from(roles).where(and(eq(roles.id, invite.roleId), eq(roles.appId, invite.appId))),
  ]);
  if (!current || inviteState(current, now) !== 'pending') return inviteGone();
  if (app?.status !== 'active') return appArchived();
  if (!role) return roleGone();
  return otherwise();
}
