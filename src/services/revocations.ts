/**
 * The revocation feed of an app: what edge verifiers must refuse although the
 * token's signature and expiry are fine. For the live token window (the
 * access-token lifetime), it lists each user whose tokens were cut off
 * (deactivation, password change) and each revoked credential, with the
 * instant before which their tokens no longer pass, plus the app's own
 * cut-off (archive). Entries older than the window are dropped: every token
 * they could concern has expired anyway.
 *
 * Heimdall revokes by subject: a refresh-token revocation ends the family but
 * not its short-lived access tokens, which are not tracked individually.
 */
import { and, eq, gt } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apps, credentials, users, type AppRow } from '../db/schema';

export interface RevocationEntry {
  type: 'user' | 'credential';
  id: string;
  /** Unix seconds: a token of this subject with `iat` before it must be refused (for tokens without `sub_epoch`). */
  not_before: number;
  /** Users: a token whose `sub_epoch` is lower must be refused (README.md#revocation-cut-offs). */
  epoch?: number;
}

export interface RevocationFeed {
  app: string;
  app_id: string;
  /** Unix seconds: every token of the app with `iat` before it must be refused (null: none); for tokens without `app_epoch`. */
  app_not_before: number | null;
  /** Every token of the app whose `app_epoch` is lower must be refused. */
  app_epoch: number;
  window_seconds: number;
  revocations: RevocationEntry[];
}

/** Seconds, rounded up: a token issued within the cut-off's second is refused too (as /v1/authorize does). */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

export async function revocationFeed(db: Db, app: AppRow, windowSeconds: number, now: number): Promise<RevocationFeed> {
  const since = now - windowSeconds * 1000;
  const [appRows, userRows, credRows] = await db.batch([
    db.select({ tokensInvalidBefore: apps.tokensInvalidBefore, epoch: apps.tokenEpoch }).from(apps).where(eq(apps.id, app.id)),
    db.select({ id: users.id, at: users.tokensInvalidBefore, epoch: users.tokenEpoch }).from(users)
      .where(and(eq(users.appId, app.id), gt(users.tokensInvalidBefore, since))),
    db.select({ id: credentials.id, at: credentials.revokedAt }).from(credentials)
      .where(and(eq(credentials.appId, app.id), gt(credentials.revokedAt, since))),
  ]);
  // Archiving stamps the cut-off, and no token can be issued while archived,
  // so the cut-off alone refuses everything an archived app ever issued.
  const appCutoff = appRows[0]?.tokensInvalidBefore ?? null;
  const revocations: RevocationEntry[] = [
    ...userRows.map((r) => ({ type: 'user' as const, id: r.id, not_before: seconds(r.at!), epoch: r.epoch })),
    ...credRows.map((r) => ({ type: 'credential' as const, id: r.id, not_before: seconds(r.at!) })),
  ].sort((a, b) => a.not_before - b.not_before || a.id.localeCompare(b.id));
  return {
    app: app.name,
    app_id: app.id,
    app_not_before: appCutoff !== null && appCutoff > since ? seconds(appCutoff) : null,
    app_epoch: appRows[0]?.epoch ?? 0,
    window_seconds: windowSeconds,
    revocations,
  };
}
