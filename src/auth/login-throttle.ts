/**
 * Failed-login throttling (docs/tokens.md#failed-login-throttling, RFC 6749 §4.3.2): the pure policy.
 * The `LoginThrottle` Durable Object stores one state per key (an app and
 * email, or a client IP) and applies these functions one event at a time.
 *
 * An attempt is reserved before the password is checked, and reservations
 * count toward the limit, so a burst of 50 parallel guesses checks at most
 * `maxFailures` of them against the hash (docs/security-decisions.md#races-and-single-use-tokens).
 * After `maxFailures` consecutive failures the key is locked for a delay that
 * doubles with each further failure, up to `maxDelayMs`: growing backoff, not
 * a permanent lock, so nobody can lock a victim out for good.
 */

export interface ThrottlePolicy {
  maxFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A success forgets past failures (per account; not per IP, or one good account would reset a spray). */
  resetOnSuccess: boolean;
  /** Failures are forgotten after this long without a new one. */
  forgetAfterMs: number;
}

export interface ThrottleState {
  failures: number;
  lockedUntil: number;
  lastFailureAt: number;
  reservations: { id: string; expiresAt: number }[];
}

export type AttemptDecision = { allowed: true } | { allowed: false; retryAfterMs: number };
export type AttemptOutcome = 'success' | 'failure' | 'cancelled';

/** A reservation whose Worker never reported back stops counting after this. */
export const RESERVATION_MS = 30_000;

export const EMPTY_THROTTLE: ThrottleState = { failures: 0, lockedUntil: 0, lastFailureAt: 0, reservations: [] };

export function accountPolicy(maxFailures: number): ThrottlePolicy {
  return { maxFailures, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000, resetOnSuccess: true, forgetAfterMs: 24 * 3600_000 };
}

export function ipPolicy(maxFailures: number): ThrottlePolicy {
  return { maxFailures: maxFailures * 20, baseDelayMs: 60_000, maxDelayMs: 15 * 60_000, resetOnSuccess: false, forgetAfterMs: 3600_000 };
}

function tidy(state: ThrottleState, policy: ThrottlePolicy, now: number): ThrottleState {
  const reservations = state.reservations.filter((r) => r.expiresAt > now);
  const forget = state.failures > 0 && state.lockedUntil <= now && now - state.lastFailureAt >= policy.forgetAfterMs;
  return forget ? { ...EMPTY_THROTTLE, reservations } : { ...state, reservations };
}

export function beginAttempt(state: ThrottleState, policy: ThrottlePolicy, now: number, id: string): { state: ThrottleState; decision: AttemptDecision } {
  const current = tidy(state, policy, now);
  if (current.lockedUntil > now) return { state: current, decision: { allowed: false, retryAfterMs: current.lockedUntil - now } };
  // In flight counts as failed until it reports: at most the remaining allowance
  // runs at once (one at a time once the allowance is spent and the lock has passed).
  const allowance = Math.max(policy.maxFailures - current.failures, 1);
  if (current.reservations.length >= allowance) return { state: current, decision: { allowed: false, retryAfterMs: 1000 } };
  return {
    state: { ...current, reservations: [...current.reservations, { id, expiresAt: now + RESERVATION_MS }] },
    decision: { allowed: true },
  };
}

export function finishAttempt(state: ThrottleState, policy: ThrottlePolicy, now: number, id: string, outcome: AttemptOutcome): ThrottleState {
  const current = { ...state, reservations: state.reservations.filter((r) => r.id !== id) };
  if (outcome === 'cancelled') return current;
  if (outcome === 'success') return policy.resetOnSuccess ? { ...EMPTY_THROTTLE, reservations: current.reservations } : current;
  const failures = current.failures + 1;
  const lockedUntil = failures >= policy.maxFailures
    ? now + Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(failures - policy.maxFailures, 20))
    : current.lockedUntil;
  return { ...current, failures, lockedUntil, lastFailureAt: now };
}
