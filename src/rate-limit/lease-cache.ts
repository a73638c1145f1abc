/**
 * The isolate's side of a lease (docs/rate-limits.md#leases): units granted by a bucket's
 * Durable Object are spent here, locally and synchronously. JavaScript runs
 * one turn at a time in an isolate, so spending a unit is exact without a
 * lock; only an empty lease costs a remote call, and concurrent requests that
 * find it empty share one refill instead of each calling the DO.
 *
 * With one isolate the answers are exact: the DO's running total minus the
 * units still unspent here is the number of requests admitted, so
 * `remaining = limit - granted + unspent` counts down by one per request.
 * With several isolates each sees its own unspent units plus what the DO has
 * not handed out yet; units leased to other isolates and never spent are
 * lost with the window, so a client may be refused slightly before its limit,
 * never after it.
 */
import type { LeaseGrant, RateLimitRule } from './policy';

export interface Admission {
  allowed: boolean;
  limit: number;
  /** Requests still admitted in this window after this one (0 when refused). */
  remaining: number;
  /** Unix seconds when the window ends: `X-RateLimit-Reset`. */
  resetAt: number;
  /** Seconds until the window ends, at least 1: `Retry-After` of a 429. */
  retryAfter: number;
}

interface Lease {
  windowStart: number;
  windowEnd: number;
  limit: number;
  /** The DO's running total for the window at its last grant. */
  granted: number;
  /** Units of this isolate not spent yet. */
  unspent: number;
}

/** Buckets remembered per isolate before expired leases are swept (memory bound under IP spraying). */
const MAX_BUCKETS = 10_000;

export class LeaseCache {
  readonly #leases = new Map<string, Lease>();
  readonly #refills = new Map<string, Promise<Admission>>();
  readonly #maxBuckets: number;

  constructor(options: { maxBuckets?: number } = {}) {
    this.#maxBuckets = options.maxBuckets ?? MAX_BUCKETS;
    if (!Number.isSafeInteger(this.#maxBuckets) || this.#maxBuckets < 1) throw new RangeError('maxBuckets must be a positive integer');
  }

  /**
   * Admits or refuses one request of `bucket`. `refill` asks the bucket's DO
   * for a lease; it runs at most once per call of `take` (at most one remote
   * call per request), and only when this isolate's lease is spent and the DO
   * may still have quota. A failing refill rejects every request waiting on
   * it: the caller fails closed.
   */
  async take(bucket: string, rule: RateLimitRule, clock: () => number, refill: () => Promise<LeaseGrant>): Promise<Admission> {
    for (;;) {
      const local = this.#spend(bucket, rule, clock());
      if (local) return local;
      const inflight = this.#refills.get(bucket);
      if (inflight) {
        // Another request is already asking the DO: wait for its answer and
        // try the local lease again (it may have been emptied by then).
        await inflight;
        continue;
      }
      const refilling = refill().then((grant) => {
        this.#store(bucket, grant);
        // The request that paid for the call spends first, in the same turn
        // as the grant lands, so it never has to call the DO a second time.
        // If its window ended while the call was in flight, the unit it was
        // granted still counts in that window, so it passes all the same.
        const now = clock();
        return this.#spend(bucket, rule, now) ??
          (grant.units > 0 ? admitted(grant.limit, grant.limit - grant.granted, grant.windowEnd, now) : refused(grant.limit, grant.windowEnd, now));
      });
      this.#refills.set(bucket, refilling);
      try {
        return await refilling;
      } finally {
        this.#refills.delete(bucket);
      }
    }
  }

  /** Number of buckets with a lease in this isolate (tests and sweeping). */
  get size(): number {
    return this.#leases.size;
  }

  /** Spends one unit locally; null when only the DO can answer. */
  #spend(bucket: string, rule: RateLimitRule, nowMs: number): Admission | null {
    const lease = this.#leases.get(bucket);
    if (!lease) return null;
    // A lease belongs to one window: once it ends, the unspent units are void.
    if (nowMs >= lease.windowEnd * 1000 || lease.limit !== rule.limit) {
      this.#leases.delete(bucket);
      return null;
    }
    if (lease.unspent > 0) {
      lease.unspent -= 1;
      return admitted(lease.limit, lease.limit - lease.granted + lease.unspent, lease.windowEnd, nowMs);
    }
    // The DO has handed out the whole window: refuse without asking it again.
    if (lease.granted >= lease.limit) return refused(lease.limit, lease.windowEnd, nowMs);
    return null;
  }

  #store(bucket: string, grant: LeaseGrant): void {
    const lease = this.#leases.get(bucket);
    if (lease && lease.windowStart === grant.windowStart) {
      lease.unspent += grant.units;
      lease.granted = Math.max(lease.granted, grant.granted);
      return;
    }
    if (lease && lease.windowStart > grant.windowStart) return;
    if (!lease && this.#leases.size >= this.#maxBuckets) this.#sweep(grant.windowStart);
    this.#leases.set(bucket, {
      windowStart: grant.windowStart,
      windowEnd: grant.windowEnd,
      limit: grant.limit,
      granted: grant.granted,
      unspent: grant.units,
    });
  }

  /**
   * Drops leases of ended windows, then the oldest ones if still full. Losing
   * a live lease only forfeits its unspent units: fewer requests pass, never more.
   */
  #sweep(nowSeconds: number): void {
    for (const [bucket, lease] of this.#leases) if (lease.windowEnd <= nowSeconds) this.#leases.delete(bucket);
    for (const bucket of this.#leases.keys()) {
      if (this.#leases.size < this.#maxBuckets) break;
      this.#leases.delete(bucket);
    }
  }
}

function admitted(limit: number, remaining: number, windowEnd: number, nowMs: number): Admission {
  return { allowed: true, limit, remaining: Math.max(0, remaining), resetAt: windowEnd, retryAfter: secondsUntil(windowEnd, nowMs) };
}

function refused(limit: number, windowEnd: number, nowMs: number): Admission {
  return { allowed: false, limit, remaining: 0, resetAt: windowEnd, retryAfter: secondsUntil(windowEnd, nowMs) };
}

function secondsUntil(windowEnd: number, nowMs: number): number {
  return Math.max(1, Math.ceil(windowEnd - nowMs / 1000));
}
