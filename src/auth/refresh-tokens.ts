/**
 * Refresh tokens (docs/tokens.md#refresh-tokens, RFC 9700 §4.14): opaque, single use, rotated
 * on every refresh, grouped in families. This module is the pure decision
 * logic; the `RefreshTokenFamily` Durable Object (one per family) only stores
 * its state and runs these functions one event at a time, which is what
 * makes "exactly one winner" true under any concurrency.
 *
 * Token: `rt_` + family id (26-char ULID, routes to the Durable Object) +
 * 26 base32 characters of 128-bit secret. Only SHA-256 digests are stored.
 * Rotated tokens are remembered (tombstones, RFC 9700's "information about
 * the relationship is retained"), so presenting one again is recognised as
 * reuse and revokes the whole family, newest token included.
 *
 * A refresh is two-phase so the token is never burnt by a failure in
 * between: `begin` leases the current token for a few seconds while the
 * Worker re-reads the user in D1, `commit` rotates it. A second refresh with
 * the same token during the lease loses without revoking (a benign race of
 * two tabs); any presentation after the rotation is reuse.
 */
import { base32, ulid } from '../lib/ids';

export const REFRESH_TOKEN_PREFIX = 'rt_';
export const REFRESH_IDLE_MS = 14 * 24 * 3600 * 1000;
export const REFRESH_ABSOLUTE_MS = 30 * 24 * 3600 * 1000;
export const REFRESH_LEASE_MS = 10_000;

const TOKEN = /^rt_([0-9A-HJKMNP-TV-Z]{26})[0-9A-HJKMNP-TV-Z]{26}$/;

export function newRefreshToken(familyId: string): string {
  return REFRESH_TOKEN_PREFIX + familyId + base32(crypto.getRandomValues(new Uint8Array(16)));
}

export function newFamilyId(now: number): string {
  return ulid(now);
}

/** The family a refresh token belongs to, or null when it is not one of ours. */
export function parseRefreshToken(token: string): { familyId: string } | null {
  const match = TOKEN.exec(token);
  return match ? { familyId: match[1]! } : null;
}

export interface FamilyState {
  appId: string;
  userId: string;
  familyId: string;
  createdAt: number;
  /**
   * The app's and the user's cut-off counts when the family started
   * (README.md#revocation-cut-offs): a later cut-off ends it. Absent in
   * families started by older builds, which compare `createdAt` instead.
   */
  appEpoch?: number;
  userEpoch?: number;
  lastUsedAt: number;
  generation: number;
  currentHash: string;
  status: 'active' | 'revoked';
  revokedAt: number | null;
  revokedReason: string | null;
  lease: { id: string; hash: string; expiresAt: number } | null;
}

export type InvalidReason = 'unknown' | 'revoked' | 'expired' | 'in_flight';

export type BeginOutcome =
  | { kind: 'ok'; leaseId: string; userId: string; createdAt: number; appEpoch?: number | undefined; userEpoch?: number | undefined }
  | { kind: 'reused'; userId: string }
  | { kind: 'invalid'; reason: InvalidReason };

export interface FamilyStart {
  appId: string;
  userId: string;
  familyId: string;
  hash: string;
  now: number;
  appEpoch: number;
  userEpoch: number;
}

export function startFamily(input: FamilyStart): FamilyState {
  return {
    appId: input.appId,
    userId: input.userId,
    familyId: input.familyId,
    createdAt: input.now,
    appEpoch: input.appEpoch,
    userEpoch: input.userEpoch,
    lastUsedAt: input.now,
    generation: 1,
    currentHash: input.hash,
    status: 'active',
    revokedAt: null,
    revokedReason: null,
    lease: null,
  };
}

export function isExpired(state: FamilyState, now: number): boolean {
  return now >= state.createdAt + REFRESH_ABSOLUTE_MS || now >= state.lastUsedAt + REFRESH_IDLE_MS;
}

export function revoke(state: FamilyState, reason: string, now: number): FamilyState {
  if (state.status === 'revoked') return state;
  return { ...state, status: 'revoked', revokedAt: now, revokedReason: reason, lease: null };
}

/**
 * First phase of a refresh. `wasRotated` says whether `hash` is a tombstone
 * of this family (a token it already rotated away).
 */
export function beginRotation(
  state: FamilyState | null,
  hash: string,
  wasRotated: boolean,
  now: number,
  leaseId: string,
): { state: FamilyState | null; outcome: BeginOutcome } {
  if (!state) return { state, outcome: { kind: 'invalid', reason: 'unknown' } };
  const known = hash === state.currentHash || wasRotated;
  if (state.status === 'revoked') return { state, outcome: { kind: 'invalid', reason: known ? 'revoked' : 'unknown' } };
  if (hash !== state.currentHash) {
    if (!wasRotated) return { state, outcome: { kind: 'invalid', reason: 'unknown' } };
    // A rotated token came back: stolen or replayed. Kill the family, newest token included.
    return { state: revoke(state, 'reuse_detected', now), outcome: { kind: 'reused', userId: state.userId } };
  }
  if (isExpired(state, now)) return { state: revoke(state, 'expired', now), outcome: { kind: 'invalid', reason: 'expired' } };
  if (state.lease && state.lease.expiresAt > now) return { state, outcome: { kind: 'invalid', reason: 'in_flight' } };
  return {
    state: { ...state, lease: { id: leaseId, hash, expiresAt: now + REFRESH_LEASE_MS } },
    outcome: { kind: 'ok', leaseId, userId: state.userId, createdAt: state.createdAt, appEpoch: state.appEpoch, userEpoch: state.userEpoch },
  };
}

/** Second phase: rotates to `newHash` if the lease still holds. Returns the hash to remember as rotated. */
export function commitRotation(
  state: FamilyState | null,
  leaseId: string,
  newHash: string,
  now: number,
): { state: FamilyState | null; rotatedHash: string | null } {
  if (state?.status !== 'active' || !state.lease || state.lease.id !== leaseId || state.lease.expiresAt <= now) {
    return { state, rotatedHash: null };
  }
  return {
    state: { ...state, currentHash: newHash, generation: state.generation + 1, lastUsedAt: now, lease: null },
    rotatedHash: state.currentHash,
  };
}

/** Ends a lease without rotating (the Worker could not finish the refresh). */
export function abortRotation(state: FamilyState | null, leaseId: string): FamilyState | null {
  if (!state?.lease || state.lease.id !== leaseId) return state;
  return { ...state, lease: null };
}

/**
 * RFC 7009 revocation by token: only a holder of one of the family's tokens
 * (current or rotated) can revoke it. Returns whether an active family ended.
 */
export function revokeByToken(state: FamilyState | null, hash: string, wasRotated: boolean, now: number): { state: FamilyState | null; revoked: boolean } {
  if (state?.status !== 'active') return { state, revoked: false };
  if (hash !== state.currentHash && !wasRotated) return { state, revoked: false };
  return { state: revoke(state, 'revoked', now), revoked: true };
}
