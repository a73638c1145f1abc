/**
 * The rate-limit decision (docs/rate-limits.md#leases), pure so every backend and every test
 * shares it: fixed windows aligned to the epoch, and quota handed out as
 * leases of at most 5% of the limit (at least 1).
 *
 * A bucket's Durable Object keeps one `BucketState` and calls `grantLease`
 * for every lease request; an isolate spends the units it was granted
 * locally (see `lease-cache.ts`). The DO never grants more than `limit`
 * units in a window, so however many isolates hold leases, no more than the
 * limit passes; an isolate's unspent units die with the window.
 *
 * All times here are Unix seconds except the `nowMs` inputs.
 */

export interface RateLimitRule {
  /** Requests allowed per window. */
  limit: number;
  windowSeconds: number;
}

/** What a bucket's Durable Object stores. */
export interface BucketState {
  windowStart: number;
  /** First second of the next window: `X-RateLimit-Reset`. */
  windowEnd: number;
  /** Units leased out in this window, over all isolates. Never above the limit. */
  granted: number;
}

/** One answer of the Durable Object to a lease request. */
export interface LeaseGrant {
  /** Units granted by this call; 0 when the window's quota is gone. */
  units: number;
  /** Units leased out in this window so far, this grant included. */
  granted: number;
  limit: number;
  windowStart: number;
  windowEnd: number;
}

/** Largest slice one lease may carry: 5% of the limit, at least 1 (docs/rate-limits.md#leases). */
export function leaseSize(limit: number): number {
  return Math.max(1, Math.floor(limit / 20));
}

/** The fixed window containing `nowMs`. */
export function windowAt(nowMs: number, windowSeconds: number): { start: number; end: number } {
  const start = Math.floor(nowMs / 1000 / windowSeconds) * windowSeconds;
  return { start, end: start + windowSeconds };
}

/**
 * Grants the next lease of a bucket. A window that has not ended keeps
 * counting even if the clock steps backwards, so a clock glitch can never
 * hand out a fresh window's quota early.
 */
export function grantLease(
  state: BucketState | undefined,
  rule: RateLimitRule,
  nowMs: number,
): { state: BucketState; grant: LeaseGrant; newWindow: boolean } {
  assertRule(rule);
  const current = state !== undefined && nowMs < state.windowEnd * 1000;
  const base: BucketState = current ? state : (() => {
    const { start, end } = windowAt(nowMs, rule.windowSeconds);
    return { windowStart: start, windowEnd: end, granted: 0 };
  })();
  const units = Math.max(0, Math.min(leaseSize(rule.limit), rule.limit - base.granted));
  const next: BucketState = { ...base, granted: base.granted + units };
  return {
    state: next,
    grant: { units, granted: next.granted, limit: rule.limit, windowStart: next.windowStart, windowEnd: next.windowEnd },
    newWindow: !current,
  };
}

function assertRule(rule: RateLimitRule): void {
  if (!Number.isSafeInteger(rule.limit) || rule.limit < 1) throw new RangeError('rate limit: limit must be a positive integer');
  if (!Number.isSafeInteger(rule.windowSeconds) || rule.windowSeconds < 1) {
    throw new RangeError('rate limit: windowSeconds must be a positive integer');
  }
}
