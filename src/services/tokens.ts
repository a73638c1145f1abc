/**
 * Token grants (docs/tokens.md#grants): password login, refresh with rotation and reuse
 * detection, and RFC 7009 revocation. Each auth event is audited.
 */
import { and, asc, eq } from 'drizzle-orm';
import { type AccessTokenClaims, signAccessToken } from '../auth/jwt';
import { DUMMY_PASSWORD_HASH, hashPassword, normalisePassword, verifyPassword } from '../auth/passwords';
import { mergePermissions } from '../auth/permissions';
import { type BeginOutcome, newFamilyId, newRefreshToken, parseRefreshToken } from '../auth/refresh-tokens';
import { hashSecret } from '../auth/secrets';
import type { Db } from '../db/client';
import { apps, roles, userRoles, users, type AppRow, type UserRow } from '../db/schema';
import { config, type Env } from '../env';
import { ApiError, invalidToken, unavailable, unavailableOnFailure } from '../lib/errors';
import { ulid } from '../lib/ids';
import { assertActive } from './apps';
import { auditEntry, type Actor } from './audit';
import { beginLoginAttempt } from './login-throttle';
import { activeSigningKey, type WaitUntil } from './signing-keys';
import { findUserByEmail, normaliseEmail } from './users';

export interface GrantContext {
  env: Env;
  db: Db;
  /** The request's IP and user agent; the actor id is set per event. */
  actor: Actor;
  issuer: string;
  now: number;
  waitUntil?: WaitUntil;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
}

/** The one answer to a failed login: identical for a wrong password, an unknown email and a deactivated user. */
export function invalidCredentials(headers?: Record<string, string>): ApiError {
  return new ApiError('INVALID_CREDENTIALS', 'invalid credentials', headers ? { headers } : {});
}

/** A user's roles (in name order) and effective, de-duplicated permissions. */
export async function userGrants(db: Db, appId: string, userId: string): Promise<{ roles: string[]; permissions: string[] }> {
  const rows = await db
    .select({ name: roles.name, permissions: roles.permissions })
    .from(userRoles)
    .innerJoin(roles, and(eq(roles.id, userRoles.roleId), eq(roles.appId, userRoles.appId)))
    .where(and(eq(userRoles.appId, appId), eq(userRoles.userId, userId)))
    .orderBy(asc(roles.name));
  return { roles: rows.map((r) => r.name), permissions: mergePermissions(rows.map((r) => JSON.parse(r.permissions) as string[])) };
}

/** Signs an access token for a subject of `app` with the active key. */
export async function issueAccessToken(
  ctx: GrantContext,
  app: AppRow,
  subject: { sub: string; roles?: string[]; permissions: string[]; clientId?: string; epoch?: number },
): Promise<{ token: string; jti: string; expiresIn: number }> {
  const ttl = config(ctx.env).accessTokenTtlSeconds;
  const iat = Math.floor(ctx.now / 1000);
  const jti = ulid(ctx.now);
  const claims: AccessTokenClaims = {
    iss: ctx.issuer,
    sub: subject.sub,
    aud: app.name,
    app_id: app.id,
    app: app.name,
    ...(subject.roles ? { roles: subject.roles } : {}),
    permissions: subject.permissions,
    ...(subject.clientId ? { client_id: subject.clientId } : {}),
    iat,
    exp: iat + ttl,
    jti,
    app_epoch: app.tokenEpoch,
    ...(subject.epoch !== undefined ? { sub_epoch: subject.epoch } : {}),
  };
  // Without key material there is no token (never an unsigned or HS one): a
  // configuration error stays a 500 that names the setting, and only storage
  // failing becomes a 503.
  const key = await activeSigningKey(ctx.env, ctx.db, ctx.now, ctx.waitUntil);
  return { token: await signAccessToken(claims, key), jti, expiresIn: ttl };
}

function familyStub(env: Env, appId: string, familyId: string) {
  return env.REFRESH_TOKENS.get(env.REFRESH_TOKENS.idFromName(`${appId}:${familyId}`));
}

/** Starts a refresh-token family for a user and returns its first token. */
async function startSession(ctx: GrantContext, app: AppRow, user: UserRow): Promise<{ refreshToken: string; familyId: string }> {
  const familyId = newFamilyId(ctx.now);
  const refreshToken = newRefreshToken(familyId);
  const hash = await hashSecret(refreshToken);
  try {
    await familyStub(ctx.env, app.id, familyId).start({
      appId: app.id,
      userId: user.id,
      familyId,
      hash,
      now: ctx.now,
      appEpoch: app.tokenEpoch,
      userEpoch: user.tokenEpoch,
    });
  } catch (err) {
    throw unavailable(err);
  }
  return { refreshToken, familyId };
}

/**
 * `grant_type=password` (first-party apps only; RFC 9700 §2.4 discourages it
 * for third parties). Throttled per app+email and per IP before the hash is
 * checked; unknown emails and password-less users are checked against a
 * dummy hash so every failure costs the same time and says the same thing.
 */
export async function passwordGrant(ctx: GrantContext, app: AppRow, input: { email: string; password: string }): Promise<TokenResponse> {
  assertActive(app);
  const email = normaliseEmail(input.email);
  const attempt = await beginLoginAttempt(ctx.env, app.id, email, ctx.actor.ip ?? 'unknown', ctx.now);
  let user: UserRow | undefined;
  let verdict = { ok: false, needsRehash: false };
  let password: string | null = null;
  try {
    user = await findUserByEmail(ctx.db, app.id, email);
    const normalised = normalisePassword(input.password);
    password = normalised.ok ? normalised.value : input.password;
    verdict = await verifyPassword(password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
  } catch (err) {
    await attempt.finish('cancelled').catch(() => undefined);
    throw err;
  }
  const ok = verdict.ok && user !== undefined && user.passwordHash !== null && user.status === 'active';
  const lockedUntil = await attempt.finish(ok ? 'success' : 'failure');
  if (!ok || !user) {
    await auditEntry(ctx.db, ctx.actor, {
      appId: app.id,
      action: 'auth.failed',
      targetType: 'user',
      targetId: user?.id ?? null,
      actorId: null,
      metadata: { grant_type: 'password', email, reason: 'invalid_credentials', ...(lockedUntil > ctx.now ? { locked_until: new Date(lockedUntil).toISOString() } : {}) },
    }, ctx.now);
    throw invalidCredentials();
  }
  if (verdict.needsRehash && password) {
    // Parameters were raised since this hash was made: upgrade it now that we hold the password.
    const upgraded = await hashPassword(password);
    await ctx.db.update(users).set({ passwordHash: upgraded }).where(and(eq(users.id, user.id), eq(users.appId, app.id)));
  }
  return issueUserTokens(ctx, app, user, 'password');
}

async function issueUserTokens(ctx: GrantContext, app: AppRow, user: UserRow, grantType: 'password' | 'invite'): Promise<TokenResponse> {
  const grants = await userGrants(ctx.db, app.id, user.id);
  const [access, session] = await Promise.all([
    issueAccessToken(ctx, app, { sub: user.id, roles: grants.roles, permissions: grants.permissions, epoch: user.tokenEpoch }),
    startSession(ctx, app, user),
  ]);
  await auditEntry(ctx.db, ctx.actor, {
    appId: app.id,
    action: 'token.issued',
    targetType: 'token',
    targetId: session.familyId,
    actorId: user.id,
    metadata: { grant_type: grantType, subject: user.id, jti: access.jti, roles: grants.roles },
  }, ctx.now);
  return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: session.refreshToken };
}

/**
 * `grant_type=refresh_token`: rotates the refresh token and issues an access
 * token with the user's current roles (never the ones of the login). The
 * family dies if the user was deactivated, changed password or the app was
 * archived since it started.
 */
export async function refreshGrant(ctx: GrantContext, app: AppRow, presented: string): Promise<TokenResponse> {
  assertActive(app);
  const parsed = parseRefreshToken(presented);
  if (!parsed) throw invalidToken();
  const stub = familyStub(ctx.env, app.id, parsed.familyId);
  const hash = await hashSecret(presented);
  const begun: BeginOutcome = await unavailableOnFailure(async () => stub.begin(hash, ctx.now));
  if (begun.kind === 'reused') {
    await auditEntry(ctx.db, ctx.actor, {
      appId: app.id,
      action: 'token.reuse_detected',
      targetType: 'token',
      targetId: parsed.familyId,
      actorId: null,
      metadata: { subject: begun.userId, family_revoked: true },
    }, ctx.now);
    throw invalidToken();
  }
  if (begun.kind !== 'ok') throw invalidToken();

  // Until the rotation commits, any failure releases the lease, so the
  // presented token still works for a retry. The entry is written before the
  // commit for the same reason: if D1 refuses it, nothing has rotated.
  const refreshToken = newRefreshToken(parsed.familyId);
  let access: Awaited<ReturnType<typeof issueAccessToken>>;
  try {
    const [user, current] = await Promise.all([
      ctx.db.select().from(users).where(and(eq(users.id, begun.userId), eq(users.appId, app.id))).get(),
      ctx.db.select().from(apps).where(eq(apps.id, app.id)).get(),
    ]);
    const invalidated = user?.status !== 'active' || current?.status !== 'active' || cutOffSince(begun, user, current);
    if (invalidated) {
      await stub.revokeFamily('user_or_app_invalidated', ctx.now);
      throw invalidToken();
    }
    const grants = await userGrants(ctx.db, app.id, user.id);
    access = await issueAccessToken(ctx, current, { sub: user.id, roles: grants.roles, permissions: grants.permissions, epoch: user.tokenEpoch });
    await auditEntry(ctx.db, ctx.actor, {
      appId: app.id,
      action: 'token.refreshed',
      targetType: 'token',
      targetId: parsed.familyId,
      actorId: user.id,
      metadata: { subject: user.id, jti: access.jti, roles: grants.roles },
    }, ctx.now);
  } catch (err) {
    await stub.abort(begun.leaseId).catch(() => undefined);
    throw err;
  }
  let committed: boolean;
  try {
    committed = await stub.commit(begun.leaseId, await hashSecret(refreshToken), ctx.now);
  } catch (err) {
    // The answer is 503, "retry": release the lease, so the retry with the same
    // token is not refused as a refresh still in flight for the next 10 s. (If
    // the commit did land and only its answer was lost, the lease is gone and
    // this changes nothing.)
    await stub.abort(begun.leaseId).catch(() => undefined);
    throw unavailable(err);
  }
  if (!committed) throw invalidToken();
  return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refreshToken };
}

/**
 * True when the user or the app was cut off since the family started
 * (README.md#revocation-cut-offs): by the counts the family recorded, exact
 * even within one millisecond; for a family of an older build, by its start
 * time against the stamped cut-off.
 */
function cutOffSince(family: { createdAt: number; appEpoch?: number | undefined; userEpoch?: number | undefined }, user: UserRow, app: AppRow): boolean {
  if (family.appEpoch !== undefined && family.userEpoch !== undefined) {
    return family.userEpoch < user.tokenEpoch || family.appEpoch < app.tokenEpoch;
  }
  return family.createdAt < (user.tokensInvalidBefore ?? 0) || family.createdAt < (app.tokensInvalidBefore ?? 0);
}

/**
 * RFC 7009 revocation: ends the token's family. Answers the same whether or
 * not the token was known (no existence oracle); a storage failure is 503,
 * never a 200 that leaves the token alive (docs/security-decisions.md#failing-closed).
 */
export async function revokeRefreshToken(ctx: GrantContext, app: AppRow, presented: string): Promise<void> {
  const parsed = parseRefreshToken(presented);
  if (!parsed) return;
  const hash = await hashSecret(presented);
  const result = await unavailableOnFailure(() => familyStub(ctx.env, app.id, parsed.familyId).revokeWithToken(hash, ctx.now));
  if (!result.revoked) return;
  await auditEntry(ctx.db, ctx.actor, {
    appId: app.id,
    action: 'token.revoked',
    targetType: 'token',
    targetId: parsed.familyId,
    actorId: result.userId,
    metadata: { subject: result.userId, token_type: 'refresh_token' },
  }, ctx.now);
}
