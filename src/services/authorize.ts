/**
 * `/v1/authorize` (docs/tokens.md#authorize): verifies an access token and answers with
 * the subject's *current* roles and permissions.
 *
 * The common case makes no remote call. The signature is checked with keys
 * cached per isolate; the authoritative state (app status, the subject's
 * status, roles and permissions) comes from per-isolate snapshots tagged
 * with the app's `authz_version`, which every relevant change bumps in the
 * same D1 batch as the change itself. A snapshot of an app is used as is for
 * `FRESH_MS`, refreshed in the background until `MAX_STALE_MS`, and re-read
 * before answering after that, so a deactivation, revocation, archive or
 * role change shows here within MAX_STALE_MS plus one D1 read: under the
 * 5 seconds of docs/tokens.md#freshness. A subject snapshot is valid only for the version it
 * was read with (read in the same batch as the version, so it can never be
 * older than the version it carries).
 */
import { and, asc, eq } from 'drizzle-orm';
import { InvalidTokenError, verifyAccessToken, type AccessTokenClaims } from '../auth/jwt';
import { isPermittedAll, mergePermissions } from '../auth/permissions';
import type { Db } from '../db/client';
import { apps, credentials, roles, userRoles, users } from '../db/schema';
import { invalidToken } from '../lib/errors';
import { isoSeconds } from '../lib/time';
import { verificationKey, type WaitUntil } from './signing-keys';

export const FRESH_MS = 1_000;
export const MAX_STALE_MS = 3_000;
const MAX_SUBJECTS = 20_000;

/**
 * Tokens whose signature and claims already verified in this isolate. A
 * service checks the same token on every request of a session, and the same
 * bytes always verify the same way under the same issuer (keys are only
 * removed after every token they signed has expired), so the RS256 check,
 * the most expensive step, runs once per token and isolate. The entry ends
 * at the token's `exp`; the authoritative state is still checked on every
 * call. Bounded, oldest first out.
 */
const MAX_VERIFIED_TOKENS = 4_096;
const verifiedTokens = new Map<string, AccessTokenClaims>();

async function verifiedClaims(token: string, issuer: string, now: number, keys: (kid: string) => ReturnType<typeof verificationKey>): Promise<AccessTokenClaims> {
  const cacheKey = `${issuer}\n${token}`;
  const cached = verifiedTokens.get(cacheKey);
  if (cached && cached.exp * 1000 > now) return cached;
  if (cached) verifiedTokens.delete(cacheKey);
  const claims = await verifyAccessToken(token, { issuer, now, keys });
  if (verifiedTokens.size >= MAX_VERIFIED_TOKENS) verifiedTokens.delete(verifiedTokens.keys().next().value!);
  verifiedTokens.set(cacheKey, claims);
  return claims;
}

interface AppSnapshot {
  id: string;
  name: string;
  active: boolean;
  tokensInvalidBefore: number | null;
  epoch: number;
  version: number;
  fetchedAt: number;
}

interface SubjectSnapshot {
  version: number;
  /** When it was read: a token issued after that may know of a reactivation or restore the snapshot does not. */
  fetchedAt: number;
  active: boolean;
  tokensInvalidBefore: number | null;
  epoch: number;
  roles: string[];
  permissions: string[];
}

const appSnapshots = new Map<string, AppSnapshot>();
const appReads = new Map<string, Promise<AppSnapshot | null>>();
const subjectSnapshots = new Map<string, SubjectSnapshot>();

function remember(key: string, snapshot: SubjectSnapshot): void {
  subjectSnapshots.delete(key);
  if (subjectSnapshots.size >= MAX_SUBJECTS) subjectSnapshots.delete(subjectSnapshots.keys().next().value!);
  subjectSnapshots.set(key, snapshot);
}

function appQuery(db: Db, appId: string) {
  return db
    .select({
      id: apps.id,
      name: apps.name,
      status: apps.status,
      tokensInvalidBefore: apps.tokensInvalidBefore,
      epoch: apps.tokenEpoch,
      version: apps.authzVersion,
    })
    .from(apps)
    .where(eq(apps.id, appId));
}

type AppSnapshotRow = { id: string; name: string; status: string; tokensInvalidBefore: number | null; epoch: number; version: number };

function toAppSnapshot(row: AppSnapshotRow | undefined, now: number): AppSnapshot | null {
  if (!row) return null;
  const { status, ...rest } = row;
  return { ...rest, active: status === 'active', fetchedAt: now };
}

function readApp(db: Db, appId: string, now: number): Promise<AppSnapshot | null> {
  let read = appReads.get(appId);
  if (!read) {
    read = appQuery(db, appId)
      .get()
      .then((row) => {
        const snapshot = toAppSnapshot(row, now);
        if (snapshot) appSnapshots.set(appId, snapshot);
        else appSnapshots.delete(appId);
        return snapshot;
      })
      .finally(() => appReads.delete(appId));
    appReads.set(appId, read);
  }
  return read;
}

async function appSnapshot(db: Db, appId: string, now: number, waitUntil?: WaitUntil): Promise<AppSnapshot | null> {
  const cached = appSnapshots.get(appId);
  if (cached) {
    const age = now - cached.fetchedAt;
    if (age < FRESH_MS) return cached;
    if (age < MAX_STALE_MS && waitUntil) {
      waitUntil(readApp(db, appId, now).catch(() => undefined));
      return cached;
    }
  }
  return readApp(db, appId, now);
}

/** Reads a subject together with its app's version, in one consistent batch. */
async function readSubject(db: Db, appId: string, subject: string, now: number): Promise<{ app: AppSnapshot | null; subject: SubjectSnapshot | null }> {
  if (subject.startsWith('cred_')) {
    const [appRows, credRows] = await db.batch([
      appQuery(db, appId),
      db.select({ status: credentials.status, permissions: credentials.permissions }).from(credentials)
        .where(and(eq(credentials.appId, appId), eq(credentials.id, subject))),
    ]);
    const app = toAppSnapshot(appRows[0], now);
    const cred = credRows[0];
    return {
      app,
      subject: app && cred
        ? { version: app.version, fetchedAt: now, active: cred.status === 'active', tokensInvalidBefore: null, epoch: 0, roles: [], permissions: JSON.parse(cred.permissions) as string[] }
        : null,
    };
  }
  const [appRows, userRows, roleRows] = await db.batch([
    appQuery(db, appId),
    db.select({ status: users.status, tokensInvalidBefore: users.tokensInvalidBefore, epoch: users.tokenEpoch }).from(users)
      .where(and(eq(users.appId, appId), eq(users.id, subject))),
    db.select({ name: roles.name, permissions: roles.permissions }).from(userRoles)
      .innerJoin(roles, and(eq(roles.id, userRoles.roleId), eq(roles.appId, userRoles.appId)))
      .where(and(eq(userRoles.appId, appId), eq(userRoles.userId, subject)))
      .orderBy(asc(roles.name)),
  ]);
  const app = toAppSnapshot(appRows[0], now);
  const user = userRows[0];
  return {
    app,
    subject: app && user
      ? {
          version: app.version,
          fetchedAt: now,
          active: user.status === 'active',
          tokensInvalidBefore: user.tokensInvalidBefore,
          epoch: user.epoch,
          roles: roleRows.map((r) => r.name),
          permissions: mergePermissions(roleRows.map((r) => JSON.parse(r.permissions) as string[])),
        }
      : null,
  };
}

/**
 * True when the token predates a cut-off of its app or subject
 * (README.md#revocation-cut-offs). A token carries the cut-off counts it was
 * issued under, exact whatever the clock says; a token of an older build,
 * without them, is compared by `iat` (seconds) against the stamped instant,
 * rounded up, so within the cut-off's second it is refused.
 */
function cutOff(claims: AccessTokenClaims, app: AppSnapshot, subject: SubjectSnapshot): boolean {
  if (claims.app_epoch !== undefined ? claims.app_epoch < app.epoch : issuedBefore(claims.iat, app.tokensInvalidBefore)) return true;
  return claims.sub_epoch !== undefined ? claims.sub_epoch < subject.epoch : issuedBefore(claims.iat, subject.tokensInvalidBefore);
}

function issuedBefore(iat: number, cutoff: number | null): boolean {
  return cutoff !== null && iat < Math.ceil(cutoff / 1000);
}

/** A token issued under a later cut-off than a snapshot knows proves the snapshot stale. */
function newerThan(claims: AccessTokenClaims, app: AppSnapshot, subject: SubjectSnapshot): boolean {
  return (claims.app_epoch ?? 0) > app.epoch || (claims.sub_epoch ?? 0) > subject.epoch;
}

async function rereadSubject(db: Db, claims: AccessTokenClaims, key: string, now: number): Promise<{ app: AppSnapshot | null; subject: SubjectSnapshot | undefined }> {
  const read = await readSubject(db, claims.app_id, claims.sub, now);
  if (read.app) appSnapshots.set(read.app.id, read.app);
  if (read.subject) remember(key, read.subject);
  return { app: read.app, subject: read.subject ?? undefined };
}

/** True when the state in the snapshots refuses the token: gone, another app, inactive, or cut off. */
function refused(claims: AccessTokenClaims, app: AppSnapshot | null, subject: SubjectSnapshot | undefined): boolean {
  return !app || !subject || app.name !== claims.aud || !app.active || !subject.active || cutOff(claims, app, subject);
}

export interface AuthorizeRequest {
  token: string;
  permissions: string[];
  app?: string | undefined;
}

export interface AuthorizeAnswer {
  allowed: boolean;
  reason?: 'permission_denied' | 'app_mismatch';
  app: string;
  app_id: string;
  subject: string;
  subject_type: 'user' | 'service';
  roles: string[];
  permissions: string[];
  expires_at: string;
}

export async function authorize(
  ctx: { db: Db; issuer: string; now: number; waitUntil?: WaitUntil },
  request: AuthorizeRequest,
): Promise<AuthorizeAnswer> {
  const { db, now, waitUntil } = ctx;
  let claims: AccessTokenClaims;
  try {
    claims = await verifiedClaims(request.token, ctx.issuer, now, (kid) => verificationKey(db, kid, now, waitUntil));
  } catch (err) {
    if (err instanceof InvalidTokenError) throw invalidToken();
    throw err;
  }
  const subjectType = claims.sub.startsWith('cred_') ? 'service' : 'user';
  if (subjectType === 'user' && !claims.sub.startsWith('usr_')) throw invalidToken();

  let app = await appSnapshot(db, claims.app_id, now, waitUntil);
  const key = `${claims.app_id}:${claims.sub}`;
  let subject = subjectSnapshots.get(key);
  let reread = false;
  if (!app || !subject || subject.version !== app.version || newerThan(claims, app, subject)) {
    ({ app, subject } = await rereadSubject(db, claims, key, now));
    reread = true;
  }
  // A refusal from a snapshot read before this token was issued is checked
  // against D1 first: the token may come from a login right after a
  // reactivation or restore the snapshot has not seen
  // (README.md#revocation-cut-offs). Only refusals pay for it, and only in
  // the second the token was issued.
  if (!reread && refused(claims, app, subject) && subject && (claims.iat + 1) * 1000 > subject.fetchedAt) {
    ({ app, subject } = await rereadSubject(db, claims, key, now));
  }
  if (refused(claims, app, subject) || !app || !subject) throw invalidToken();

  const reason = request.app !== undefined && request.app !== app.name
    ? 'app_mismatch'
    : isPermittedAll(subject.permissions, request.permissions) ? undefined : 'permission_denied';
  return {
    allowed: reason === undefined,
    ...(reason ? { reason } : {}),
    app: app.name,
    app_id: app.id,
    subject: claims.sub,
    subject_type: subjectType,
    roles: subject.roles,
    permissions: subject.permissions,
    expires_at: isoSeconds(claims.exp * 1000),
  };
}
